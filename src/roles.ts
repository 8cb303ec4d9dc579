/**
 * The composition root: which parts run in this process, on which adapters, wired in this order:
 * bus and stores → services → edge and api on the HTTP listener → background consumers → demo.
 */
import type { AddressInfo } from 'node:net';
import { ROLES, type Config, type Role } from './config.js';
import { createLogger, Phases, type Logger } from './core/log.js';
import { notFound } from './core/errors.js';
import { systemContext, type TenantContext } from './core/tenancy.js';
import { MemoryBus } from './adapters/bus-memory.js';
import { NatsBus } from './adapters/bus-nats.js';
import { SqliteStoreFactory } from './adapters/store-sqlite.js';
import { PostgresStoreFactory } from './adapters/store-postgres.js';
import type { Bus, Subscription } from './ports/bus.js';
import type { Migration, Store, StoreFactory } from './ports/store.js';
import type { GroupsOf, PositionSource } from './services/geofence/index.js';
import type { EventSource, Resolvers } from './services/notification/index.js';
import { ClientService, clientMigrations, type ClientDB } from './services/client/index.js';
import { reportingInterval, shareChanged, Sharing, TrackerService, trackerMigrations, type TrackerDB } from './services/tracker/index.js';
import { GeofenceService, geofenceMigrations, type GeofenceDB } from './services/geofence/index.js';
import { NotificationService, notificationMigrations, sosRaised, type NotificationDB, type SosRaised, type Webhooks } from './services/notification/index.js';
import { createHttpServer, LISTEN_BACKLOG, type HttpServer } from './http/server.js';
import { registerHosts } from './http/hosts.js';
import { startEdge, type DeviceIdentity, type Edge, type EdgeDeps } from './edge/index.js';
import { registerApi, type Api } from './api/index.js';
import { registerStatic } from './http/static.js';
import { Provisioning } from './provisioning/index.js';
import { LeasedOwnership } from './cluster/leases.js';
import { remote, serve } from './cluster/rpc.js';
import {
  clientMethods, geofenceMethods, notificationMethods, sharingMethods, trackerByKey, trackerMethods, webhookMethods,
  type ClientApi, type GeofenceApi, type NotificationApi, type SharingApi, type TrackerApi, type WebhooksApi,
} from './cluster/surfaces.js';

export interface Platform {
  readonly config: Config;
  readonly logger: Logger;
  readonly bus: Bus;
  readonly http: HttpServer;
  /** The roles running in this process. */
  readonly roles: readonly Role[];
  /** Each service through its surface: the service itself when its role runs here, a proxy over the bus otherwise. */
  readonly client: ClientApi;
  readonly tracker: TrackerApi;
  readonly sharing: SharingApi;
  readonly geofence: GeofenceApi;
  readonly notification: NotificationApi;
  /** The notification service's geofence event subscriptions (webhooks). */
  readonly webhooks: WebhooksApi;
  /** The services whose roles run in this process (all of them in the embedded deployment). */
  readonly local: { client?: ClientService; tracker?: TrackerService; sharing?: Sharing; geofence?: GeofenceService; notification?: NotificationService };
  /** Whole-customer operations, spanning every service (through their surfaces: local or remote). */
  readonly provisioning: Provisioning;
  /** The edge, when that role runs here. */
  readonly edge: Edge | undefined;
  /** Base URL of the HTTP listener, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** The admin key, when this start generated one (it is printed once and kept only hashed). */
  readonly generatedAdminKey: string | undefined;
  /** Readiness false, stops accepting (devices told to reconnect elsewhere), drains in-flight work, hands partitions on, closes stores. */
  close(): Promise<void>;
  /** The phase of close() in progress and for how long, e.g. "handing partitions on (3012 ms)" (for the log when the stop overruns). */
  stoppingPhase(): string | undefined;
}

/** The bus of this process: in-process, or NATS JetStream shared with the other processes of a cluster. */
export async function openBus(config: Config, logger: Logger): Promise<Bus> {
  return config.bus === 'nats' ? NatsBus.connect({ servers: config.natsUrl, prefix: config.natsPrefix, logger, ackWaitMs: config.natsAckWaitMs, handlers: config.natsHandlers }) : new MemoryBus({ logger });
}

export function storeFactory(config: Config): StoreFactory {
  return config.store === 'postgres'
    ? new PostgresStoreFactory({ connectionString: config.databaseUrl, schemaPrefix: config.databaseSchemaPrefix, poolSize: config.databasePool })
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

/** Every service in this process (the CLI and the embedded deployment): no proxies, no ownership. */
export async function createServices(config: Config, bus: Bus, logger: Logger): Promise<Services> {
  const stores = storeFactory(config);
  const clientStore = await stores.open<ClientDB>('client', clientMigrations);
  const trackerStore = await stores.open<TrackerDB>('tracker', trackerMigrations);
  const geofenceStore = await stores.open<GeofenceDB>('geofence', geofenceMigrations);
  const notificationStore = await stores.open<NotificationDB>('notification', notificationMigrations);
  const client = new ClientService(clientStore, bus);
  const tracker = new TrackerService(trackerStore, bus, { groupCommitMs: config.groupCommitMs, groupCommitMax: config.groupCommitMax, logger });
  const sharing = newSharing(trackerStore, client, tracker, bus);
  const geofence = new GeofenceService(geofenceStore, bus, logger, { groupsOf: groupsOf(client) });
  const notification = new NotificationService(notificationStore, bus, resolvers(client, geofence, tracker), logger, notificationOptions(config));
  return {
    client, tracker, sharing, geofence, notification,
    provisioning: new Provisioning({ client, tracker, geofence, notification }),
    async closeStores() {
      for (const store of [clientStore, trackerStore, geofenceStore, notificationStore]) await store.close();
    },
  };
}

/** Follow me, in the tracker's store; share changes go out on the bus so followers' live views change at once. */
function newSharing(store: Store<TrackerDB>, client: ClientApi, tracker: TrackerApi, bus: Bus): Sharing {
  return new Sharing(store, sharingDeps(client), (ctx, deviceIds) => tracker.lastKnownPositions(ctx, deviceIds), (change) => bus.publish(shareChanged, change.ownerUserId, change));
}

function sharingDeps(client: ClientApi): ConstructorParameters<typeof Sharing>[1] {
  return {
    devicesOfUser: (ctx, userId) => client.devicesOfUser(ctx, userId),
    groupsOfUser: (ctx, userId) => client.groupsOfUser(ctx, userId),
    userName: async (ctx, userId) => (await client.getUser(ctx, userId)).name,
    checkAudience: async (ctx, audience) => void (await client.resolveDevices(ctx, audience)),
    async usersInGroups(ctx, groupIds) {
      const groups = await client.listGroups(ctx);
      const parent = new Map(groups.map((g) => [g.id, g.parentId]));
      const wanted = new Set(groupIds);
      const within = (id: string | null | undefined): boolean => {
        for (const seen = new Set<string>(); id && !seen.has(id); id = parent.get(id)) {
          if (wanted.has(id)) return true;
          seen.add(id);
        }
        return false;
      };
      return [...new Set(groups.filter((g) => within(g.id)).flatMap((g) => g.members.userIds))];
    },
  };
}

/** The tracker's positions as the geofence service's catch-up reads them (geofence/catch-up.ts). */
function positionsOf(tracker: TrackerService): PositionSource {
  return {
    lastKnown: async (tenantId) => (await tracker.lastKnownPositions(systemContext(tenantId))).map((p) => ({ deviceId: p.deviceId, time: p.time })),
    after: (tenantId, deviceId, after, limit) => tracker.history(systemContext(tenantId), deviceId, { after, limit }),
  };
}

/** The geofence service's events as the notification service's catch-up reads them (notification/catch-up.ts). */
function eventsOf(geofence: GeofenceService): EventSource {
  return { eventsAfter: (tenantId, from, cursor, limit) => geofence.eventsAfter(systemContext(tenantId), from, cursor, limit) };
}

/**
 * The one thing the geofence service needs of the client service: a device's groups (with the
 * groups above them), through the client's public surface, cached there until client.changed.
 */
function groupsOf(client: ClientApi): GroupsOf {
  return async (ctx, deviceId) => {
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
  };
}

function resolvers(client: ClientApi, geofence: GeofenceApi, tracker: TrackerApi): Resolvers {
  return {
    devicesOf: (ctx, audience) => client.resolveDevices(ctx, audience),
    insideFence: (ctx, fenceId) => geofence.insideNow(ctx, fenceId),
    deviceName: async (ctx, deviceId) => (await client.getDevice(ctx, deviceId)).name,
    async describeDevice(ctx, deviceId) {
      const { devices, users } = await client.peopleOf(ctx, { deviceIds: [deviceId] });
      if (!devices[0]) throw notFound('device', deviceId);
      return { name: devices[0].name, person: users[0]?.name ?? null };
    },
    async people(ctx, deviceIds, userIds) {
      if (deviceIds.length === 0 && userIds.length === 0) return [];
      const { devices, users } = await client.peopleOf(ctx, { deviceIds, userIds });
      const carried = new Map<string, string[]>();
      for (const d of devices) if (d.userId) carried.set(d.userId, [...(carried.get(d.userId) ?? []), d.id]);
      return users.map((u) => ({ id: u.id, name: u.name, email: u.email, deviceIds: carried.get(u.id) ?? [] }));
    },
    lastKnown: async (ctx) => (await tracker.lastKnownPositions(ctx)).map((p) => ({ deviceId: p.deviceId, lon: p.lon, lat: p.lat, time: p.time })),
    createTemporaryFence: async (ctx, name, area) => (await geofence.createFence(ctx, { name, geometry: area.geometry, radius: area.radius, width: area.width })).id,
    deleteFence: (ctx, fenceId) => geofence.deleteFence(ctx, fenceId),
    emailFrom: async (tenantId) => (await client.getBranding(tenantId)).emailFrom,
    async messagesPerDay(ctx) {
      const { plan } = await client.getTenant(ctx.tenantId);
      return { plan: plan.name, limit: plan.quotas.messagesPerDay };
    },
  };
}

/** The notification service's channels, outbox and sweeps, from configuration. */
function notificationOptions(config: Config) {
  return {
    channels: {
      email: { url: config.smtpUrl, from: config.smtpFrom },
      sms: config.smsProvider === 'twilio' ? { provider: 'twilio' as const, baseUrl: config.twilioBaseUrl, accountSid: config.twilioAccountSid, authToken: config.twilioAuthToken, from: config.twilioFrom, timeoutMs: config.twilioTimeoutMs } : { provider: 'off' as const },
      vapidSubject: config.vapidSubject,
    },
    outbox: { pollMs: config.outboxPollMs, retryBaseMs: config.outboxRetryMs, maxAttempts: config.outboxMaxAttempts, leaseMs: config.outboxLeaseMs },
    webhooks: { pollMs: config.outboxPollMs, retryBaseMs: config.webhookRetryMs, maxAttempts: config.webhookMaxAttempts, maxAgeMs: config.webhookMaxAgeMs, timeoutMs: config.webhookTimeoutMs, concurrency: config.webhookConcurrency },
    sweepMs: config.notificationSweepMs,
    publicUrl: config.publicUrl || undefined,
  };
}

/** Starts the roles of `config.roles` in this process: every one in the embedded deployment, a subset in a cluster. */
export async function startPlatform(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<Platform> {
  let ready = false;
  const roles = config.roles;
  const has = (role: Role) => roles.includes(role);
  const cluster = roles.length < ROLES.length;
  // Each phase of the start is timed and logged once ready: where a slow start spent its time.
  const starting = new Phases();
  starting.begin('bus');
  const bus = await openBus(config, logger);
  const stores = storeFactory(config);
  const opened: { close(): Promise<void> }[] = [];
  const open = async <DB>(name: string, migrations: Migration[]) => {
    starting.begin(`${name} store`);
    const store = await stores.open<DB>(name, migrations);
    opened.push(store);
    starting.end();
    return store;
  };
  // Cluster: partitions of devices are owned by one tracker, one geofence and one notification process at a time.
  const ownerships: LeasedOwnership[] = [];
  const ownership = async (name: string) => {
    if (!cluster) return undefined;
    starting.begin(`${name} leases`);
    // joined now, partitions taken once the process is otherwise ready (below)
    const o = await LeasedOwnership.join(bus, { name, partitions: (bus as NatsBus).partitions, ttlMs: config.leaseMs, logger });
    ownerships.push(o);
    starting.end();
    return o;
  };

  // ---- the services of this process, or proxies of them ----
  // Aborted when close() begins: the proxies stop waiting for services that no longer answer (rpc.ts).
  const stopped = new AbortController();
  const stopping = stopped.signal;
  const local: Platform['local'] = {};
  let generatedAdminKey: string | undefined;
  if (has('client')) {
    local.client = new ClientService(await open<ClientDB>('client', clientMigrations), bus);
    generatedAdminKey = await local.client.ensureAdminKey(config.adminKey);
  }
  const client: ClientApi = local.client ?? remote<ClientService, (typeof clientMethods)[number]>(bus, 'client', clientMethods, { batch: ['authenticateDevice', 'peopleOf', 'resolveDevices'], stopping, logger });
  const trackerOwnership = has('tracker') ? await ownership('tracker') : undefined;
  if (has('tracker')) {
    const trackerStore = await open<TrackerDB>('tracker', trackerMigrations);
    local.tracker = new TrackerService(trackerStore, bus, { groupCommitMs: config.groupCommitMs, groupCommitMax: config.groupCommitMax, logger, ownership: trackerOwnership, offlineSweepMs: config.offlineSweepMs });
    const tracker = local.tracker;
    local.sharing = newSharing(trackerStore, client, tracker, bus);
  }
  // In a cluster a device's calls go to the owner of its partition, which may be another process even
  // where a tracker runs here: that one refuses devices it does not own (NotOwner).
  const tracker: TrackerApi =
    (cluster ? undefined : local.tracker) ??
    remote<TrackerService, (typeof trackerMethods)[number]>(bus, 'tracker', trackerMethods, {
      byKey: { ingest: (device) => device.deviceId, isStopped: (device) => device.deviceId },
      batch: trackerByKey,
      partitions: cluster ? (bus as NatsBus).partitions : undefined,
      stopping,
      logger,
    });
  const sharing: SharingApi = local.sharing ?? remote<Sharing, (typeof sharingMethods)[number]>(bus, 'sharing', sharingMethods, { stopping });
  if (has('geofence')) {
    local.geofence = new GeofenceService(await open<GeofenceDB>('geofence', geofenceMigrations), bus, logger, {
      groupsOf: groupsOf(client),
      ownership: await ownership('geofence'),
      // the in-process bus keeps nothing across a crash: positions the tracker committed are read back from it
      catchUp: !cluster && config.catchUp === 'on' && local.tracker ? positionsOf(local.tracker) : undefined,
    });
  }
  const geofence: GeofenceApi = local.geofence ?? remote<GeofenceService, (typeof geofenceMethods)[number]>(bus, 'geofence', geofenceMethods, { batch: ['nearestBoundary'], stopping, logger });
  if (has('notification')) {
    local.notification = new NotificationService(
      await open<NotificationDB>('notification', notificationMigrations),
      bus,
      resolvers(client, geofence, tracker),
      logger,
      // the in-process bus keeps nothing across a crash: fence events the geofence service committed are read back from it
      {
        ...notificationOptions(config),
        catchUp: !cluster && config.catchUp === 'on' && local.geofence ? eventsOf(local.geofence) : undefined,
        ownership: await ownership('notification'),
      },
    );
  }
  const notification: NotificationApi =
    local.notification ?? remote<NotificationService, (typeof notificationMethods)[number]>(bus, 'notification', notificationMethods, { batch: ['pendingFor', 'markSent', 'receipt'], stopping, logger });
  const webhooks: WebhooksApi = local.notification?.webhooks ?? remote<Webhooks, (typeof webhookMethods)[number]>(bus, 'webhooks', webhookMethods, { stopping });

  // ---- the HTTP listener: edge and api, and in every process /healthz, /readyz, /metrics ----
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
  // Through each service's surface: in a cluster the services it spans answer from their own processes.
  const provisioning = new Provisioning({ client, tracker, geofence, notification });
  let edge: Edge | undefined;
  let api: Api | undefined;
  if (has('edge')) {
    // Embedded: the in-process bus keeps nothing across a crash, so an SOS is kept before its ack.
    const keepSos = cluster ? undefined : local.notification?.keepSos.bind(local.notification);
    edge = await startEdge(http, bus, edgeDeps(logger, bus, client, tracker, sharing, geofence, notification, keepSos), {
      maxFrameBytes: config.maxFrameBytes,
      host: config.host,
      osmandPort: config.osmandPort,
      osmandSpeedUnit: config.osmandSpeedUnit,
      mqttPort: config.mqttPort,
      mqttUrl: config.mqttUrl,
      mqttShareGroup: config.mqttShareGroup,
    });
  }
  if (has('api')) {
    api = await registerApi(http, { client, tracker, sharing, geofence, notification, webhooks, provisioning, bus, logger });
    registerStatic(http, { mapStyleUrl: config.mapStyleUrl });
  }

  // ---- background work, then answering other processes ----
  for (const [name, service] of Object.entries({ tracker: local.tracker, geofence: local.geofence, notification: local.notification })) {
    if (!service) continue;
    starting.begin(`${name} start`);
    await service.start();
  }
  starting.begin('responders');
  const served: Subscription[] = [];
  if (cluster) {
    if (local.client) served.push(await serve(bus, 'client', local.client, clientMethods, { logger }));
    if (local.tracker) served.push(await serve(bus, 'tracker', local.tracker, trackerMethods, { byKey: trackerByKey, owner: trackerOwnership, logger }));
    if (local.sharing) served.push(await serve(bus, 'sharing', local.sharing, sharingMethods, { logger }));
    if (local.geofence) served.push(await serve(bus, 'geofence', local.geofence, geofenceMethods, { logger }));
    if (local.notification) served.push(await serve(bus, 'notification', local.notification, notificationMethods, { logger }));
    if (local.notification) served.push(await serve(bus, 'webhooks', local.notification.webhooks, webhookMethods, { logger }));
  }
  starting.begin('listen');
  await http.listen({ host: config.host, port: config.port, backlog: LISTEN_BACKLOG });
  // Last: the first share of partitions. Their backlog (a restart takes over a dead process's
  // partitions) is worked through after ready, not in competition with the start.
  starting.begin('first partitions');
  await Promise.all(ownerships.map((o) => o.run()));
  starting.end();
  const address = http.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${config.tlsCert ? 'https' : 'http'}://${host}:${address.port}`;
  ready = true;
  const timing = { ms: starting.total, phases: starting.ms };
  if (cluster) logger.info({ roles, url, ...timing }, `roles ${roles.join(', ')} ready in ${starting.total} ms`);
  else logger.debug(timing, `ready in ${starting.total} ms`);

  let closing: Promise<void> | undefined;
  let stopPhases: Phases | undefined; // timed from the moment close() begins
  return {
    config, logger, bus, http, roles, client, tracker, sharing, geofence, notification, webhooks, local, provisioning, edge, url, generatedAdminKey,
    stoppingPhase: () => stopPhases?.current,
    close() {
      closing ??= (async () => {
        ready = false;
        stopped.abort();
        const phases = (stopPhases = new Phases());
        phases.begin('edge');
        await edge?.close(); // device sockets closed with 1001: they reconnect to another edge
        phases.begin('http');
        await http.close();
        phases.begin('tracker flush');
        await local.tracker?.flush();
        phases.begin('bus drain');
        await bus.drain();
        // Together: answers in progress finish while partitions are handed on (work stops, state
        // written back, leases deleted). One after the other, answers waited for database connections
        // held by consumers' handlers that had not been told to stop yet.
        phases.begin('responders and handing partitions on');
        await Promise.all([...served.map((s) => s.close()), ...ownerships.map((o) => o.stop())]);
        phases.begin('tracker stop');
        await local.tracker?.stop();
        phases.begin('api');
        await api?.close();
        phases.begin('notification stop');
        await local.notification?.stop();
        phases.begin('geofence stop');
        await local.geofence?.stop();
        phases.begin('bus close');
        await bus.close();
        phases.begin('stores');
        for (const store of opened) await store.close();
        phases.end();
        if (cluster) logger.info({ ms: phases.total, phases: phases.ms }, `stopped in ${phases.total} ms`);
      })();
      return closing;
    },
  };
}

/** What the edge asks of the services, wired to their surfaces (local or remote). */
function edgeDeps(
  logger: Logger,
  bus: Bus,
  client: ClientApi,
  tracker: TrackerApi,
  sharing: SharingApi,
  geofence: GeofenceApi,
  notification: NotificationApi,
  keepSos: ((sos: SosRaised) => Promise<void>) | undefined,
): EdgeDeps {
  const deviceContext = (device: DeviceIdentity): TenantContext => ({ tenantId: device.tenantId, principal: { kind: 'device', ...device } });
  const deviceTopics = (ctx: TenantContext, deviceIds: string[]) =>
    Promise.all(deviceIds.map(async (deviceId) => ({ deviceId, uniqueId: (await client.getDevice(ctx, deviceId)).uniqueId })));
  return {
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
    // "Follow me": the people who share with the user who carries this device, and the other way round.
    async following(device) {
      const { userId } = await client.getDevice(deviceContext(device), device.deviceId);
      if (!userId) return [];
      const followed = await sharing.following({ tenantId: device.tenantId, principal: { kind: 'user', tenantId: device.tenantId, userId, role: 'member' } });
      const ctx = systemContext(device.tenantId);
      return Promise.all(followed.map(async (f) => {
        const byDevice = new Map(f.positions.map((p) => [p.deviceId, p]));
        const devices = (await client.devicesOfUser(ctx, f.userId)).map((deviceId) => ({ deviceId, position: byDevice.get(deviceId) }));
        return { userId: f.userId, name: f.name, expiresAt: f.expiresAt, devices };
      }));
    },
    async watchersOf(device) {
      const ctx = systemContext(device.tenantId);
      const { userId } = await client.getDevice(ctx, device.deviceId);
      if (!userId) return undefined;
      const followers = await sharing.followersOf(ctx, userId);
      return {
        ownerUserId: userId,
        name: (await client.getUser(ctx, userId)).name,
        followers: await Promise.all(followers.map(async (f) => ({ ...f, devices: await deviceTopics(ctx, await client.devicesOfUser(ctx, f.userId)) }))),
      };
    },
    devicesOfUser: (tenantId, userId) => client.devicesOfUser(systemContext(tenantId), userId),
    async devicesOfAudience(tenantId, audience) {
      const ctx = systemContext(tenantId);
      return deviceTopics(ctx, await client.resolveDevices(ctx, audience));
    },
    lastKnown: async (device) => (await tracker.lastKnownPositions(systemContext(device.tenantId), [device.deviceId]))[0],
    saveRegion: async (device, region) => void (await geofence.saveDeviceRegion(systemContext(device.tenantId), device.deviceId, region)),
    reportEvent: async (device, report) => void (await geofence.recordReportedEvent(systemContext(device.tenantId), device.deviceId, report)),
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
      // The position goes on the map like any other; the SOS itself goes to the notification service
      // over the bus, which in a cluster keeps it before the ack. Embedded, the notification service
      // keeps it first (keepSos), and the bus's copy only tells the live stream.
      if (fix) await tracker.ingest(device, [fix]);
      const sos: SosRaised = { id, tenantId: device.tenantId, deviceId: device.deviceId, at: Date.now(), lon: fix?.lon, lat: fix?.lat, accuracy: fix?.accuracy, text };
      if (keepSos) await keepSos(sos);
      await bus.publish(sosRaised, device.deviceId, keepSos ? { ...sos, kept: true } : sos);
    },
  };
}
