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
import { NotificationService, notificationMigrations, sosRaised, type NotificationDB } from './services/notification/index.js';
import { createHttpServer, type HttpServer } from './http/server.js';
import { toFriend } from './edge/owntracks.js';
import type { Position } from './core/types.js';
import { startEdge, type DeviceIdentity, type Edge, type EdgeDeps } from './edge/index.js';
import { registerApi, type Api } from './api/index.js';

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

/** Starts every role in this process. */
export async function startPlatform(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<Platform> {
  let ready = false;
  const bus = await openBus(config, logger);
  const stores = storeFactory(config);
  const clientStore = await stores.open<ClientDB>('client', clientMigrations);
  const trackerStore = await stores.open<TrackerDB>('tracker', trackerMigrations);
  const geofenceStore = await stores.open<GeofenceDB>('geofence', geofenceMigrations);
  const notificationStore = await stores.open<NotificationDB>('notification', notificationMigrations);

  const client = new ClientService(clientStore, bus);
  const generatedAdminKey = await client.ensureAdminKey(config.adminKey);
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
      async people(ctx, deviceIds, userIds) {
        const wanted = new Set(userIds);
        const carried = new Map<string, string[]>();
        if (deviceIds.length > 0) {
          const named = new Set(deviceIds);
          for (const d of await client.listDevices(ctx)) {
            if (!d.userId || !named.has(d.id)) continue;
            wanted.add(d.userId);
            carried.set(d.userId, [...(carried.get(d.userId) ?? []), d.id]);
          }
        }
        if (wanted.size === 0) return [];
        const users = (await client.listUsers(ctx)).filter((u) => wanted.has(u.id));
        if (users.length < userIds.length) await client.resolveDevices(ctx, { userIds }); // names the unknown user id
        return users.map((u) => ({ id: u.id, name: u.name, email: u.email, deviceIds: carried.get(u.id) ?? [] }));
      },
      lastKnown: async (ctx) => (await tracker.lastKnownPositions(ctx)).map((p) => ({ deviceId: p.deviceId, lon: p.lon, lat: p.lat, time: p.time })),
      createTemporaryFence: async (ctx, name, area) => (await geofence.createFence(ctx, { name, geometry: area.geometry, radius: area.radius, width: area.width })).id,
      deleteFence: (ctx, fenceId) => geofence.deleteFence(ctx, fenceId),
    },
    logger,
    {
      channels: {
        email: { url: config.smtpUrl, from: config.smtpFrom },
        sms: config.smsProvider === 'twilio' ? { provider: 'twilio', baseUrl: config.twilioBaseUrl, accountSid: config.twilioAccountSid, authToken: config.twilioAuthToken, from: config.twilioFrom } : { provider: 'off' },
        vapidSubject: config.vapidSubject,
      },
      outbox: { pollMs: config.outboxPollMs, retryBaseMs: config.outboxRetryMs, maxAttempts: config.outboxMaxAttempts },
      sweepMs: config.notificationSweepMs,
      publicUrl: config.publicUrl || undefined,
    },
  );

  const http = createHttpServer({ logger, bodyLimit: config.maxFrameBytes, ready: () => ready });
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
    async sos(device, { id, fix, text }) {
      // the position goes on the map like any other; the SOS itself goes to the notification service over the bus
      if (fix) await tracker.ingest(device, [fix]);
      await bus.publish(sosRaised, device.deviceId, { id, tenantId: device.tenantId, deviceId: device.deviceId, at: Date.now(), lon: fix?.lon, lat: fix?.lat, text });
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
  const api: Api = await registerApi(http, { client, tracker, sharing, geofence, notification, bus, logger });
  await tracker.start();
  await geofence.start();
  await notification.start();
  await http.listen({ host: config.host, port: config.port });
  const address = http.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  ready = true;

  let closing: Promise<void> | undefined;
  return {
    config, logger, bus, http, client, tracker, sharing, geofence, notification, edge, url, generatedAdminKey,
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
        for (const store of [clientStore, trackerStore, geofenceStore, notificationStore]) await store.close();
      })();
      return closing;
    },
  };
}
