import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RuleCache } from '../../src/services/notification/rule-cache.js';
import type { Rule } from '../../src/services/notification/rules.js';

const rule = (id: string, on: Rule['on'], fenceId: string | null, enabled = true): Rule => ({
  id, tenantId: 'ten_a', name: id, on, fenceId, target: { deviceIds: ['dev_1'] }, title: 't', body: '', templateId: null, priority: 'high',
  channels: ['app'], enabled, batteryBelow: on === 'low_battery' ? 20 : null, schedule: null, cooldownSeconds: 0, maxPerHour: null, createdAt: 0,
});

/** A store read the test answers by hand, counting the reads. */
function store() {
  const reads: { tenantId: string; answer: (rules: Rule[]) => void; fail: (err: Error) => void }[] = [];
  const load = (tenantId: string) => new Promise<Rule[]>((answer, fail) => reads.push({ tenantId, answer, fail }));
  return { reads, load };
}

describe('the rules cache of a notification process', () => {
  it('answers rules by trigger and fence, leaving out disabled ones, from one read per tenant', async () => {
    const { reads, load } = store();
    const cache = new RuleCache(load, 60_000);
    const first = cache.get('ten_a', 0);
    const second = cache.get('ten_a', 1); // asked while the read is in flight: shares it
    reads[0]!.answer([rule('r1', 'enter', 'fen_1'), rule('r2', 'enter', 'fen_2'), rule('r3', 'enter', 'fen_1', false), rule('r4', 'low_battery', null)]);
    const rules = await first;
    assert.equal(await second, rules);
    assert.equal(reads.length, 1);
    assert.deepEqual(rules.of('enter', 'fen_1').map((r) => r.id), ['r1']);
    assert.deepEqual(rules.of('low_battery').map((r) => r.id), ['r4']);
    assert.deepEqual(rules.of('exit', 'fen_1'), []);
  });

  it('reads the store again after a drop, and after the time to live without one', async () => {
    const { reads, load } = store();
    const cache = new RuleCache(load, 60_000);
    const a = cache.get('ten_a', 0);
    reads[0]!.answer([]);
    await a;
    await cache.get('ten_a', 59_999);
    assert.equal(reads.length, 1, 'fresh: no read');
    cache.drop('ten_a');
    const b = cache.get('ten_a', 59_999);
    reads[1]!.answer([rule('r1', 'enter', 'fen_1')]);
    assert.equal((await b).of('enter', 'fen_1').length, 1, 'a rule created elsewhere, seen after the drop');
    const c = cache.get('ten_a', 59_999 + 60_000);
    assert.equal(reads.length, 3, 'stale after the time to live');
    reads[2]!.answer([]);
    assert.equal((await c).of('enter', 'fen_1').length, 0);
  });

  it('does not keep a read that was in flight when the tenant was dropped', async () => {
    const { reads, load } = store();
    const cache = new RuleCache(load, 60_000);
    const before = cache.get('ten_a', 0);
    cache.drop('ten_a'); // the change lands while the read runs: it may have read the old rules
    reads[0]!.answer([]);
    assert.equal((await before).of('enter', 'fen_1').length, 0);
    const after = cache.get('ten_a', 1);
    assert.equal(reads.length, 2, 'a later lookup reads again');
    reads[1]!.answer([rule('r1', 'enter', 'fen_1')]);
    assert.equal((await after).of('enter', 'fen_1').length, 1);
  });

  it('does not keep a failed read: the next lookup tries again', async () => {
    const { reads, load } = store();
    const cache = new RuleCache(load, 60_000);
    const failed = cache.get('ten_a', 0);
    reads[0]!.fail(new Error('connection reset'));
    await assert.rejects(failed, /connection reset/);
    const again = cache.get('ten_a', 1);
    assert.equal(reads.length, 2);
    reads[1]!.answer([]);
    await again;
  });
});
