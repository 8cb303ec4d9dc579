/** Property tests for dwell (once per stay, at since + N, only when a fix shows it) and proximity hysteresis. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { metresPerDegreeLat, metresPerDegreeLon } from '../../src/core/geo.js';
import type { Position } from '../../src/core/types.js';
import { pairKey, proximityChanges, type ProximityRule } from '../../src/services/geofence/proximity.js';
import { TenantPositions } from '../../src/services/geofence/positions.js';
import { geofenceRig } from '../support/geofence-rig.js';

const BERN = { lon: 7.4474, lat: 46.948 };
const MIN = 60_000;
const at = (north: number, east = 0) => ({ lon: BERN.lon + east / metresPerDegreeLon(BERN.lat), lat: BERN.lat + north / metresPerDegreeLat(BERN.lat) });

void describe('dwell (property)', () => {
  void it('fires at most once per stay, at its start plus the dwell time, exactly when a fix of the stay reaches that time', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ inside: fc.boolean(), gap: fc.integer({ min: 1, max: 9 * MIN }) }), { minLength: 1, maxLength: 40 }), async (fixes) => {
        const rig = await geofenceRig();
        try {
          await rig.geofence.createFence(rig.ctx, { name: 'f', geometry: { type: 'Point', coordinates: [BERN.lon, BERN.lat] }, radius: 200, dwellMinutes: 5 });
          let time = Date.UTC(2024, 0, 1);
          const sent: Array<{ time: number; inside: boolean }> = [];
          for (const f of fixes) {
            time += f.gap;
            sent.push({ time, inside: f.inside });
            await rig.send({ deviceId: 'd', ...at(f.inside ? 0 : 900), time });
          }
          // The expected events from the fixes alone.
          const expected: string[] = [];
          let since: number | null = null;
          let dwelled = false;
          for (const s of sent) {
            if (since !== null && !dwelled && s.time >= since + 5 * MIN) {
              expected.push(`dwell@${since + 5 * MIN}`);
              dwelled = true;
            }
            if (s.inside && since === null) {
              expected.push(`enter@${s.time}`);
              since = s.time;
              dwelled = false;
            } else if (!s.inside && since !== null) {
              expected.push(`exit@${s.time}`);
              since = null;
            }
          }
          const got = (await rig.geofence.listEvents(rig.ctx, { limit: 1000 })).reverse().map((e) => `${e.type}@${e.time}`);
          assert.deepEqual(got, expected);
        } finally {
          await rig.close();
        }
      }),
      { seed: 4711, numRuns: 40 },
    );
  });
});

void describe('proximity hysteresis (property)', () => {
  const rule: ProximityRule = {
    id: 'prx', tenantId: 't', name: 'near', deviceId: 'a', otherDeviceId: 'b', otherGroupId: null, distance: 100,
    hysteresis: { exitMargin: 10, useAccuracy: true }, enabled: true, createdAt: 0,
  };
  const fix = fc.record({ accuracy: fc.double({ min: 0, max: 40, noNaN: true }), noise: fc.double({ min: 0, max: 1, noNaN: true }), dir: fc.double({ min: 0, max: 360, noNaN: true }) });

  void it('gives at most one within and no apart when the true distance crosses the threshold once, with honest noisy fixes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fix, { minLength: 2, maxLength: 60 }), fc.boolean(), fc.record({ accuracy: fc.double({ min: 0, max: 20, noNaN: true }), noise: fc.double({ min: 0, max: 1, noNaN: true }), dir: fc.double({ min: 0, max: 360, noNaN: true }) }), async (fixes, approaching, otherFix) => {
        const within = new Set<string>(approaching ? [] : [pairKey('prx', 'a', 'b')]);
        const b = at(otherFix.noise * otherFix.accuracy * Math.cos((otherFix.dir * Math.PI) / 180), otherFix.noise * otherFix.accuracy * Math.sin((otherFix.dir * Math.PI) / 180));
        const positions = new TenantPositions();
        positions.set('b', { time: 0, lon: b.lon, lat: b.lat, accuracy: otherFix.accuracy });
        let withins = 0;
        let aparts = 0;
        for (const [i, f] of fixes.entries()) {
          const trueDistance = approaching ? 250 - (200 * i) / (fixes.length - 1) : 50 + (200 * i) / (fixes.length - 1);
          const r = f.noise * f.accuracy;
          const p = { ...at(trueDistance + r * Math.cos((f.dir * Math.PI) / 180), r * Math.sin((f.dir * Math.PI) / 180)), tenantId: 't', deviceId: 'a', time: i * 1000, accuracy: f.accuracy, receivedAt: 0, late: false } as Position;
          for (const c of await proximityChanges(p, [rule], within, positions, async () => new Set())) {
            if (c.type === 'within') {
              withins++;
              within.add(pairKey('prx', 'a', 'b'));
            } else {
              aparts++;
              within.delete(pairKey('prx', 'a', 'b'));
            }
          }
        }
        return approaching ? withins <= 1 && aparts === 0 : aparts <= 1 && withins === 0;
      }),
      { seed: 99, numRuns: 400 },
    );
  });
});
