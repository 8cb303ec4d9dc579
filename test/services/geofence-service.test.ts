/**
 * The geofence service's evaluation: dwell (by fix and by timer), schedules (with DST), appliesTo with
 * group membership, enabled/disabled, proximity, reasons, and fix-time order for late and batched positions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { metresPerDegreeLat, metresPerDegreeLon } from '../../src/core/geo.js';
import { isOpen, localTime, parseSchedule } from '../../src/services/geofence/schedule.js';
import { geofenceRig, type Rig } from '../support/geofence-rig.js';

const BERN = { lon: 7.4474, lat: 46.948 };
const MIN = 60_000;
/** A point `north` and `east` metres from Bern's centre. */
const at = (north: number, east = 0) => ({ lon: BERN.lon + east / metresPerDegreeLon(BERN.lat), lat: BERN.lat + north / metresPerDegreeLat(BERN.lat) });
const circle = (extra: Record<string, unknown> = {}) => ({ name: 'Bundesplatz', geometry: { type: 'Point', coordinates: [BERN.lon, BERN.lat] }, radius: 200, ...extra });

async function withRig(test: (rig: Rig) => Promise<void>, options = {}): Promise<void> {
  const rig = await geofenceRig(options);
  try {
    await test(rig);
  } finally {
    await rig.close();
  }
}

const types = async (rig: Rig, q: Record<string, string> = {}) => (await rig.geofence.listEvents(rig.ctx, { ...q, limit: 1000 })).reverse().map((e) => `${e.type}@${e.time}`);

void describe('dwell', () => {
  void it('fires once per stay at the moment the stay reached the dwell time, shown by a later fix', () =>
    withRig(async (rig) => {
      const fence = await rig.geofence.createFence(rig.ctx, circle({ dwellMinutes: 10 }));
      const t0 = Date.UTC(2024, 4, 6, 9);
      await rig.send({ deviceId: 'd1', ...at(500), time: t0 - MIN, accuracy: 5 }, { deviceId: 'd1', ...at(0), time: t0, accuracy: 5 });
      await rig.send({ deviceId: 'd1', ...at(10), time: t0 + 5 * MIN, accuracy: 5 });
      assert.deepEqual(await types(rig), [`enter@${t0}`]);
      await rig.send({ deviceId: 'd1', ...at(20), time: t0 + 12 * MIN, accuracy: 5 }, { deviceId: 'd1', ...at(30), time: t0 + 30 * MIN, accuracy: 5 });
      const events = await rig.geofence.listEvents(rig.ctx, { type: 'dwell' });
      assert.equal(events.length, 1, 'once per stay');
      assert.equal(events[0]!.time, t0 + 10 * MIN);
      assert.deepEqual({ since: events[0]!.reason.since, dwellMinutes: events[0]!.reason.dwellMinutes, trigger: events[0]!.reason.trigger }, { since: t0, dwellMinutes: 10, trigger: 'fix' });
      assert.equal((await rig.geofence.presenceIn(rig.ctx, fence.id))[0]!.dwelled, true);
      // Leave and come back: a new stay, a new dwell.
      await rig.send({ deviceId: 'd1', ...at(600), time: t0 + 40 * MIN, accuracy: 5 }, { deviceId: 'd1', ...at(0), time: t0 + 50 * MIN, accuracy: 5 }, { deviceId: 'd1', ...at(0), time: t0 + 61 * MIN, accuracy: 5 });
      assert.deepEqual(await types(rig), [`enter@${t0}`, `dwell@${t0 + 10 * MIN}`, `exit@${t0 + 40 * MIN}`, `enter@${t0 + 50 * MIN}`, `dwell@${t0 + 60 * MIN}`]);
    }));

  void it('fires the dwell before the exit when the first fix after the dwell time is already outside', () =>
    withRig(async (rig) => {
      await rig.geofence.createFence(rig.ctx, circle({ dwellMinutes: 10 }));
      const t0 = Date.UTC(2024, 4, 6, 9);
      await rig.send({ deviceId: 'd1', ...at(0), time: t0, accuracy: 5 }, { deviceId: 'd1', ...at(900), time: t0 + 30 * MIN, accuracy: 5 });
      assert.deepEqual(await types(rig), [`enter@${t0}`, `dwell@${t0 + 10 * MIN}`, `exit@${t0 + 30 * MIN}`]);
      assert.deepEqual(rig.events.map((e) => e.type), ['enter', 'dwell', 'exit'], 'published in the same order');
    }));

  void it('fires by the timer when no fix comes, and then treats older fixes as late', () =>
    withRig(async (rig) => {
      await rig.geofence.createFence(rig.ctx, circle({ dwellMinutes: 10 }));
      const now = Date.now();
      const t0 = now - 15 * MIN;
      await rig.send({ deviceId: 'd1', ...at(0), time: t0, accuracy: 5 });
      assert.equal(await rig.geofence.dwellTick(t0 + 10 * MIN + 30_000), 0, 'not before the grace (60 s) has passed');
      assert.equal(await rig.geofence.dwellTick(now), 1);
      assert.equal(await rig.geofence.dwellTick(now), 0, 'once');
      const [dwell] = await rig.geofence.listEvents(rig.ctx, { type: 'dwell' });
      assert.equal(dwell!.time, t0 + 10 * MIN);
      assert.equal(dwell!.reason.trigger, 'timer');
      // A batch uploaded late, from before the dwell moment, that would have shown an exit: late, fires nothing.
      await rig.send({ deviceId: 'd1', ...at(900), time: t0 + 5 * MIN, accuracy: 5 });
      assert.deepEqual(await types(rig), [`enter@${t0}`, `dwell@${t0 + 10 * MIN}`]);
      await rig.send({ deviceId: 'd1', ...at(900), time: t0 + 12 * MIN, accuracy: 5 });
      assert.deepEqual(await types(rig), [`enter@${t0}`, `dwell@${t0 + 10 * MIN}`, `exit@${t0 + 12 * MIN}`]);
    }));
});

void describe('schedules', () => {
  const weekdays = { timeZone: 'Europe/Berlin', windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '18:00' }] };

  void it('follows the zone across daylight-saving changes', () => {
    const sunday = parseSchedule({ timeZone: 'Europe/Berlin', windows: [{ days: ['sun'], from: '08:00', to: '09:00' }] }, 'schedule');
    assert.equal(isOpen(sunday, Date.parse('2024-03-24T07:30:00Z')), true, '08:30 CET, a week before the change');
    assert.equal(isOpen(sunday, Date.parse('2024-03-24T06:30:00Z')), false, '07:30 CET');
    assert.equal(isOpen(sunday, Date.parse('2024-03-31T06:30:00Z')), true, '08:30 CEST, the day clocks went forward');
    assert.equal(isOpen(sunday, Date.parse('2024-03-31T07:30:00Z')), false, '09:30 CEST');
    assert.equal(isOpen(sunday, Date.parse('2024-10-27T07:30:00Z')), true, '08:30 CET, the day clocks went back');
    assert.deepEqual(localTime('Europe/Berlin', Date.parse('2024-03-31T01:00:00Z')), { start: Date.parse('2024-03-31T01:00:00Z'), day: 6, minute: 180 }, '02:00 UTC+1 does not exist: 03:00 CEST');
    const night = parseSchedule({ timeZone: 'America/New_York', windows: [{ days: ['fri'], from: '22:00', to: '06:00' }] }, 'schedule');
    assert.equal(isOpen(night, Date.parse('2024-05-11T04:00:00Z')), true, 'Saturday 00:00 in New York, still Friday night');
    assert.equal(isOpen(night, Date.parse('2024-05-11T11:00:00Z')), false, 'Saturday 07:00');
    assert.equal(isOpen(night, Date.parse('2024-05-10T01:00:00Z')), false, 'Thursday 21:00');
  });

  void it('refuses an unknown zone, a bad day or time, naming the field', () => {
    assert.throws(() => parseSchedule({ timeZone: 'Mars/Olympus', windows: [{ days: ['mon'], from: '08:00', to: '09:00' }] }, 'schedule'), /schedule\.timeZone: expected an IANA time zone/);
    assert.throws(() => parseSchedule({ timeZone: 'UTC', windows: [{ days: ['monday'], from: '08:00', to: '09:00' }] }, 'schedule'), /schedule\.windows\[0\]\.days/);
    assert.throws(() => parseSchedule({ timeZone: 'UTC', windows: [{ days: ['mon'], from: '8:00', to: '09:00' }] }, 'schedule'), /schedule\.windows\[0\]\.from: expected a local time "HH:MM"/);
  });

  void it('fires nothing outside the schedule and keeps the state frozen until it opens again', () =>
    withRig(async (rig) => {
      const fence = await rig.geofence.createFence(rig.ctx, circle({ schedule: weekdays }));
      const saturday = Date.parse('2024-05-11T10:00:00Z');
      const monday9 = Date.parse('2024-05-13T07:00:00Z'); // 09:00 CEST
      const monday1830 = Date.parse('2024-05-13T16:30:00Z');
      const tuesday810 = Date.parse('2024-05-14T06:10:00Z');
      await rig.send({ deviceId: 'd1', ...at(0), time: saturday, accuracy: 5 });
      assert.deepEqual(await types(rig), [], 'closed on Saturday');
      await rig.send({ deviceId: 'd1', ...at(0), time: monday9, accuracy: 5 });
      assert.deepEqual(await types(rig), [`enter@${monday9}`]);
      await rig.send({ deviceId: 'd1', ...at(900), time: monday1830, accuracy: 5 });
      assert.deepEqual(await types(rig), [`enter@${monday9}`], 'no exit after 18:00');
      assert.deepEqual(await rig.geofence.insideNow(rig.ctx, fence.id), ['d1'], 'no synthetic exit: the state is frozen');
      await rig.send({ deviceId: 'd1', ...at(900), time: tuesday810, accuracy: 5 });
      assert.deepEqual(await types(rig), [`enter@${monday9}`, `exit@${tuesday810}`], 'settled by the first fix in the next window');
    }));
});

void describe('appliesTo, enabled', () => {
  void it('fires only for the devices and groups named, and follows group changes', () =>
    withRig(async (rig) => {
      const fence = await rig.geofence.createFence(rig.ctx, circle({ appliesTo: { groupIds: ['grp_guards'], deviceIds: ['d3'] } }));
      rig.groups.set('d1', ['grp_guards']);
      const t = Date.UTC(2024, 4, 6, 9);
      await rig.send({ deviceId: 'd1', ...at(0), time: t }, { deviceId: 'd2', ...at(0), time: t }, { deviceId: 'd3', ...at(0), time: t });
      assert.deepEqual(await rig.geofence.insideNow(rig.ctx, fence.id), ['d1', 'd3']);
      await rig.setGroups('d2', ['grp_guards']);
      await rig.send({ deviceId: 'd2', ...at(5), time: t + MIN });
      assert.deepEqual(await rig.geofence.insideNow(rig.ctx, fence.id), ['d1', 'd2', 'd3'], 'the cache was dropped on client.changed');
    }));

  void it('fires nothing for a disabled fence and nothing is found containing a point', () =>
    withRig(async (rig) => {
      const fence = await rig.geofence.createFence(rig.ctx, circle({ enabled: false }));
      await rig.send({ deviceId: 'd1', ...at(0), time: Date.UTC(2024, 4, 6, 9) });
      assert.deepEqual(await types(rig), []);
      assert.deepEqual(await rig.geofence.containing(rig.ctx, BERN.lon, BERN.lat), []);
      await rig.geofence.updateFence(rig.ctx, fence.id, { enabled: true });
      assert.deepEqual((await rig.geofence.containing(rig.ctx, BERN.lon, BERN.lat)).map((f) => f.id), [fence.id]);
      await rig.send({ deviceId: 'd1', ...at(1), time: Date.UTC(2024, 4, 6, 9, 1) });
      assert.deepEqual((await types(rig)).map((e) => e.split('@')[0]), ['enter']);
    }));

  void it('carries why an event fired: distance, accuracy, previous state, exit margin', () =>
    withRig(async (rig) => {
      await rig.geofence.createFence(rig.ctx, circle({ hysteresis: { exitMargin: 25 } }));
      const t = Date.UTC(2024, 4, 6, 9);
      await rig.send({ deviceId: 'd1', ...at(150), time: t, accuracy: 20 }, { deviceId: 'd1', ...at(230), time: t + MIN, accuracy: 10 }, { deviceId: 'd1', ...at(240), time: t + 2 * MIN, accuracy: 10 });
      const [exit, enter] = await rig.geofence.listEvents(rig.ctx, {});
      assert.equal(enter!.type, 'enter');
      assert.deepEqual({ ...enter!.reason, distance: Math.round(enter!.reason.distance) }, { distance: -50, accuracy: 20, previous: 'outside', exitMargin: 25 });
      assert.equal(exit!.type, 'exit');
      assert.equal(exit!.time, t + 2 * MIN, '30 m out stays inside (< 10 + 25), 40 m out exits');
      assert.deepEqual({ ...exit!.reason, distance: Math.round(exit!.reason.distance) }, { distance: 40, accuracy: 10, previous: 'inside', exitMargin: 25 });
    }));
});

void describe('proximity', () => {
  void it('fires within and apart between two devices with hysteresis, and for a device and a group', () =>
    withRig(async (rig) => {
      const rule = await rig.geofence.createProximityRule(rig.ctx, { name: 'buddy', deviceId: 'a', otherDeviceId: 'b', distance: 100 });
      const groupRule = await rig.geofence.createProximityRule(rig.ctx, { name: 'near medics', deviceId: 'a', otherGroupId: 'grp_medics', distance: 50, hysteresis: { exitMargin: 0, useAccuracy: false } });
      rig.groups.set('m1', ['grp_medics']);
      const t = Date.UTC(2024, 4, 6, 9);
      await rig.send({ deviceId: 'b', ...at(0), time: t, accuracy: 5 }, { deviceId: 'm1', ...at(0, 500), time: t, accuracy: 5 });
      await rig.send({ deviceId: 'a', ...at(300), time: t + 1000, accuracy: 5 });
      await rig.send({ deviceId: 'a', ...at(95), time: t + 2000, accuracy: 5 }); // 95 + 10 > 100: straddles
      await rig.send({ deviceId: 'a', ...at(85), time: t + 3000, accuracy: 5 });
      await rig.send({ deviceId: 'a', ...at(115), time: t + 4000, accuracy: 5 }); // < 100 + 10 + 10
      await rig.send({ deviceId: 'a', ...at(121, 0), time: t + 5000, accuracy: 5 });
      const events = (await rig.geofence.listEvents(rig.ctx, { fenceId: rule.id })).reverse();
      assert.deepEqual(events.map((e) => [e.type, e.time, e.otherDeviceId]), [['within', t + 3000, 'b'], ['apart', t + 5000, 'b']]);
      assert.deepEqual({ previous: events[0]!.reason.previous, accuracy: events[0]!.reason.accuracy, threshold: events[0]!.reason.threshold }, { previous: 'apart', accuracy: 10, threshold: 100 });
      // The medic moves to the device: the medic's own fix decides it.
      await rig.send({ deviceId: 'm1', ...at(121, 40), time: t + 6000 });
      const g = await rig.geofence.listEvents(rig.ctx, { fenceId: groupRule.id });
      assert.deepEqual(g.map((e) => [e.type, e.deviceId, e.otherDeviceId]), [['within', 'm1', 'a']]);
    }));
});

void describe('order', () => {
  void it('evaluates in fix-time order and fires nothing for a late fix that changes nothing', () =>
    withRig(async (rig) => {
      await rig.geofence.createFence(rig.ctx, circle());
      const t = Date.UTC(2024, 4, 6, 9);
      await rig.send({ deviceId: 'd1', ...at(500), time: t }, { deviceId: 'd1', ...at(0), time: t + MIN }, { deviceId: 'd1', ...at(500), time: t + 2 * MIN });
      await rig.send({ deviceId: 'd1', ...at(0), time: t + 90_000 }); // late: between the two last, inside
      await rig.send({ deviceId: 'd1', ...at(0), time: t + MIN }); // redelivered: same events, no new ones
      assert.deepEqual(await types(rig), [`enter@${t + MIN}`, `exit@${t + 2 * MIN}`]);
      const published = rig.events.filter((e) => e.type === 'enter' || e.type === 'exit').map((e) => e.time);
      assert.deepEqual(published, [...published].sort((a, b) => a - b), 'published in fix-time order');
    }));
});
