/**
 * Connections that lose their right to stay: a device's token is rotated, the device deleted or
 * disabled, its tenant suspended or deleted. The client service says so on `client.changed`
 * (`revoked`); every edge process hears it (an ephemeral `subscribe`: on NATS each process gets its
 * own copy, unlike a durable consumer's queue) and re-checks the connections it holds of that
 * device, or of every device of that tenant, exactly as a hello would be checked: by the token the
 * connection authenticated with. So a session that said hello with the new token after a rotation
 * stays, and the one still on the old token goes. The checks of a tenant's thousands of
 * connections go out together and become a few batched lookups (the client surface batches
 * `authenticateDevice`: one RPC per 256 calls, one statement per 500 tokens).
 */
import { Counter } from 'prom-client';
import { AppError } from '../core/errors.js';
import { registry } from '../core/metrics.js';
import type { Bus, Subscription } from '../ports/bus.js';
import { clientChanged, type ClientChanged } from '../services/client/index.js';
import type { EdgeDeps } from './deps.js';

const revoked = new Counter({
  name: 'followme_edge_connections_revoked_total',
  help: 'Device connections closed because their token, device or tenant stopped being usable, by the refusal code',
  labelNames: ['code'],
  registers: [registry],
});

/** A device connection this edge holds. */
export interface HeldConnection {
  readonly tenantId: string;
  readonly deviceId: string;
  /** The token it authenticated with: checking it again tells the rotated token from the new one. */
  readonly token: string;
  /** Closes the connection, telling the device why as far as its protocol can. */
  revoke(refusal: AppError): void;
}

/** Where connections are held: the native WebSocket sessions, the embedded MQTT broker. */
export interface ConnectionHolder {
  /** The connections of one device (`deviceId` given) or of every device of the tenant. */
  connectionsOf(tenantId: string, deviceId: string | undefined): Iterable<HeldConnection>;
}

/** What the edge remembers of devices without holding a connection (the unique id lookups of OsmAnd and an external MQTT broker). */
export interface DeviceCache {
  forget(tenantId: string, deviceId: string | undefined): void;
}

/** How long a heard revocation is remembered for hellos whose lookup overlapped it: longer than any lookup may take (the RPC timeout is 60 s). */
const REMEMBER_MS = 120_000;

/**
 * Listens for revocations: drops what the caches remember of those devices and closes the held
 * connections that are refused now. A hello whose lookup was on its way while a revocation was
 * heard may have read the state before it; such a connection is checked once more as it is admitted.
 */
export class Revocations {
  private readonly holders: ConnectionHolder[] = [];
  /** When a revocation of a device (`d:` id) or of a whole tenant (`t:` id) was last heard here. */
  private readonly heard = new Map<string, number>();

  constructor(
    private readonly deps: EdgeDeps,
    private readonly caches: readonly DeviceCache[],
  ) {}

  /** Adds a place that holds connections (the embedded broker starts later than the WebSocket sessions). */
  hold(holder: ConnectionHolder): void {
    this.holders.push(holder);
  }

  async watch(bus: Bus): Promise<Subscription> {
    return bus.subscribe(clientChanged, ({ data }) => {
      const deviceId = revokedDevice(data);
      if (deviceId === null) return;
      this.remember(deviceId === undefined ? `t:${data.tenantId}` : `d:${deviceId}`);
      for (const cache of this.caches) cache.forget(data.tenantId, deviceId);
      return recheck(this.deps, this.holders.flatMap((holder) => [...holder.connectionsOf(data.tenantId, deviceId)]), data);
    });
  }

  /** A connection was just admitted after a lookup that began at `lookupStartedAt`: when a revocation of it was heard since, its lookup may predate it, so check it again. */
  admitted(connection: HeldConnection, lookupStartedAt: number): void {
    const since = Math.max(this.heard.get(`d:${connection.deviceId}`) ?? 0, this.heard.get(`t:${connection.tenantId}`) ?? 0);
    if (since < lookupStartedAt) return;
    void recheck(this.deps, [connection], { tenantId: connection.tenantId, kind: 'device', id: connection.deviceId });
  }

  private remember(key: string): void {
    const now = Date.now();
    this.heard.set(key, now);
    if (this.heard.size < 1000) return;
    for (const [k, at] of this.heard) if (at < now - REMEMBER_MS) this.heard.delete(k);
  }
}

/** The device that lost access, undefined for every device of the tenant, null when nobody did. */
function revokedDevice(change: ClientChanged): string | undefined | null {
  if (!change.revoked) return null;
  return change.kind === 'device' ? change.id : change.kind === 'tenant' ? undefined : null;
}

/** Checks every connection's token at once (they batch) and closes those refused; a failed check keeps the connection. */
async function recheck(deps: EdgeDeps, connections: HeldConnection[], change: ClientChanged): Promise<void> {
  if (connections.length === 0) return;
  let closed = 0;
  await Promise.all(connections.map(async (connection) => {
    const refusal = await refusalOf(deps, connection);
    if (!refusal) return;
    revoked.inc({ code: refusal.code });
    closed++;
    connection.revoke(refusal);
  }));
  deps.logger.info({ tenantId: change.tenantId, id: change.id, revoked: change.revoked, checked: connections.length, closed }, 'device connections re-checked');
}

async function refusalOf(deps: EdgeDeps, connection: HeldConnection): Promise<AppError | undefined> {
  try {
    const device = await deps.authenticateDevice(connection.token);
    if (device && device.deviceId === connection.deviceId) return undefined;
    return new AppError('unauthenticated', 'the device token is no longer valid (it was replaced, or the device deleted)');
  } catch (err) {
    if (err instanceof AppError) return err;
    // Not a refusal: the check itself failed (a service unreachable). The connection stays and is checked at its next hello.
    deps.logger.error({ err, deviceId: connection.deviceId }, 're-checking a device connection failed; it stays open');
    return undefined;
  }
}
