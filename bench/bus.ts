/**
 * Bus throughput: N small messages over K keys through one durable consumer, on the in-process bus
 * (the baseline) and on NATS JetStream, measured from the first publish until drain() resolves
 * (every message acknowledged by the consumer). Two ways to publish: one at a time (each publish
 * awaits its ack, as a single caller does) and with a window of publishes in flight (as many
 * concurrent callers, e.g. the tracker serving many connections, do).
 *
 *   npx tsc -b && node dist/bench/bus.js                     # 20,000 messages, 1,000 keys
 *   node dist/bench/bus.js --messages=50000 --keys=100 --window=512 --partitions=32
 *
 * Needs a nats-server with JetStream on FOLLOWME_NATS_URL (default nats://127.0.0.1:4222); what it
 * creates lives under its own prefix and is deleted at the end.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { MemoryBus } from '../src/adapters/bus-memory.js';
import { NatsBus } from '../src/adapters/bus-nats.js';
import { topic, type Bus } from '../src/ports/bus.js';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const messages = Number(args.get('messages') ?? 20_000);
const keys = Number(args.get('keys') ?? 1000);
const window = Number(args.get('window') ?? 256);
const partitions = Number(args.get('partitions') ?? 16);
const natsUrl = process.env.FOLLOWME_NATS_URL ?? 'nats://127.0.0.1:4222';
const prefix = `fmbench_${process.pid}_${Date.now()}`;

interface Sample {
  id: string;
  key: string;
  t: number;
}

async function run(bus: Bus, label: string, inFlight: number): Promise<number> {
  const t = topic<Sample>(`bench.${label}.w${inFlight}`);
  let handled = 0;
  const sub = await bus.consume(t, 'bench', () => {
    handled++;
  });
  const start = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < messages) {
      const i = next++;
      const key = `dev_${i % keys}`;
      await bus.publish(t, key, { id: `m${i}`, key, t: i });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  await bus.drain();
  const seconds = (performance.now() - start) / 1000;
  await sub.close();
  if (handled < messages) throw new Error(`${label}: handled ${handled} of ${messages}`);
  return messages / seconds;
}

async function main(): Promise<void> {
  const rows: [string, number, number][] = [];
  for (const inFlight of [1, window]) {
    const memory = new MemoryBus({ lanes: partitions });
    const m = await run(memory, 'memory', inFlight);
    await memory.close();
    const nats = await NatsBus.connect({ servers: natsUrl, prefix, partitions });
    const n = await run(nats, 'nats', inFlight);
    await nats.close();
    rows.push([inFlight === 1 ? 'one publish at a time' : `${inFlight} publishes in flight`, m, n]);
  }
  console.log(`${messages} messages over ${keys} keys, one durable consumer, ${partitions} lanes/partitions, node ${process.version}`);
  console.log('| publishing | memory msg/s | NATS msg/s | NATS / memory |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [how, m, n] of rows) console.log(`| ${how} | ${Math.round(m).toLocaleString('en')} | ${Math.round(n).toLocaleString('en')} | ${(n / m).toFixed(3)} |`);
}

try {
  await main();
} finally {
  const nc = await connect({ servers: natsUrl });
  const jsm = await jetstreamManager(nc);
  for await (const name of jsm.streams.names()) if (name.startsWith(`${prefix}_`)) await jsm.streams.delete(name);
  await nc.close();
}
