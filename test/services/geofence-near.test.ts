/**
 * The geofence service's last-positions index (an R-tree per tenant) against a brute-force scan with
 * the same distance: "devices within R of P" and group proximity must find exactly what checking
 * every device finds, also across the antimeridian and near the poles, and after devices move.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { distanceMetres } from '../../src/core/geo.js';
import { mulberry32 } from '../../src/core/random.js';
import type { Position } from '../../src/core/types.js';
import { TenantPositions, type LastPosition } from '../../src/services/geofence/positions.js';
import { pairKey, proximityChanges, type ProximityRule } from '../../src/services/geofence/proximity.js';

/** Places: ordinary, on both sides of the antimeridian, at both poles. */
const CENTRES: [number, number][] = [[13.4, 52.5], [179.95, -16.5], [-179.97, 65.9], [0, 89.99], [120, -89.95], [-70.6, -33.4]];

function scatter(rand: () => number, n: number): Map<string, LastPosition> {
  const out = new Map<string, LastPosition>();
  for (let i = 0; i < n; i++) {
    const [lon, lat] = CENTRES[i % CENTRES.length]!;
    // within about ±0.5° latitude and ±5° longitude of the centre (wide near the poles, where degrees are short)
    let x = lon + (rand() - 0.5) * 10;
    if (x > 180) x -= 360;
    if (x < -180) x += 360;
    const y = Math.max(-90, Math.min(90, lat + (rand() - 0.5)));
    out.set(`d${i}`, { time: i, lon: x, lat: y, accuracy: rand() * 30 });
  }
  return out;
}

function brute(all: Map<string, LastPosition>, lon: number, lat: number, r: number): string[] {
  return [...all].filter(([, p]) => distanceMetres(lon, lat, p.lon, p.lat) <= r).map(([id]) => id).sort();
}

function indexed(index: TenantPositions, lon: number, lat: number, r: number): string[] {
  return [...index.candidates(lon, lat, r)].filter(([, p]) => distanceMetres(lon, lat, p.lon, p.lat) <= r).map(([id]) => id).sort();
}

void describe('last positions index', () => {
  void it('finds exactly the devices within R, across the antimeridian and at the poles, also after they move', () => {
    const rand = mulberry32(7);
    const all = scatter(rand, 3000);
    const index = new TenantPositions();
    for (const [id, p] of all) index.set(id, p);
    let compared = 0;
    let found = 0;
    for (let round = 0; round < 2; round++) {
      for (let q = 0; q < 300; q++) {
        const [lon, lat] = CENTRES[q % CENTRES.length]!;
        const qlon = ((lon + (rand() - 0.5) * 4 + 540) % 360) - 180;
        const qlat = Math.max(-90, Math.min(90, lat + (rand() - 0.5) * 0.6));
        const r = [100, 5_000, 40_000, 250_000][q % 4]!;
        const expected = brute(all, qlon, qlat, r);
        assert.deepEqual(indexed(index, qlon, qlat, r), expected, `query ${q} at [${qlon}, ${qlat}] r=${r}`);
        compared++;
        found += expected.length;
      }
      // every device moves (newer fixes); an older fix is ignored
      for (const [id, p] of scatter(rand, 3000)) {
        const moved = { ...p, time: p.time + 10_000 * (round + 1) };
        all.set(id, moved);
        assert.equal(index.set(id, moved), true);
        assert.equal(index.set(id, { ...moved, time: moved.time - 1, lon: 0, lat: 0 }), false, 'an older fix does not replace a newer one');
      }
    }
    assert.equal(compared, 600);
    assert.ok(found > 2000, `the queries found devices (${found}), so the comparison means something`);
    assert.equal(index.size, 3000);
  });

  void it('group proximity judges the same pairs as checking every device of the group', async () => {
    const rand = mulberry32(11);
    const all = scatter(rand, 600);
    const index = new TenantPositions();
    for (const [id, p] of all) index.set(id, { ...p, time: 0 });
    const inGroup = new Set([...all.keys()].filter((_, i) => i % 3 !== 0));
    const groupsOf = async (id: string) => new Set(inGroup.has(id) ? ['grp'] : []);
    let changes = 0;
    for (const [k, [subjectId, p]] of [...all].slice(0, 60).entries()) {
      const rule: ProximityRule = {
        id: 'prx', tenantId: 't', name: 'near', deviceId: subjectId, otherDeviceId: null, otherGroupId: 'grp', distance: [500, 20_000, 150_000][k % 3]!,
        hysteresis: { exitMargin: 50, useAccuracy: true }, enabled: true, createdAt: 0,
      };
      // half the subjects had some pairs within already: those may go apart
      const within = new Set<string>(k % 2 === 0 ? [...all.keys()].filter((id, i) => i % 7 === 0 && id !== subjectId).map((id) => pairKey('prx', subjectId, id)) : []);
      const fix = { tenantId: 't', deviceId: subjectId, time: 1000, lon: p.lon, lat: p.lat, accuracy: p.accuracy ?? undefined, receivedAt: 0, late: false } as Position;
      const got = await proximityChanges(fix, [rule], within, index, groupsOf);
      // the reference: every other device of the group, judged one by one
      const everyone = new TenantPositions();
      const reference: string[] = [];
      for (const [otherId, other] of all) {
        if (otherId === subjectId || !inGroup.has(otherId)) continue;
        everyone.set(otherId, { ...other, time: 0 });
        const single: ProximityRule = { ...rule, otherDeviceId: otherId, otherGroupId: null };
        for (const c of await proximityChanges(fix, [single], within, everyone, groupsOf)) reference.push(`${c.type}|${c.otherId}`);
      }
      assert.deepEqual(got.map((c) => `${c.type}|${c.otherId}`).sort(), reference.sort(), `subject ${subjectId}`);
      changes += got.length;
    }
    assert.ok(changes > 20, `pairs changed (${changes}), so the comparison means something`);
  });
});
