/** The Bus contract: every adapter (in-process, NATS JetStream) must pass these. */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { topic, type Bus } from '../../src/ports/bus.js';
import { eventually, sleep } from '../helpers.js';

export function busContract(name: string, open: () => Promise<Bus>): void {
  describe(`Bus contract: ${name}`, () => {
    let bus: Bus;
    let n = 0;
    const fresh = <T>() => topic<T>(`contract.${name}.${process.pid}.${Date.now()}.${n++}`);
    before(async () => {
      bus = await open();
    });
    after(async () => {
      await bus.close();
    });

    it('hands every published message to a durable consumer once, in order per key', async () => {
      const t = fresh<{ key: string; i: number }>();
      const seen: { key: string; i: number }[] = [];
      const sub = await bus.consume(t, 'c1', (m) => {
        seen.push(m.data);
      });
      for (let i = 0; i < 50; i++) await bus.publish(t, `k${i % 3}`, { key: `k${i % 3}`, i });
      await eventually(() => seen.length === 50, 5000, '50 messages');
      for (const key of ['k0', 'k1', 'k2']) {
        const order = seen.filter((s) => s.key === key).map((s) => s.i);
        assert.deepEqual(order, [...order].sort((a, b) => a - b));
      }
      assert.equal(new Set(seen.map((s) => s.i)).size, 50);
      await sub.close();
    });

    it('gives each durable consumer its own copy of every message', async () => {
      const t = fresh<number>();
      const a: number[] = [];
      const b: number[] = [];
      const s1 = await bus.consume(t, 'a', (m) => void a.push(m.data));
      const s2 = await bus.consume(t, 'b', (m) => void b.push(m.data));
      for (let i = 0; i < 5; i++) await bus.publish(t, 'k', i);
      await eventually(() => a.length === 5 && b.length === 5, 5000, 'both consumers');
      assert.deepEqual(a, [0, 1, 2, 3, 4]);
      assert.deepEqual(b, [0, 1, 2, 3, 4]);
      await s1.close();
      await s2.close();
    });

    it('redelivers a message whose handler failed, and holds later messages of that key until it succeeds', async () => {
      const t = fresh<number>();
      const seen: [number, number][] = [];
      let failures = 0;
      const sub = await bus.consume(t, 'retry', (m) => {
        if (m.data === 1 && failures < 2) {
          failures++;
          throw new Error('transient');
        }
        seen.push([m.data, m.redelivered]);
      });
      for (let i = 0; i < 3; i++) await bus.publish(t, 'same-key', i);
      await eventually(() => seen.length === 3, 10_000, 'three handled');
      assert.deepEqual(seen, [[0, 0], [1, 2], [2, 0]]);
      await sub.close();
    });

    it('lets an ephemeral subscriber see only what is published while it listens', async () => {
      const t = fresh<string>();
      await bus.publish(t, 'k', 'before');
      const got: string[] = [];
      const sub = await bus.subscribe(t, (m) => void got.push(m.data));
      await bus.publish(t, 'k', 'during');
      await eventually(() => got.length === 1, 5000, 'one message');
      await sub.close();
      await bus.publish(t, 'k', 'after');
      await sleep(50);
      assert.deepEqual(got, ['during']);
    });

    it('hands each consumer a copy, so one cannot change what another sees', async () => {
      const t = fresh<{ v: number }>();
      const got: number[] = [];
      const s1 = await bus.consume(t, 'mutator', (m) => {
        m.data.v = 999;
      });
      const s2 = await bus.consume(t, 'reader', (m) => void got.push(m.data.v));
      const payload = { v: 1 };
      await bus.publish(t, 'k', payload);
      payload.v = 2;
      await eventually(() => got.length === 1, 5000, 'reader');
      assert.deepEqual(got, [1]);
      await s1.close();
      await s2.close();
    });

    it('answers requests through a responder and fails a request nobody answers', async () => {
      const subject = `contract.${name}.rpc.${Date.now()}`;
      const sub = await bus.respond<{ a: number; b: number }, { sum: number }>(subject, async (q) => ({ sum: q.a + q.b }));
      assert.deepEqual(await bus.request(subject, { a: 2, b: 3 }), { sum: 5 });
      await sub.close();
      await assert.rejects(bus.request(`${subject}.nobody`, {}, 300));
    });

    it('keeps key-value entries with revisions and compare-and-set', async () => {
      const kv = await bus.kv<{ n: number }>(`contract_${name}_${Date.now()}`.replace(/[^a-z0-9_]/gi, '_'));
      assert.equal(await kv.get('x'), undefined);
      assert.equal(await kv.update('x', { n: 1 }, 0), true, 'create when absent with revision 0');
      const first = await kv.get('x');
      assert.deepEqual(first?.value, { n: 1 });
      assert.equal(await kv.update('x', { n: 2 }, first!.revision + 1000), false, 'stale revision refused');
      assert.equal(await kv.update('x', { n: 2 }, first!.revision), true);
      assert.deepEqual((await kv.get('x'))?.value, { n: 2 });
      await kv.put('y', { n: 3 });
      assert.deepEqual((await kv.keys()).sort(), ['x', 'y']);
      await kv.delete('x');
      assert.equal(await kv.get('x'), undefined);
    });

    it('gives handlers and subscribers the key exactly as published, whatever characters it holds', async () => {
      const t = fresh<number>();
      const keys = ['dev_01H.x', 'a b*c>d/e', 'ü=3D%', '', '.'];
      const consumed: string[] = [];
      const heard: string[] = [];
      const sub = await bus.consume(t, 'keys', (m) => {
        assert.equal(m.topic, t.name);
        consumed.push(m.key);
      });
      const listener = await bus.subscribe(t, (m) => void heard.push(m.key));
      for (const [i, key] of keys.entries()) await bus.publish(t, key, i);
      await eventually(() => consumed.length === keys.length && heard.length === keys.length, 5000, 'every key');
      assert.deepEqual([...consumed].sort(), [...keys].sort());
      assert.deepEqual([...heard].sort(), [...keys].sort());
      await sub.close();
      await listener.close();
    });

    it('gives a message up after maxDeliver attempts and goes on with the next of its key', async () => {
      const t = fresh<number>();
      const attempts: number[] = [];
      const handled: number[] = [];
      const sub = await bus.consume(
        t,
        'poison',
        (m) => {
          if (m.data === 0) {
            attempts.push(m.redelivered);
            throw new Error('never works');
          }
          handled.push(m.data);
        },
        { maxDeliver: 3 },
      );
      await bus.publish(t, 'k', 0);
      await bus.publish(t, 'k', 1);
      await bus.drain();
      assert.deepEqual(attempts, [0, 1, 2]);
      assert.deepEqual(handled, [1]);
      await sub.close();
    });

    it('rejects a request with the message of the error its responder threw', async () => {
      const subject = `contract.${name}.fails.${Date.now()}`;
      const sub = await bus.respond<Record<string, never>, never>(subject, async () => {
        throw new Error('fence fen_1 not found');
      });
      await assert.rejects(bus.request(subject, {}), /fence fen_1 not found/);
      await sub.close();
    });

    it('keeps key-value keys exactly as written, whatever characters they hold', async () => {
      const kv = await bus.kv<number>(`contract_keys_${name}_${Date.now()}`.replace(/[^a-z0-9_]/gi, '_'));
      const keys = ['tenant.acme', 'a b/c', 'ü=1', '*'];
      for (const [i, key] of keys.entries()) await kv.put(key, i);
      assert.deepEqual((await kv.keys()).sort(), [...keys].sort());
      assert.equal((await kv.get('a b/c'))?.value, 1);
    });

    it('lists each key-value key once, also while the keys are written during the listing', async () => {
      const kv = await bus.kv<number>(`contract_busy_${name}_${Date.now()}`.replace(/[^a-z0-9_]/gi, '_'));
      const keys = Array.from({ length: 1000 }, (_, i) => `member.${i}`);
      await Promise.all(keys.map((key) => kv.put(key, 0)));
      for (let round = 1; round <= 8; round++) {
        // renewals landing while the listing runs: a walk over the bucket listed some keys twice
        // (150 of 1,000 here) and, under CI load, missed others, as every process's member entry and leases do
        let listing = true;
        const writing = (async () => {
          for (let i = 0; listing; i++) await Promise.all(keys.slice((i * 50) % 1000, ((i * 50) % 1000) + 50).map((key) => kv.put(key, round)));
        })();
        const listed = await kv.keys().finally(() => (listing = false));
        await writing;
        assert.equal(listed.length, new Set(listed).size, `round ${round}: ${listed.length - new Set(listed).size} keys listed twice`);
        assert.deepEqual([...listed].sort(), [...keys].sort());
      }
    });

    it('drains what handlers publish while draining, too', async () => {
      const first = fresh<number>();
      const second = fresh<number>();
      const done: number[] = [];
      const relay = await bus.consume(first, 'relay', async (m) => {
        await sleep(2);
        await bus.publish(second, m.key, m.data * 10);
      });
      const sink = await bus.consume(second, 'sink', async (m) => {
        await sleep(2);
        done.push(m.data);
      });
      for (let i = 0; i < 10; i++) await bus.publish(first, `k${i}`, i);
      await bus.drain();
      assert.deepEqual([...done].sort((a, b) => a - b), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
      await relay.close();
      await sink.close();
    });

    it('drains: resolves once every accepted message has been handled', async () => {
      const t = fresh<number>();
      let handled = 0;
      const sub = await bus.consume(t, 'slow', async () => {
        await sleep(5);
        handled++;
      });
      for (let i = 0; i < 20; i++) await bus.publish(t, `k${i}`, i);
      await bus.drain();
      assert.equal(handled, 20);
      await sub.close();
    });
  });
}
