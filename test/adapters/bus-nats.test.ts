/**
 * The Bus contract on NATS JetStream (a local nats-server with -js on 4222), under a prefix of its
 * own, and what only a bus shared by several processes can show: one durable consumer's work split
 * between two connections, and messages kept for a durable consumer while nobody runs it.
 * Every stream, consumer and bucket of the run is deleted at the end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NatsBus } from '../../src/adapters/bus-nats.js';
import { partitionOf, topic, type Ownership } from '../../src/ports/bus.js';
import { eventually, serviceReachable, sleep } from '../helpers.js';
import { deleteUnderPrefix, NATS_URL, uniquePrefix } from '../support/nats.js';
import { busContract } from './bus.contract.js';

const prefix = uniquePrefix('bus');

/** An ownership holding every partition in this process (one process owning the key space). */
function everything(bus: NatsBus): Ownership {
  return {
    name: 'all',
    partitions: bus.partitions,
    partitionOf: (key) => partitionOf(key, bus.partitions),
    owns: () => true,
    leaving: () => false,
    async attach(user) {
      for (let p = 0; p < bus.partitions; p++) await user.acquire(p);
      return async () => {
        for (let p = 0; p < bus.partitions; p++) await user.release(p);
      };
    },
  };
}
const up = await serviceReachable('NATS', 4222);

describe('NATS bus', { skip: !up && 'NATS is not reachable on 127.0.0.1:4222' }, () => {
  after(() => deleteUnderPrefix(prefix));
  busContract('nats', () => NatsBus.connect({ servers: NATS_URL, prefix, retryDelayMs: 5 }));

  describe('shared by several processes', () => {
    let a: NatsBus;
    let b: NatsBus;
    let n = 0;
    const fresh = <T>() => topic<T>(`cluster.t${Date.now()}.n${n++}`);
    before(async () => {
      a = await NatsBus.connect({ servers: NATS_URL, prefix, retryDelayMs: 5, name: 'process-a' });
      b = await NatsBus.connect({ servers: NATS_URL, prefix, retryDelayMs: 5, name: 'process-b' });
    });
    after(async () => {
      await a.close();
      await b.close();
    });

    it('splits one durable consumer between two processes, each message handled once, in order per key', async () => {
      const t = fresh<{ key: string; i: number }>();
      const seen: { by: string; key: string; i: number }[] = [];
      const handler = (by: string) => async (m: { data: { key: string; i: number } }) => {
        await sleep(1);
        seen.push({ by, ...m.data });
      };
      const sa = await a.consume(t, 'shared', handler('a'));
      const sb = await b.consume(t, 'shared', handler('b'));
      for (let i = 0; i < 200; i++) await a.publish(t, `k${i % 20}`, { key: `k${i % 20}`, i });
      await eventually(() => seen.length >= 200, 10_000, '200 handled');
      await sleep(100);
      assert.equal(seen.length, 200, 'no message handled twice');
      assert.equal(new Set(seen.map((s) => s.i)).size, 200);
      assert.ok(seen.some((s) => s.by === 'a') && seen.some((s) => s.by === 'b'), 'both processes got a share');
      for (let k = 0; k < 20; k++) {
        const order = seen.filter((s) => s.key === `k${k}`).map((s) => s.i);
        assert.deepEqual(order, [...order].sort((x, y) => x - y), `order of k${k}`);
      }
      await sa.close();
      await sb.close();
    });

    it('with an owner, handles several messages of a partition at once, in order per key, retrying a failure before the later messages of its key', async () => {
      const t = fresh<{ key: string; i: number }>();
      const owner = everything(a);
      const seen: { key: string; i: number; redelivered: number }[] = [];
      let running = 0;
      let most = 0;
      let failed = false;
      const sub = await a.consume(t, 'owned', async (m) => {
        running++;
        most = Math.max(most, running);
        try {
          await sleep(5);
          if (m.data.i === 3 && !failed) {
            failed = true;
            throw new Error('a handler failing once');
          }
          seen.push({ ...m.data, redelivered: m.redelivered });
        } finally {
          running--;
        }
      }, { owner });
      // 2 keys per partition on average: lanes inside a partition run side by side
      await Promise.all(Array.from({ length: 300 }, (_, i) => a.publish(t, `k${i % 32}`, { key: `k${i % 32}`, i })));
      await eventually(() => seen.length >= 300, 15_000, '300 handled');
      assert.equal(new Set(seen.map((s) => s.i)).size, 300, 'every message handled');
      assert.ok(most > a.partitions, `more messages at once (${most}) than partitions (${a.partitions}): a window per partition`);
      assert.equal(seen.find((s) => s.i === 3)?.redelivered, 1, 'the failed message came back once');
      for (let k = 0; k < 32; k++) {
        const order = seen.filter((s) => s.key === `k${k}`).map((s) => s.i);
        assert.deepEqual(order, [...order].sort((x, y) => x - y), `order of k${k}`);
      }
      await sub.close();
    });

    /**
     * One process handles a burst on every partition (40 ms a message) and lets its partitions go
     * midway; another takes them over. Short ack waits, so that what the first took and did not start
     * comes back soon. Returns what each saw, in the order handled.
     */
    async function handOver(handlers: number) {
      const t = fresh<{ key: string; i: number }>();
      const first = await NatsBus.connect({ servers: NATS_URL, prefix, retryDelayMs: 5, name: 'process-first', handlers, ackWaitMs: 1500 });
      const next = await NatsBus.connect({ servers: NATS_URL, prefix, retryDelayMs: 5, name: 'process-next', ackWaitMs: 1500 });
      const seen: { by: string; key: string; i: number }[] = [];
      let running = 0;
      let most = 0;
      const handler = (by: string, ms: number) => async (m: { data: { key: string; i: number } }) => {
        running++;
        most = Math.max(most, running);
        try {
          await sleep(ms);
          seen.push({ by, ...m.data });
        } finally {
          running--;
        }
      };
      try {
        const sub = await first.consume(t, 'handover', handler('first', 40), { owner: everything(first) });
        await Promise.all(Array.from({ length: 400 }, (_, i) => first.publish(t, `k${i % 64}`, { key: `k${i % 64}`, i })));
        await eventually(() => seen.length >= 20, 15_000, 'some handled by the first process');
        const stopping = performance.now();
        await sub.close();
        const stopMs = performance.now() - stopping;
        const mostFirst = most;
        const handedOver = seen.length;
        const sub2 = await next.consume(t, 'handover', handler('next', 0), { owner: everything(next) });
        await eventually(() => seen.length >= 400, 20_000, 'the rest handled by the next owner');
        await sleep(200);
        await sub2.close();
        assert.ok(handedOver < 400, `the first process had not handled everything when it stopped (${handedOver})`);
        assert.equal(seen.length, 400, `no message handled twice: ${JSON.stringify(seen.filter((x) => seen.filter((y) => y.i === x.i).length > 1))}`);
        assert.equal(new Set(seen.map((x) => x.i)).size, 400, 'every message handled');
        assert.ok(seen.some((x) => x.by === 'next'), 'the next owner got what was waiting');
        for (let k = 0; k < 64; k++) {
          const order = seen.filter((x) => x.key === `k${k}`);
          assert.deepEqual(order.map((x) => x.i), order.map((x) => x.i).sort((x, y) => x - y), `order of k${k}: ${JSON.stringify(order.map((x) => [x.by, x.i]))}`);
        }
        return { most: mostFirst, stopMs };
      } finally {
        await first.close();
        await next.close();
      }
    }

    it('hands a partition over in order: what the old owner took and did not start reaches the next one once, in stream order', async () => {
      await handOver(100_000);
    });

    it('hands a message over as often as its partition moves: given back is not a failed attempt', async () => {
      const t = fresh<number>();
      const processes = await Promise.all(['one', 'two'].map((name) => NatsBus.connect({ servers: NATS_URL, prefix, retryDelayMs: 5, name: `process-${name}`, ackWaitMs: 1500 })));
      const seen: number[] = [];
      const handler = async (m: { data: number }) => {
        await sleep(100);
        seen.push(m.data);
      };
      try {
        // One device's 12 messages; each hand-over starts the next one and gives the rest back, so
        // the last is handed out 11 times: with the server's max_deliver at 3 it used to be dropped.
        for (let round = 0; seen.length < 12; round++) {
          assert.ok(round < 30, `handled after ${round} hand-overs: ${JSON.stringify(seen)}`);
          const bus = processes[round % 2]!;
          const sub = await bus.consume(t, 'moves', handler, { owner: everything(bus), maxDeliver: 3 });
          if (round === 0) for (let i = 0; i < 12; i++) await bus.publish(t, 'k', i); // the stream keeps what a consumer is there for
          await eventually(() => seen.length > round || seen.length === 12, 10_000, `message ${round} handled`);
          await sub.close();
        }
        assert.deepEqual(seen, Array.from({ length: 12 }, (_, i) => i), 'each once, in order');
      } finally {
        await Promise.all(processes.map((p) => p.close()));
      }
    });

    it('runs at most `handlers` owned handlers at once per process; released while waiting for a slot, messages go to the next owner at once', async () => {
      // 400 messages in flight over 16 partitions, 3 slots: most are waiting when the partitions go
      const { most, stopMs } = await handOver(3);
      assert.ok(most <= 3, `at most 3 handlers at once, saw ${most}`);
      assert.ok(stopMs < 2_000, `releasing waits only for the 3 running handlers, not for every message taken (${Math.round(stopMs)} ms)`);
    });

    it('sends at most `publishes` at once and queues the rest, every key still in order', async () => {
      const t = fresh<{ key: string; i: number }>();
      const narrow = await NatsBus.connect({ servers: NATS_URL, prefix, retryDelayMs: 5, name: 'process-narrow', publishes: 4 });
      try {
        const seen: { key: string; i: number }[] = [];
        const sub = await a.consume(t, 'narrow', (m) => {
          seen.push(m.data);
        });
        // 3,000 at once, as 3,000 devices dropping together publish their connection events
        await Promise.all(Array.from({ length: 3000 }, (_, i) => narrow.publish(t, `k${i % 3}`, { key: `k${i % 3}`, i })));
        await eventually(() => seen.length >= 3000, 30_000, '3,000 handled');
        for (let k = 0; k < 3; k++) {
          const order = seen.filter((x) => x.key === `k${k}`).map((x) => x.i);
          assert.equal(order.length, 1000);
          assert.deepEqual(order, [...order].sort((x, y) => x - y), `order of k${k}`);
        }
        await sub.close();
      } finally {
        await narrow.close();
      }
    });

    it('keeps what is published while no process runs a durable consumer, and hands it out when one comes back', async () => {
      const t = fresh<number>();
      const first = await a.consume(t, 'resumes', () => undefined);
      await first.close();
      for (let i = 0; i < 5; i++) await a.publish(t, 'k', i);
      const got: number[] = [];
      const again = await b.consume(t, 'resumes', (m) => void got.push(m.data));
      await eventually(() => got.length === 5, 5000, 'the five kept messages');
      assert.deepEqual(got, [0, 1, 2, 3, 4]);
      await again.close();
    });

    it('hands the message a killed process was handling to a process still running', async () => {
      const t = fresh<number>();
      const worker = spawn(process.execPath, [fileURLToPath(new URL('../support/nats-hung-worker.js', import.meta.url)), prefix, t.name], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        let out = '';
        worker.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        await eventually(() => out.includes('ready'), 5000, 'the worker to consume');
        await a.publish(t, 'k', 1);
        await eventually(() => out.includes('handling'), 5000, 'the worker to hold the message');
        const got: [number, number][] = [];
        // the same consumer settings as the worker (a cluster runs one configuration)
        const survivor = await NatsBus.connect({ servers: NATS_URL, prefix, ackWaitMs: 500 });
        const sub = await survivor.consume(t, 'failover', (m) => void got.push([m.data, m.redelivered]));
        await sleep(100);
        assert.deepEqual(got, [], 'held by the worker while it lives');
        worker.kill('SIGKILL');
        // the worker's ack wait is 500 ms: without its "working" signals the server hands the message on
        await eventually(() => got.length === 1, 5000, 'redelivered to the process still running');
        assert.deepEqual(got, [[1, 1]]);
        await sub.close();
        await survivor.close();
      } finally {
        worker.kill('SIGKILL');
      }
    });

    it('refuses a message larger than the server takes, saying so', async () => {
      const t = fresh<string>();
      await assert.rejects(a.publish(t, 'k', 'x'.repeat(a.maxPayload)), /larger than the NATS server accepts \(max_payload \d+ bytes/);
    });
  });
});
