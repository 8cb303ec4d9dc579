/** A geofence service on an in-memory SQLite store and the memory bus: for tests and benchmarks of evaluation. */
import { MemoryBus } from '../../src/adapters/bus-memory.js';
import { SqliteStoreFactory } from '../../src/adapters/store-sqlite.js';
import { createLogger } from '../../src/core/log.js';
import { systemContext, type TenantContext } from '../../src/core/tenancy.js';
import type { Position } from '../../src/core/types.js';
import { clientChanged } from '../../src/services/client/index.js';
import { fenceEvent, GeofenceService, geofenceMigrations, type FenceEvent, type GeofenceDB, type GeofenceOptions } from '../../src/services/geofence/index.js';
import { positionAccepted } from '../../src/services/tracker/index.js';

export interface Rig {
  bus: MemoryBus;
  geofence: GeofenceService;
  ctx: TenantContext;
  /** Every event published, in publish order. */
  events: FenceEvent[];
  /** Group membership the injected groupsOf answers from. */
  groups: Map<string, string[]>;
  /** Publishes accepted positions (as the tracker would) and waits until they are evaluated. */
  send(...positions: Array<Partial<Position> & { deviceId: string; lon: number; lat: number; time: number }>): Promise<void>;
  /** Changes a device's groups and says so on the bus, as the client service would. */
  setGroups(deviceId: string, groupIds: string[]): Promise<void>;
  close(): Promise<void>;
}

export async function geofenceRig(options: GeofenceOptions = {}, tenantId = 'ten_test'): Promise<Rig> {
  const bus = new MemoryBus();
  const store = await new SqliteStoreFactory({ dataDir: ':memory:', synchronous: 'normal' }).open<GeofenceDB>('geofence', geofenceMigrations);
  const groups = new Map<string, string[]>();
  const geofence = new GeofenceService(store, bus, createLogger(process.env.FOLLOWME_LOG_LEVEL ?? 'silent'), {
    groupsOf: async (_ctx, deviceId) => groups.get(deviceId) ?? [],
    dwellTickMs: 0,
    ...options,
  });
  await geofence.start();
  const events: FenceEvent[] = [];
  await bus.subscribe(fenceEvent, (m) => {
    events.push(m.data);
  });
  return {
    bus,
    geofence,
    ctx: systemContext(tenantId),
    events,
    groups,
    async send(...positions) {
      for (const p of positions) await bus.publish(positionAccepted, p.deviceId, { tenantId, receivedAt: p.time, late: false, ...p });
      await bus.drain();
    },
    async setGroups(deviceId, groupIds) {
      groups.set(deviceId, groupIds);
      await bus.publish(clientChanged, deviceId, { tenantId, kind: 'group', id: groupIds[0] ?? 'none' });
      await bus.drain();
    },
    async close() {
      await geofence.stop();
      await bus.close();
      await store.close();
    },
  };
}
