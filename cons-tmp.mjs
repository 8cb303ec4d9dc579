import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
const jsm = await jetstreamManager(nc);
for await (const s of jsm.streams.list()) {
  if (!s.config.name.startsWith(`fmtest_cluster_${process.argv[2]}`)) continue;
  console.log('stream', s.config.name, 'msgs', s.state.messages, 'last', s.state.last_seq);
  for await (const c of jsm.consumers.list(s.config.name)) {
    if (c.num_pending || c.num_ack_pending || c.num_redelivered) console.log('  ', c.name, 'pending', c.num_pending, 'ackpending', c.num_ack_pending, 'redelivered', c.num_redelivered, 'ackfloor', c.ack_floor.stream_seq, 'delivered', c.delivered.stream_seq);
  }
}
await nc.close();
