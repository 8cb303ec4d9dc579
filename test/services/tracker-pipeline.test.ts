/** The tracker's check stages and status logic, fix by fix. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { check, type Previous } from '../../src/services/tracker/pipeline.js';
import { defaultSettings, mergeSettings } from '../../src/services/tracker/settings.js';
import { applyFix, emptyStatus, settleConnection, viewStatus } from '../../src/services/tracker/status.js';
import { AppError } from '../../src/core/errors.js';

const now = 1_764_584_100_000;
const at = (lon: number, lat: number, time: number, extra: Record<string, unknown> = {}) => ({ lon, lat, time, ...extra });
const prev = (p: Partial<Previous> = {}): Previous => ({ time: now - 10_000, lon: 13.4, lat: 52.5, storedTime: now - 10_000, moving: false, ...p });
// 0.001° of latitude ≈ 111 m
describe('tracker pipeline', () => {
  it('accepts a plausible fix', () => {
    assert.equal(check({ fix: at(13.4, 52.5005, now, { accuracy: 8 }), receivedAt: now, previous: prev() }, defaultSettings), undefined);
  });

  it('rejects NaN and out-of-range values, naming the field', () => {
    assert.equal(check({ fix: at(Number.NaN, 52.5, now), receivedAt: now, previous: undefined }, defaultSettings)?.field, 'lon');
    assert.equal(check({ fix: at(13.4, 52.5, now, { battery: 101 }), receivedAt: now, previous: undefined }, defaultSettings)?.field, 'battery');
    assert.equal(check({ fix: at(13.4, 52.5, now, { heading: 360 }), receivedAt: now, previous: undefined }, defaultSettings)?.field, 'heading');
    const future = check({ fix: at(13.4, 52.5, now + 3600_000), receivedAt: now, previous: undefined }, defaultSettings);
    assert.equal(future?.status, 'rejected');
    assert.match(future?.reason ?? '', /future/);
    assert.match(check({ fix: at(13.4, 52.5, now - 8 * 86_400_000), receivedAt: now, previous: undefined }, defaultSettings)?.reason ?? '', /older than 7 days/);
  });

  it('filters a fix less accurate than the tenant allows, and says so', () => {
    const result = check({ fix: at(13.4, 52.5, now, { accuracy: 1500 }), receivedAt: now, previous: undefined }, defaultSettings);
    assert.deepEqual(result, { status: 'filtered', filter: 'accuracy', reason: "accuracy 1500 m is worse than the tenant's limit of 1000 m" });
  });

  it('filters a jump no vehicle could make, allowing for the fix accuracy', () => {
    // 11 km in 10 s
    assert.equal(check({ fix: at(13.4, 52.6, now), receivedAt: now, previous: prev() }, defaultSettings)?.filter, 'speed');
    // 1.1 km in 10 s is 110 m/s, but a fix with 500 m accuracy may be off by that much: 60 m/s allowed
    assert.equal(check({ fix: at(13.4, 52.51, now, { accuracy: 500 }), receivedAt: now, previous: prev({ moving: true }) }, defaultSettings), undefined);
    assert.equal(check({ fix: at(13.4, 52.6, now), receivedAt: now, previous: prev() }, { ...defaultSettings, maxSpeed: 0 }), undefined, 'off');
  });

  it('filters stationary jitter but keeps one fix per keep-alive period and every fix of a moving device', () => {
    const jittery = at(13.40003, 52.50003, now, { accuracy: 4 });
    assert.equal(check({ fix: jittery, receivedAt: now, previous: prev() }, defaultSettings)?.filter, 'jitter');
    assert.equal(check({ fix: jittery, receivedAt: now, previous: prev({ moving: true }) }, defaultSettings), undefined);
    assert.equal(check({ fix: jittery, receivedAt: now, previous: prev({ storedTime: now - 301_000 }) }, defaultSettings), undefined);
    assert.equal(check({ fix: at(13.4, 52.5003, now, { accuracy: 4 }), receivedAt: now, previous: prev() }, defaultSettings), undefined, '33 m away is not jitter');
  });

  it('refuses unknown or out-of-range settings naming the setting, and changes nothing', () => {
    assert.throws(() => mergeSettings(defaultSettings, { maxSpeed: -1 }), (e: AppError) => e.errors[0]!.field === 'maxSpeed');
    assert.throws(() => mergeSettings(defaultSettings, { speedLimit: 3 }), (e: AppError) => e.errors[0]!.field === 'speedLimit');
    assert.equal(mergeSettings(defaultSettings, { maxSpeed: 50 }).maxSpeed, 50);
    assert.equal(defaultSettings.maxSpeed, 100);
  });
});

describe('device status', () => {
  it('detects a stop after staying within the radius for the minimum time, and moving when it leaves', () => {
    const s = emptyStatus('t', 'd');
    const settings = { ...defaultSettings, stopRadius: 50, stopMinutes: 3 };
    assert.equal(applyFix(s, at(13.4, 52.5, now), now, settings), false);
    assert.equal(s.motion, 'unknown');
    applyFix(s, at(13.40005, 52.5, now + 60_000), now, settings);
    assert.equal(s.motion, 'unknown');
    assert.equal(applyFix(s, at(13.4001, 52.5, now + 180_000), now, settings), true);
    assert.equal(s.motion, 'stopped');
    assert.equal(s.motionSince, now, 'stopped since it arrived');
    assert.equal(applyFix(s, at(13.41, 52.5, now + 240_000), now, settings), true);
    assert.equal(s.motion, 'moving');
  });

  it('is online while its last sign of life (a report, or a connection opened) is fresh, offline after the threshold even when connected, unknown before any sign', () => {
    const s = emptyStatus('t', 'd');
    assert.equal(viewStatus(s, now, defaultSettings).connection, 'unknown');
    applyFix(s, at(13.4, 52.5, now, { battery: 42, charging: true }), now, defaultSettings);
    const fresh = viewStatus(s, now + 1000, defaultSettings);
    assert.equal(fresh.connection, 'online');
    assert.equal(fresh.battery, 42);
    assert.equal(fresh.charging, true);
    assert.equal(viewStatus(s, now + 601_000, defaultSettings).connection, 'offline');
    s.connected = true;
    s.connectionAt = now + 300_000;
    assert.equal(viewStatus(s, now + 601_000, defaultSettings).connection, 'online', 'a connection opened 5 minutes ago is a sign of life');
    assert.equal(viewStatus(s, now + 901_000, defaultSettings).connection, 'offline', 'a connection that carries no reports does not keep it online');
  });

  it('goes offline once when the reports stop and back online with the next one, keeping the deadline', () => {
    const s = emptyStatus('t', 'd');
    assert.equal(settleConnection(s, now, defaultSettings), undefined, 'never seen: nothing to settle');
    assert.equal(s.dueAt, null);
    s.lastReceivedAt = now;
    assert.equal(settleConnection(s, now, defaultSettings), undefined, 'first report: online, nothing to announce');
    assert.equal(s.dueAt, now + 600_000);
    assert.equal(settleConnection(s, now + 599_999, defaultSettings), undefined);
    assert.equal(settleConnection(s, now + 700_000, defaultSettings, now + 600_000), 'offline');
    assert.equal(s.offlineSince, now + 600_000);
    assert.equal(s.dueAt, null, 'offline: no longer due');
    assert.equal(settleConnection(s, now + 800_000, defaultSettings), undefined, 'offline once');
    assert.equal(viewStatus(s, now + 800_000, defaultSettings).offlineSince, now + 600_000);
    s.lastReceivedAt = now + 900_000;
    assert.equal(settleConnection(s, now + 900_000, defaultSettings), 'online');
    assert.equal(s.offlineSince, null);
    assert.equal(s.dueAt, now + 1_500_000);
    s.connected = false;
    s.connectionAt = now + 950_000;
    assert.equal(settleConnection(s, now + 950_000, defaultSettings, now + 950_000), undefined, 'a disconnect with a fresh report stays online until the deadline');
  });
});
