/**
 * Services across processes (src/cluster/rpc.ts) on the in-process bus: calls of a batched method
 * made while one request is in flight leave together, in order, and each answers for itself.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MemoryBus } from '../../src/adapters/bus-memory.js';
import { NatsBus } from '../../src/adapters/bus-nats.js';
import { serviceReachable } from '../helpers.js';
import { AppError, invalid } from '../../src/core/errors.js';
import { NotOwner, partitionOf, type Ownership, type PartitionUser } from '../../src/ports/bus.js';
import { connect } from '@nats-io/transport-node';
import { remote, serve, STOPPING_GRACE_MS } from '../../src/cluster/rpc.js';

class Counter {
  readonly calls: number[] = [];
  async add(n: number): Promise<number> {
    if (n < 0) throw invalid('n', `must not be negative, got ${n}`);
    this.calls.push(n);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return n * 2;
  }
}

describe('calls to a service in another process', () => {
  it('sends the calls of a batched method made while one request is in flight as one request, in order, each answered for itself', async () => {
    const bus = new MemoryBus();
    const counter = new Counter();
    const served = await serve(bus, 'counter', counter, ['add'] as const);
    let requests = 0;
    const counting = Object.assign(Object.create(bus) as MemoryBus, {
      request: (...args: Parameters<MemoryBus['request']>) => {
        requests++;
        return bus.request(...args);
      },
    });
    const proxy = remote<Counter, 'add'>(counting, 'counter', ['add'], { batch: ['add'] });
    const answers = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => proxy.add(i === 7 ? -1 : i)));
    assert.equal(requests, 2, 'the first call alone, the 49 made meanwhile in one request');
    assert.deepEqual(counter.calls, Array.from({ length: 50 }, (_, i) => i).filter((i) => i !== 7), 'started in the order they were made');
    answers.forEach((a, i) => {
      if (i === 7) {
        assert.equal(a.status, 'rejected');
        assert.ok((a as PromiseRejectedResult).reason instanceof AppError, 'a refused call fails alone, as an AppError naming its field');
        assert.equal(((a as PromiseRejectedResult).reason as AppError).errors[0]?.field, 'n');
      } else assert.deepEqual(a, { status: 'fulfilled', value: i * 2 });
    });
    assert.equal(await proxy.add(21), 42, 'a lone call leaves at once');
    assert.equal(requests, 3);
    await served.close();
    await bus.close();
  });

  it('carries an answer larger than NATS takes in one message (a bulk enrolment of 5,000 devices with tokens) gzipped', async (t) => {
    if (!(await serviceReachable('NATS', 4222))) return t.skip('NATS not reachable');
    const bus = await NatsBus.connect({ servers: 'nats://127.0.0.1:4222', prefix: `rpc${process.pid}` });
    const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ device: { id: `dev_${String(i).padStart(26, '0')}`, name: `tag-${i}`, userId: null, uniqueId: null, createdAt: 1764612345678 + i }, token: `fmd_${Buffer.from(String(i * 7919)).toString('base64url').padEnd(32, 'x')}` }));
    const big = { async list(n: number) { return rows(n); } };
    const served = await serve(bus, 'big', big, ['list'] as const);
    try {
      const proxy = remote<typeof big, 'list'>(bus, 'big', ['list']);
      assert.ok(JSON.stringify(rows(8000)).length > bus.maxPayload, 'the answer is larger than one NATS message');
      assert.deepEqual(await proxy.list(8000), rows(8000));
      assert.deepEqual(await proxy.list(3), rows(3), 'a small answer travels as it is');
    } finally {
      await served.close();
      await bus.close();
    }
  });

  it('carries an answer larger than NATS takes even gzipped in parts, from the process that answered, with two processes serving', async (t) => {
    if (!(await serviceReachable('NATS', 4222))) return t.skip('NATS not reachable');
    const prefix = `rpcparts${process.pid}`;
    const buses = [await NatsBus.connect({ servers: 'nats://127.0.0.1:4222', prefix }), await NatsBus.connect({ servers: 'nats://127.0.0.1:4222', prefix })];
    // random text does not compress: 3 MB stays about 3 MB gzipped, four parts of 768 KiB
    const blob = (seed: number) => Array.from({ length: 3000 }, (_, i) => `${seed}-${i}-${randomBytes(750).toString('base64')}`);
    const answers = new Map<number, string[]>();
    const huge = (which: number) => ({
      async get(seed: number): Promise<{ which: number; value: string[] }> {
        const value = answers.get(seed) ?? blob(seed);
        answers.set(seed, value);
        return { which, value };
      },
    });
    const servers = await Promise.all(buses.map((bus, which) => serve(bus, 'huge', huge(which), ['get'] as const)));
    const caller = await NatsBus.connect({ servers: 'nats://127.0.0.1:4222', prefix });
    try {
      const proxy = remote<ReturnType<typeof huge>, 'get'>(caller, 'huge', ['get']);
      const got = await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => proxy.get(seed)));
      got.forEach((g, i) => assert.deepEqual(g.value, answers.get(i + 1), `answer ${i + 1} whole and in order`));
      assert.ok(JSON.stringify(got[0]).length > 3 * 768 * 1024, 'each answer is four parts of 768 KiB');
      assert.deepEqual(new Set(got.map((g) => g.which)).size, 2, 'both processes answered some');
    } finally {
      await Promise.all(servers.map((s) => s.close()));
      await Promise.all([...buses, caller].map((b) => b.close()));
    }
  });

  it('waits for a service nobody answers while running, and stops waiting once its process begins to stop', async () => {
    const bus = new MemoryBus();
    const stopped = new AbortController();
    const proxy = remote<Counter, 'add'>(bus, 'counter', ['add'], { timeoutMs: 30_000, stopping: stopped.signal });
    let settled = false;
    const call = proxy.add(1).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(settled, false, 'while running, a call waits for a responder (a process starting, a partition changing hands)');
    const began = Date.now();
    stopped.abort();
    await assert.rejects(call, /stopping/);
    assert.ok(Date.now() - began < 1000, `given up within a retry interval of the stop, not at the 30 s timeout (${Date.now() - began} ms)`);
    await assert.rejects(proxy.add(2), /no responders for counter.add, and this process is stopping/, 'a new call fails at once');
    await bus.close();
  });

  it('gives up a call in flight a grace period after its process began to stop', async () => {
    const bus = new MemoryBus();
    const hanging = { async add(_n: number): Promise<number> { return new Promise<number>(() => undefined); } };
    const served = await serve(bus, 'hanging', hanging, ['add'] as const);
    const stopped = new AbortController();
    const proxy = remote<typeof hanging, 'add'>(bus, 'hanging', ['add'], { timeoutMs: 60_000, stopping: stopped.signal });
    const call = proxy.add(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const began = Date.now();
    stopped.abort();
    await assert.rejects(call, /hanging.add given up: this process is stopping/);
    const waited = Date.now() - began;
    assert.ok(waited >= STOPPING_GRACE_MS - 50 && waited < STOPPING_GRACE_MS + 1000, `given up after the grace period, not the 60 s timeout (${waited} ms)`);
    await served.close().catch(() => undefined);
    await bus.close();
  });
  it('asks again when a batch has no answer, and the first answer wins (the request went to a process that died)', async () => {
    const bus = new MemoryBus();
    let requests = 0;
    // the first request is taken and never answered, as by a process killed while handling it
    const dying = { async add(n: number): Promise<number> { return ++requests === 1 ? new Promise<number>(() => undefined) : n * 2; } };
    const served = await serve(bus, 'dying', dying, ['add'] as const);
    const hedging = remote<typeof dying, 'add'>(bus, 'dying', ['add'], { batch: ['add'], hedgeMs: 200, timeoutMs: 5_000 });
    const began = Date.now();
    assert.equal(await hedging.add(21), 42);
    assert.ok(Date.now() - began < 1_000, `answered by the second request, not at the timeout (${Date.now() - began} ms)`);
    assert.equal(requests, 2);
    requests = 0;
    const waiting = remote<typeof dying, 'add'>(bus, 'dying', ['add'], { batch: ['add'], hedgeMs: 0, timeoutMs: 1_000 });
    await assert.rejects(waiting.add(1), /timed out after/, 'without asking again the call waits out its timeout');
    await served.close();
    await bus.close();
  });

  it('on NATS: a batch taken by a responder whose connection then dies is answered by another process', async (t) => {
    if (!(await serviceReachable('NATS', 4222))) return t.skip('NATS not reachable');
    const prefix = `rpchedge${process.pid}`;
    const bus = await NatsBus.connect({ servers: 'nats://127.0.0.1:4222', prefix });
    // A process that takes requests and dies before answering: the only responder when the call leaves.
    const doomed = await connect({ servers: 'nats://127.0.0.1:4222' });
    let taken = 0;
    doomed.subscribe(`${prefix}.rpc.svc.counter.add`, { queue: 'responders', callback: () => void taken++ });
    await doomed.flush();
    const counter = new Counter();
    const proxy = remote<Counter, 'add'>(bus, 'counter', ['add'], { batch: ['add'], hedgeMs: 500, timeoutMs: 20_000 });
    const began = Date.now();
    const call = proxy.add(4);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(taken, 1, 'the request went to the doomed process');
    const served = await serve(bus, 'counter', counter, ['add'] as const);
    await doomed.close(); // killed: NATS never tells the caller
    try {
      assert.equal(await call, 8);
      assert.ok(Date.now() - began < 5_000, `answered after the hedge, not at the 20 s timeout (${Date.now() - began} ms)`);
      assert.deepEqual(counter.calls, [4]);
    } finally {
      await served.close();
      await bus.close();
    }
  });
  it('on NATS: a service handing its partitions on refuses the calls it has not begun; the caller gets them done by the next owner, once each and in order', async (t) => {
    if (!(await serviceReachable('NATS', 4222))) return t.skip('NATS not reachable');
    const prefix = `rpcmoved${process.pid}`;
    const [a, b, caller] = await Promise.all([1, 2, 3].map(() => NatsBus.connect({ servers: 'nats://127.0.0.1:4222', prefix })));
    /** A keyed service whose calls take turns at one database connection (20 ms each), like the tracker's commits. */
    class Ledger {
      readonly done: string[] = [];
      leavingNow = false;
      private db: Promise<unknown> = Promise.resolve();
      constructor(readonly name: string) {}
      add(key: string, n: number): Promise<string> {
        const turn = this.db.then(async () => {
          if (this.leavingNow) throw new NotOwner(0); // not begun: the next owner does it
          await new Promise((resolve) => setTimeout(resolve, 20));
          this.done.push(`${key}:${n}`);
          return this.name;
        });
        this.db = turn.catch(() => undefined);
        return turn;
      }
    }
    const owning = (ledger: Ledger): Ownership => ({
      name: 'ledger',
      partitions: 16,
      partitionOf: (key) => partitionOf(key, 16),
      owns: () => true,
      leaving: () => ledger.leavingNow,
      async attach(user: PartitionUser) {
        for (let p = 0; p < 16; p++) await user.acquire(p);
        return async () => {
          for (let p = 0; p < 16; p++) await user.release(p);
        };
      },
    });
    const first = new Ledger('first');
    const second = new Ledger('second');
    const servedFirst = await serve(a, 'ledger', first, ['add'] as const, { byKey: ['add'], owner: owning(first) });
    const proxy = remote<Ledger, 'add'>(caller, 'ledger', ['add'], { byKey: { add: (key) => key }, batch: ['add'], timeoutMs: 30_000 });
    const keys = ['k1', 'k2', 'k3', 'k4'];
    const calls = keys.flatMap((key) => Array.from({ length: 50 }, (_, n) => proxy.add(key, n)));
    let servedSecond: Awaited<ReturnType<typeof serve>> | undefined;
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const began = Date.now();
      first.leavingNow = true;
      await servedFirst.close();
      const stopMs = Date.now() - began;
      servedSecond = await serve(b, 'ledger', second, ['add'] as const, { byKey: ['add'], owner: owning(second) });
      const answers = await Promise.all(calls);
      assert.ok(first.done.length > 0 && second.done.length > 0, `both owners did some (${first.done.length}, ${second.done.length})`);
      assert.ok(stopMs < 1_000, `the stop waited only for calls already begun, not for the ${200 - first.done.length} queued (${stopMs} ms; 20 ms each)`);
      assert.equal(answers.filter((x) => x === 'first').length, first.done.length, 'each call answered by the owner that did it');
      for (const key of keys) {
        const order = [...first.done, ...second.done].filter((d) => d.startsWith(`${key}:`)).map((d) => Number(d.split(':')[1]));
        assert.deepEqual(order, Array.from({ length: 50 }, (_, n) => n), `${key}: each call once, in order, across the hand-over`);
      }
    } finally {
      await servedSecond?.close();
      await Promise.all([a, b, caller].map((bus) => bus.close()));
    }
  });
});
