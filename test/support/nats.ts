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

/**
 * True when every partition consumer of `durable` (`<durable>_p<n>`) under the prefix has nothing
 * left: no message waiting and none handed out unacknowledged. A test's "everything published so
 * far has been handled" across the processes of a cluster.
 */
export async function consumersIdle(prefix: string, durable: string): Promise<boolean> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    let found = 0;
    for await (const stream of jsm.streams.names()) {
      if (!stream.startsWith(`${prefix}_`)) continue;
      for await (const info of jsm.consumers.list(stream)) {
        if (!info.name.startsWith(`${durable}_p`)) continue;
        found++;
        if (info.num_pending > 0 || info.num_ack_pending > 0) return false;
      }
    }
    return found > 0;
  } finally {
    await nc.close();
  }
}
