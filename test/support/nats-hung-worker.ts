/**
 * A worker process for the failover test: consumes `argv[3]` as durable `failover` under prefix
 * `argv[2]` with a short ack wait and a handler that never finishes; prints "handling" once it
 * holds a message. The test then kills it.
 */
import { NatsBus } from '../../src/adapters/bus-nats.js';
import { topic } from '../../src/ports/bus.js';
import { NATS_URL } from './nats.js';

const [prefix, name] = process.argv.slice(2) as [string, string];
const bus = await NatsBus.connect({ servers: NATS_URL, prefix, ackWaitMs: 500 });
await bus.consume(topic<number>(name), 'failover', () => {
  process.stdout.write('handling\n');
  return new Promise<void>(() => undefined);
});
process.stdout.write('ready\n');
