/**
 * The composition root: which parts run in this process, on which adapters, wired in this order:
 * bus and stores → services → edge and api on the HTTP listener → background consumers → demo.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { createLogger, type Logger } from './core/log.js';
import type { TenantContext } from './core/tenancy.js';
import { MemoryBus } from './adapters/bus-memory.js';
import { NatsBus } from './adapters/bus-nats.js';
import { SqliteStoreFactory } from './adapters/store-sqlite.js';
import { PostgresStoreFactory } from './adapters/store-postgres.js';
import type { Bus } from './ports/bus.js';
import type { StoreFactory } from './ports/store.js';
import { ClientService, clientMigrations, type ClientDB } from './services/client/index.js';
import { reportingInterval, Sharing, TrackerService, trackerMigrations, type TrackerDB } from './services/tracker/index.js';
import { GeofenceService, geofenceMigrations, type GeofenceDB } from './services/geofence/index.js';
import { NotificationService, notificationMigrations, type NotificationDB } from './services/notification/index.js';
import { createHttpServer, type HttpServer } from './http/server.js';
import { registerHosts } from './http/hosts.js';
import { toFriend } from './edge/owntracks.js';
import type { Position } from './core/types.js';
import { startEdge, type DeviceIdentity, type Edge, type EdgeDeps } from './edge/index.js';
import { registerApi, type Api } from './api/index.js';
import { registerStatic } from './http/static.js';
import { Provisioning } from './provisioning/index.js';

export interface Platform {
  readonly config: Config;
  readonly logger: Logger;
  readonly bus: Bus;
  readonly http: HttpServer;
  readonly client: ClientService;
  readonly tracker: TrackerService;
  readonly sharing: Sharing;
  readonly geofence: GeofenceService;
  readonly notification: NotificationService;
  readonly provisioning: Provisioning;
  readonly edge: Edge;
  /** Base URL of the HTTP listener, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** The admin key, when this start generated one (it is printed once and kept only hashed). */
  readonly generatedAdminKey: string | undefined;
  /** Stops accepting, drains in-flight work, closes stores. */
  close(): Promise<void>;
}

/** The bus of this process: in-process, or NATS JetStream shared with the other processes of a cluster. */
export async function openBus(config: Config, logger: Logger): Promise<Bus> {
  return config.bus === 'nats' ? NatsBus.connect({ servers: config.natsUrl, prefix: config.natsPrefix, logger }) : new MemoryBus({ logger });
}

export function storeFactory(config: Config): StoreFactory {
  return config.store === 'postgres'
    ? new PostgresStoreFactory({ connectionString: config.databaseUrl, schemaPrefix: config.databaseSchemaPrefix })
    : new SqliteStoreFactory({ dataDir: config.dataDir, synchronous: config.sqliteSync });
}

/** The services of this process, wired to each other through their public surfaces, with their stores open (no listeners). */
export interface Services {
  client: ClientService;
  tracker: TrackerService;
  sharing: Sharing;
  geofence: GeofenceService;
  notification: NotificationService;
  provisioning: Provisioning;
  /** Closes the stores (after the services have stopped). */
  closeStores(): Promise<void>;
}

export async function createServices(config: Config, bus: Bus, logger: Logger): Promise<Services> {
  const stores = storeFactory(config);
  const clientStore = await stores.open<ClientDB>('client', clientMigrations);
  const trackerStore = await stores.open<TrackerDB>('tracker', trackerMigrations);
  const geofenceStore = await stores.open<GeofenceDB>('geofence', geofenceMigrations);
  const notificationStore = await stores.open<NotificationDB>('notification', notificationMigrations);

  const client = new ClientService(clientStore, bus);
  const tracker = new TrackerService(trackerStore, bus, { groupCommitMs: config.groupCommitMs, groupCommitMax: config.groupCommitMax, logger });
  const sharing = new Sharing(
    trackerStore,
    {
      devicesOfUser: (ctx, userId) => client.devicesOfUser(ctx, userId),
      groupsOfUser: (ctx, userId) => client.groupsOfUser(ctx, userId),
      userName: async (ctx, userId) => (await client.getUser(ctx, userId)).name,
      checkAudience: async (ctx, audience) => void (await client.resolveDevices(ctx, audience)),
    },
    (ctx, deviceIds) => tracker.lastKnownPositions(ctx, deviceIds),
  );
  const geofence = new GeofenceService(geofenceStore, bus, logger, {
    // The one thing the geofence service needs of the client service: a device's groups (with the
    // groups above them), through the client's public surface, cached there until client.changed.
    async groupsOf(ctx, deviceId) {
      const device = await client.getDevice(ctx, deviceId).catch(() => undefined);
      if (!device) return [];
      const groups = await client.listGroups(ctx);
      const byId = new Map(groups.map((g) => [g.id, g]));
      const out = new Set<string>();
      for (const g of groups) {
        if (!g.members.deviceIds.includes(deviceId) && !(device.userId !== null && g.members.userIds.includes(device.userId))) continue;
        for (let at: typeof g | undefined = g; at && !out.has(at.id); at = at.parentId ? byId.get(at.parentId) : undefined) out.add(at.id);
      }
      return [...out];
    },
  });
  const notification = new NotificationService(
    notificationStore,
    bus,
    {
      devicesOf: (ctx, audience) => client.resolveDevices(ctx, audience),
      insideFence: (ctx, fenceId) => geofence.insideNow(ctx, fenceId),
      deviceName: async (ctx, deviceId) => (await client.getDevice(ctx, deviceId)).name,
    },
    logger,
  );

  const provisioning = new Provisioning({ client, tracker, geofence, notification });
  return {
    client,
    tracker,
    sharing,
    geofence,
    notification,
    provisioning,
    async closeStores() {
      for (const store of [clientStore, trackerStore, geofenceStore, notificationStore]) await store.close();
    },
  };
}

/** Starts every role in this process. */
export async function startPlatform(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<Platform> {
  let ready = false;
  const bus = await openBus(config, logger);
  const services = await createServices(config, bus, logger);
  const { client, tracker, sharing, geofence, notification, provisioning } = services;
  const generatedAdminKey = await client.ensureAdminKey(config.adminKey);
  const http = createHttpServer({
    logger,
    bodyLimit: config.maxFrameBytes,
    ready: () => ready,
    tls: config.tlsCert ? { cert: config.tlsCert, key: config.tlsKey, dir: config.tlsDir || undefined } : undefined,
  });
  registerHosts(http, [config.host, ...config.platformHosts.split(',').map((h) => h.trim()).filter(Boolean)], async (host) => {
    const tenant = await client.tenantByHost(host);
    return tenant && { id: tenant.id, slug: tenant.slug, name: tenant.name };
  });
  const deviceContext = (device: DeviceIdentity): TenantContext => ({ tenantId: device.tenantId, principal: { kind: 'device', ...device } });
  const edgeDeps: EdgeDeps = {
    logger,
    async authenticateDevice(token) {
      const device = await client.authenticateDevice(token);
      return device && { tenantId: device.tenantId, deviceId: device.id };
    },
    async authenticateByUniqueId(uniqueId) {
      const device = await client.authenticateByUniqueId(uniqueId);
      return device && { tenantId: device.tenantId, deviceId: device.id };
    },
    uniqueIdOf: async (device) => (await client.getDevice(deviceContext(device), device.deviceId)).uniqueId,
    owntracksKey: (device) => client.owntracksKey(deviceContext(device), device.deviceId),
    // The people who share with the user who carries this device ("follow me"), newest position each.
    async friendsOf(device) {
      const { userId } = await client.getDevice(deviceContext(device), device.deviceId);
      if (!userId) return [];
      const followed = await sharing.following({ tenantId: device.tenantId, principal: { kind: 'user', tenantId: device.tenantId, userId, role: 'member' } });
      return followed.flatMap((f) => {
        const newest = f.positions.reduce<Position | undefined>((best, p) => (!best || p.time > best.time ? p : best), undefined);
        return newest ? [toFriend(f.name, newest)] : [];
      });
    },
    ingest: (device, fixes) => tracker.ingest(device, fixes),
    async reportingInterval(device, newest) {
      const [boundary, stopped] = await Promise.all([geofence.nearestBoundary(device.tenantId, newest.lon, newest.lat, 5000), tracker.isStopped(device)]);
      return reportingInterval(newest.speed, boundary, stopped);
    },
    pendingFor: (device) => notification.pendingFor(deviceContext(device), device.deviceId),
    markSent: (device, ids) => notification.markSent(deviceContext(device), ids),
    async receipt(device, deliveryId, status, response) {
      await notification.receipt(deviceContext(device), device.deviceId, deliveryId, status, response);
    },
  };
  const edge = await startEdge(http, bus, edgeDeps, {
    maxFrameBytes: config.maxFrameBytes,
    host: config.host,
    osmandPort: config.osmandPort,
    osmandSpeedUnit: config.osmandSpeedUnit,
    mqttPort: config.mqttPort,
    mqttUrl: config.mqttUrl,
  });
  const api: Api = await registerApi(http, { client, tracker, sharing, geofence, notification, provisioning, bus, logger });
  registerStatic(http, { mapStyleUrl: config.mapStyleUrl });
  await tracker.start();
  await geofence.start();
  await notification.start();
  await http.listen({ host: config.host, port: config.port });
  const address = http.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${config.tlsCert ? 'https' : 'http'}://${host}:${address.port}`;
  ready = true;

  let closing: Promise<void> | undefined;
  return {
    config, logger, bus, http, client, tracker, sharing, geofence, notification, provisioning, edge, url, generatedAdminKey,
    close() {
      closing ??= (async () => {
        ready = false;
        await edge.close();
        await http.close();
        await tracker.flush();
        await bus.drain();
        await tracker.stop();
        await api.close();
        await notification.stop();
        await geofence.stop();
        await bus.close();
        await services.closeStores();
      })();
      return closing;
    },
  };
}
