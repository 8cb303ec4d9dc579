/** NATS for tests: the local server's URL, and clean-up of what one run created under its prefix. */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

export const NATS_URL = process.env.FOLLOWME_NATS_URL ?? 'nats://127.0.0.1:4222';

/** A prefix no other run uses, so runs and parallel test files do not see each other's messages. */
export function uniquePrefix(what: string): string {
  return `fmtest_${what}_${process.pid}_${Date.now()}`;
}

/** Deletes every stream (with its consumers) and bucket whose name starts with the prefix. */
export async function deleteUnderPrefix(prefix: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${prefix}_`) || name.startsWith(`KV_${prefix}_`)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}
