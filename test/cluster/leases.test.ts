/**
 * Partition leases (src/cluster/leases.ts) on the in-process bus's key-value store: two processes
 * share the partitions; the lease rounds never wait for the work a partition's users stop or start.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../src/adapters/bus-memory.js';
import { LeasedOwnership } from '../../src/cluster/leases.js';
import type { KeyValue, PartitionUser } from '../../src/ports/bus.js';
import { eventually, sleep } from '../helpers.js';

const TTL = 1000; // the machine may be busy: a lease round can start a few hundred ms late
const PARTITIONS = 4;

/** A partition user that records what it was given and back, optionally slow to let go of some partitions. */
function recorder(slowRelease: (p: number) => number = () => 0): PartitionUser & { log: string[]; held: Set<number> } {
  const log: string[] = [];
  const held = new Set<number>();
  return {
    log,
    held,
    async acquire(p) {
      held.add(p);
      log.push(`+${p}`);
    },
    async release(p) {
      log.push(`-${p}`);
      await sleep(slowRelease(p));
      held.delete(p);
    },
  };
}

describe('partition leases', () => {
  it('takes no partition before run, then its whole share with every user started', async () => {
    const bus = new MemoryBus();
    const a = await LeasedOwnership.join(bus, { name: 't', partitions: PARTITIONS, ttlMs: TTL });
    const user = recorder();
    await a.attach(user, 'work');
    await sleep(2 * TTL);
    assert.deepEqual(a.held, [], 'joined, not running: nothing taken');
    assert.deepEqual(user.log, []);
    await a.run();
    assert.deepEqual(a.held, [0, 1, 2, 3]);
    assert.deepEqual([...user.held].sort(), [0, 1, 2, 3], 'run resolves once the users started on the first share');
    await a.stop();
    assert.deepEqual(a.held, []);
    assert.deepEqual(user.held.size, 0, 'stop released every partition');
  });

  it('keeps renewing the leases it keeps while a partition it hands on takes longer than the lease to stop', async () => {
    const bus = new MemoryBus();
    const a = await LeasedOwnership.start(bus, { name: 't', partitions: PARTITIONS, ttlMs: TTL, id: 'aaaaaa' });
    // Partitions a hands back when b joins are the highest: 3 and 2. Stopping 3 takes 3 lease times.
    const slow = recorder((p) => (p === 3 ? 3 * TTL : 0));
    await a.attach(slow, 'work');
    assert.deepEqual(a.held, [0, 1, 2, 3]);
    const b = await LeasedOwnership.start(bus, { name: 't', partitions: PARTITIONS, ttlMs: TTL, id: 'bbbbbb' });
    const other = recorder();
    await b.attach(other, 'work');
    await eventually(async () => other.held.has(2), 5 * TTL, 'b takes the partition a handed back at once');
    await eventually(async () => other.held.has(3), 10 * TTL, 'b takes the slow one once a let go of it');
    await sleep(2 * TTL);
    assert.deepEqual(a.held, [0, 1], 'a kept its share throughout');
    assert.deepEqual(b.held, [2, 3]);
    assert.deepEqual([...slow.log].sort(), ['+0', '+1', '+2', '+3', '-2', '-3'], 'a never lost 0 or 1 while 3 was stopping (no self-fencing)');
    await Promise.all([a.stop(), b.stop()]);
  });

  it('stops working on its partitions before their leases run out while a renewal round hangs', async () => {
    const bus = new MemoryBus();
    let hang = false;
    // the KV store stops answering writes (a NATS server that no longer acknowledges, a stalled connection)
    const stalling = Object.assign(Object.create(bus) as MemoryBus, {
      kv: async <T>(name: string): Promise<KeyValue<T>> => {
        const kv = await bus.kv<T>(name);
        const stall = <R>(write: () => Promise<R>): Promise<R> => (hang ? new Promise<R>(() => undefined) : write());
        return {
          get: (key) => kv.get(key),
          put: (key, value) => stall(() => kv.put(key, value)),
          update: (key, value, revision) => stall(() => kv.update(key, value, revision)),
          delete: (key) => kv.delete(key),
          keys: () => kv.keys(),
        };
      },
    });
    const a = await LeasedOwnership.start(stalling, { name: 't', partitions: PARTITIONS, ttlMs: TTL });
    const user = recorder();
    await a.attach(user, 'work');
    assert.deepEqual([...user.held].sort(), [0, 1, 2, 3]);
    hang = true;
    const began = Date.now();
    await eventually(async () => user.held.size === 0, 2 * TTL, 'work on every partition stopped');
    assert.ok(Date.now() - began < TTL, `stopped within a lease time of the last renewal (${Date.now() - began} ms), before another process may take the partitions`);
    hang = false;
    await a.stop();
  });

  it('hands a partition on only after its work stopped, and the next owner starts it after that', async () => {
    const bus = new MemoryBus();
    const a = await LeasedOwnership.start(bus, { name: 't', partitions: 2, ttlMs: TTL, id: 'aaaaaa' });
    const events: string[] = [];
    await a.attach({ acquire: async (p) => void events.push(`a+${p}`), release: async (p) => {
        events.push(`a-${p} begins`);
        await sleep(2 * TTL);
        events.push(`a-${p} done`);
      } }, 'work');
    const b = await LeasedOwnership.join(bus, { name: 't', partitions: 2, ttlMs: TTL, id: 'bbbbbb' });
    await b.attach({ acquire: async (p) => void events.push(`b+${p}`), release: async (p) => void events.push(`b-${p}`) }, 'work');
    await Promise.all([a.stop(), b.run()]);
    await eventually(async () => b.held.length === 2, 5 * TTL, 'b owns both');
    for (const p of [0, 1]) assert.ok(events.indexOf(`a-${p} done`) < events.indexOf(`b+${p}`), `${p}: ${events.join(', ')}`);
    await b.stop();
  });
});
