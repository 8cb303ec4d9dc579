/**
 * The Bus contract on NATS JetStream (a local nats-server with -js on 4222), under a prefix of its
 * own; every stream, consumer and bucket of the run is deleted at the end.
 */
import { after, describe } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsBus } from '../../src/adapters/bus-nats.js';
import { serviceReachable } from '../helpers.js';
import { busContract } from './bus.contract.js';

const NATS_URL = process.env.FOLLOWME_NATS_URL ?? 'nats://127.0.0.1:4222';
const prefix = `fmtest_${process.pid}_${Date.now()}`;
const up = await serviceReachable('NATS', 4222);

/** Deletes every stream (with its consumers) and bucket whose name starts with the prefix. */
export async function deleteUnderPrefix(namePrefix: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${namePrefix}_`) || name.startsWith(`KV_${namePrefix}_`)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}

describe('NATS bus', { skip: !up && 'NATS is not reachable on 127.0.0.1:4222' }, () => {
  after(() => deleteUnderPrefix(prefix));
  busContract('nats', () => NatsBus.connect({ servers: NATS_URL, prefix, retryDelayMs: 5 }));
});
