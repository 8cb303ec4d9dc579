/**
 * Every setting is an environment variable (FOLLOWME_<SETTING>; HOST and PORT for the main
 * listener), validated at start. docs/configuration.md lists the same table; a test keeps them in step.
 */
import { resolve } from 'node:path';

interface Setting<T> {
  env: string;
  doc: string;
  default: string;
  parse(raw: string): T;
}

function text(env: string, fallback: string, doc: string): Setting<string> {
  return { env, doc, default: fallback, parse: (raw) => raw };
}

function integer(env: string, fallback: number, min: number, max: number, doc: string): Setting<number> {
  return {
    env,
    doc,
    default: String(fallback),
    parse(raw) {
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${env} must be a whole number from ${min} to ${max}, got "${raw}"`);
      return value;
    },
  };
}

function oneOf<const T extends string>(env: string, values: readonly T[], fallback: T, doc: string): Setting<T> {
  return {
    env,
    doc,
    default: fallback,
    parse(raw) {
      if (!(values as readonly string[]).includes(raw)) throw new Error(`${env} must be one of ${values.join(', ')}, got "${raw}"`);
      return raw as T;
    },
  };
}

/** An mqtt://, mqtts://, ws:// or wss:// URL, or empty. */
function url(env: string, fallback: string, doc: string): Setting<string> {
  return {
    env,
    doc,
    default: fallback,
    parse(raw) {
      if (raw !== '' && !/^(mqtts?|wss?):\/\/[^/\s]+/.test(raw)) throw new Error(`${env} must be an mqtt:// or mqtts:// URL such as mqtt://127.0.0.1:1883, got "${raw}"`);
      return raw;
    },
  };
}

/** A name of letters, digits, `-` and `_` (an MQTT shared subscription group: no `/`, `+` or `#`). */
function name(env: string, fallback: string, doc: string): Setting<string> {
  return {
    env,
    doc,
    default: fallback,
    parse(raw) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw)) throw new Error(`${env} must be 1 to 64 letters, digits, "-" or "_", got "${raw}"`);
      return raw;
    },
  };
}

/** A port that may also be switched off: a number from 0 (any free port) to 65535, or "off". */
function portOrOff(env: string, fallback: number, doc: string): Setting<number | 'off'> {
  const port = integer(env, fallback, 0, 65535, doc);
  return { ...port, parse: (raw) => (raw === 'off' ? 'off' : port.parse(raw)) };
}

export const ROLES = ['edge', 'api', 'client', 'tracker', 'geofence', 'notification'] as const;
export type Role = (typeof ROLES)[number];

/** A comma-separated subset of the roles; "all" for every one. */
function roles(env: string, doc: string): Setting<Role[]> {
  return {
    env,
    doc,
    default: 'all',
    parse(raw) {
      if (raw.trim() === 'all') return [...ROLES];
      const list = raw.split(',').map((r) => r.trim()).filter((r) => r !== '');
      const unknown = list.filter((r) => !(ROLES as readonly string[]).includes(r));
      if (unknown.length > 0 || list.length === 0) throw new Error(`${env} must be "all" or a comma-separated list of ${ROLES.join(', ')}, got "${raw}"`);
      return ROLES.filter((r) => list.includes(r));
    },
  };
}

export const settings = {
  host: text('HOST', '127.0.0.1', 'Address of the main HTTP listener (API, Control Center, native device WebSocket).'),
  port: integer('PORT', 8080, 0, 65535, 'Port of the main HTTP listener; 0 picks a free one.'),
  dataDir: text('FOLLOWME_DATA_DIR', './data', 'Folder for the SQLite databases and generated secrets (embedded deployment).'),
  adminKey: {
    env: 'FOLLOWME_ADMIN_KEY',
    default: '',
    doc: 'Platform admin API key: "fma_" and at least 16 more characters. Empty: one is generated on first start, printed once and kept (hashed) in the data folder.',
    parse(raw: string): string {
      if (raw !== '' && !/^fma_[A-Za-z0-9_-]{16,}$/.test(raw)) throw new Error('FOLLOWME_ADMIN_KEY must be "fma_" followed by at least 16 letters, digits, "-" or "_"');
      return raw;
    },
  },
  catchUp: oneOf('FOLLOWME_CATCH_UP', ['on', 'off'], 'on', 'Embedded deployment: at start, evaluate the positions and handle the fence events that the in-process bus lost in an unclean stop (off only to diagnose; a cluster relies on JetStream instead).'),
  demo: oneOf('FOLLOWME_DEMO', ['on', 'off'], 'on', 'On first start with an empty data folder, provision a demo tenant and run the device simulator.'),
  demoDevices: integer('FOLLOWME_DEMO_DEVICES', 100, 1, 10_000, 'How many simulated devices the demo moves about.'),
  logLevel: oneOf('FOLLOWME_LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info', 'Log level of the structured (JSON) log on stdout.'),
  store: oneOf('FOLLOWME_STORE', ['sqlite', 'postgres'], 'sqlite', 'Store adapter: embedded SQLite files, or PostgreSQL.'),
  databaseUrl: text('FOLLOWME_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/test', 'PostgreSQL connection string (FOLLOWME_STORE=postgres).'),
  databaseSchemaPrefix: text('FOLLOWME_DATABASE_SCHEMA_PREFIX', 'followme_', 'Prefix of the PostgreSQL schema names, one schema per service (followme_client, followme_tracker, …).'),
  databasePool: integer('FOLLOWME_DATABASE_POOL', 10, 1, 1000, 'PostgreSQL connections per service store in each process (FOLLOWME_STORE=postgres); size it so that processes × services × pool stays below the server\'s max_connections.'),
  bus: oneOf('FOLLOWME_BUS', ['memory', 'nats'], 'memory', 'Bus adapter: in-process (one process runs every role), or NATS JetStream (a cluster).'),
  natsUrl: text('FOLLOWME_NATS_URL', 'nats://127.0.0.1:4222', 'NATS server URL(s), comma-separated (FOLLOWME_BUS=nats); the server needs JetStream (-js).'),
  natsPrefix: {
    env: 'FOLLOWME_NATS_PREFIX',
    default: 'followme',
    doc: 'First subject token of everything the bus sends and prefix of its stream and bucket names (FOLLOWME_BUS=nats): deployments sharing one NATS need different ones.',
    parse(raw: string): string {
      if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw new Error(`FOLLOWME_NATS_PREFIX must be letters, digits, "-" and "_", got "${raw}"`);
      return raw;
    },
  },
  roles: roles('FOLLOWME_ROLES', 'Which parts run in this process: "all" (embedded), or some of edge, api, client, tracker, geofence, notification (a cluster: needs FOLLOWME_BUS=nats and FOLLOWME_STORE=postgres). `--roles` on the command line wins.'),
  natsAckWaitMs: integer('FOLLOWME_NATS_ACK_WAIT_MS', 30_000, 500, 600_000, 'How long NATS waits for a worker to acknowledge a message before handing it to another (FOLLOWME_BUS=nats): the longest a message held by a killed worker waits.'),
  natsHandlers: integer('FOLLOWME_NATS_HANDLERS', 128, 1, 100_000, 'Handlers of owned consumers running at once in one process, over every topic and partition (FOLLOWME_BUS=nats): more queue more database work ahead of interactive calls; fewer batch less (watch followme_bus_handlers).'),
  leaseMs: integer('FOLLOWME_LEASE_MS', 10_000, 300, 600_000, 'How long a partition lease lasts without renewal (cluster): the longest a killed worker\'s partitions wait for a new owner.'),
  sqliteSync: oneOf('FOLLOWME_SQLITE_SYNC', ['full', 'normal'], 'full', 'SQLite synchronous mode: "full" survives power loss (one fsync per group commit), "normal" only process crashes.'),
  groupCommitMs: integer('FOLLOWME_GROUP_COMMIT_MS', 2, 0, 1000, 'How long the tracker gathers positions into one transaction before it commits and acknowledges them.'),
  groupCommitMax: integer('FOLLOWME_GROUP_COMMIT_MAX', 2000, 1, 100_000, 'Most positions in one group commit.'),
  platformHosts: text('FOLLOWME_PLATFORM_HOSTS', 'localhost,127.0.0.1,::1', "The platform's own host names (comma-separated; HOST is added). Other hosts must be a tenant's custom domain, or pages answer with a neutral 404."),
  tlsCert: text('FOLLOWME_TLS_CERT', '', 'PEM certificate (chain) file of the main listener: set with FOLLOWME_TLS_KEY to serve HTTPS; the default certificate.'),
  tlsKey: text('FOLLOWME_TLS_KEY', '', 'PEM private key file for FOLLOWME_TLS_CERT.'),
  tlsDir: text('FOLLOWME_TLS_DIR', '', 'Folder of per-domain certificates, chosen by SNI: <host>.crt and <host>.key (custom domains); hosts without one get the default certificate.'),
  maxFrameBytes: integer('FOLLOWME_MAX_FRAME_BYTES', 1_048_576, 1024, 67_108_864, 'Largest WebSocket frame or HTTP body accepted from a device.'),
  osmandPort: portOrOff('FOLLOWME_OSMAND_PORT', 5055, 'Port of the OsmAnd protocol listener (Traccar Client app, many trackers), on HOST; 0 picks a free one, "off" disables it.'),
  osmandSpeedUnit: oneOf('FOLLOWME_OSMAND_SPEED_UNIT', ['knots', 'kmh', 'mps'], 'knots', 'Unit of `speed` in OsmAnd query strings and forms: knots (what the protocol and Traccar Client send), kmh or mps.'),
  mqttPort: portOrOff('FOLLOWME_MQTT_PORT', 1884, 'Port of the embedded MQTT broker for OwnTracks apps (username = OwnTracks user, password = device token), on HOST; 0 picks a free one, "off" disables it. 1884, not 1883, so it never clashes with a broker already there.'),
  mqttUrl: url('FOLLOWME_MQTT_URL', '', 'External MQTT broker to take OwnTracks messages from (e.g. mqtt://user:pass@127.0.0.1:1883), with the shared subscription $share/followme/owntracks/#; the topic USER/DEVICE names the device by its unique id. Empty: none.'),
  mqttShareGroup: name('FOLLOWME_MQTT_SHARE_GROUP', 'followme', 'Shared subscription group on the external MQTT broker ($share/<group>/owntracks/…): the workers of one deployment share the messages; two deployments on one broker need two groups, or each gets only part of them.'),
  mapStyleUrl: {
    env: 'FOLLOWME_MAP_STYLE_URL',
    default: '',
    doc: 'MapLibre style URL of the base map in the Control Center and member app (e.g. a vector-tile style of your tile server). Empty: the bundled offline background (country outlines and a graticule).',
    parse(raw: string): string {
      if (raw !== '' && !/^(https?:\/\/[^/\s]+|\/)\S*$/.test(raw)) throw new Error(`FOLLOWME_MAP_STYLE_URL must be an http(s):// URL or a path such as /styles/streets.json, got "${raw}"`);
      return raw;
    },
  },
  publicUrl: text('FOLLOWME_PUBLIC_URL', '', 'Public base URL of the Control Center, for links to the live map in messages ({link}); empty: no links.'),
  smtpUrl: text('FOLLOWME_SMTP_URL', '', 'SMTP server for the e-mail channel, e.g. smtp://user:pass@mail.example:587 or smtps://…; empty: e-mail is off.'),
  smtpFrom: text('FOLLOWME_SMTP_FROM', 'Follow Me <noreply@followme.local>', 'Sender address of notification e-mail.'),
  smsProvider: oneOf('FOLLOWME_SMS_PROVIDER', ['off', 'twilio'], 'off', 'SMS provider of the SMS channel.'),
  twilioAccountSid: text('FOLLOWME_TWILIO_ACCOUNT_SID', '', 'Twilio account SID (FOLLOWME_SMS_PROVIDER=twilio).'),
  twilioAuthToken: text('FOLLOWME_TWILIO_AUTH_TOKEN', '', 'Twilio auth token.'),
  twilioFrom: text('FOLLOWME_TWILIO_FROM', '', 'Sending number (E.164) or messaging service of the Twilio account.'),
  twilioBaseUrl: text('FOLLOWME_TWILIO_BASE_URL', 'https://api.twilio.com', "Base URL of Twilio's REST API."),
  twilioTimeoutMs: integer('FOLLOWME_TWILIO_TIMEOUT_MS', 10_000, 100, 120_000, 'How long Twilio may take to answer a send before its outcome counts as unknown (looked up in Twilio\'s message list before any resend).'),
  vapidSubject: text('FOLLOWME_VAPID_SUBJECT', 'mailto:admin@followme.local', 'Contact (mailto: or https: URL) sent to Web Push services with every push; the VAPID key pair is generated on first start and kept.'),
  outboxPollMs: integer('FOLLOWME_OUTBOX_POLL_MS', 1000, 10, 60_000, 'How often the notification outbox looks for due sends (new messages wake it at once).'),
  outboxRetryMs: integer('FOLLOWME_OUTBOX_RETRY_MS', 2000, 10, 3_600_000, 'First retry delay of a failed channel send; it doubles with every attempt, up to an hour.'),
  outboxMaxAttempts: integer('FOLLOWME_OUTBOX_MAX_ATTEMPTS', 8, 1, 100, 'Attempts of a channel send before it is marked failed (or unknown, when the last attempt may have reached the provider).'),
  webhookRetryMs: integer('FOLLOWME_WEBHOOK_RETRY_MS', 10_000, 10, 3_600_000, 'First retry delay of a failed geofence webhook delivery; it doubles with every attempt, up to an hour, with jitter (half of it random).'),
  webhookMaxAttempts: integer('FOLLOWME_WEBHOOK_MAX_ATTEMPTS', 12, 1, 100, 'Attempts of a geofence webhook delivery before it goes to the dead-letter list.'),
  webhookMaxAgeMs: integer('FOLLOWME_WEBHOOK_MAX_AGE_MS', 86_400_000, 1000, 30 * 86_400_000, 'A geofence webhook delivery not delivered this long after it was queued (or replayed) goes to the dead-letter list.'),
  webhookTimeoutMs: integer('FOLLOWME_WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000, 'How long a geofence webhook receiver may take to answer before the attempt counts as failed.'),
  webhookConcurrency: integer('FOLLOWME_WEBHOOK_CONCURRENCY', 4, 1, 100, 'Geofence webhook requests in flight per subscription at most, per notification process: a slow receiver holds only its own.'),
  notificationSweepMs: integer('FOLLOWME_NOTIFICATION_SWEEP_MS', 1000, 10, 60_000, 'How often expiry, escalation deadlines and live-zone windows are checked.'),
  outboxLeaseMs: integer('FOLLOWME_OUTBOX_LEASE_MS', 60_000, 100, 3_600_000, 'How long a claimed channel send is reserved for the process that claimed it: after a crash, the longest it waits to be taken up (an SMS with an unknown outcome is then reconciled with the provider first).'),
  offlineSweepMs: integer('FOLLOWME_OFFLINE_SWEEP_MS', 5000, 10, 600_000, 'How often the tracker looks for devices whose reports stopped (offline after the tenant\'s offlineAfterSeconds, then the offline rules fire).'),
} as const;

type Settings = typeof settings;
export type Config = { -readonly [K in keyof Settings]: ReturnType<Settings[K]['parse']> };

/** Reads and validates every setting; throws one error naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings) as [keyof Settings, Setting<unknown>][]) {
    const raw = env[setting.env];
    try {
      config[key] = setting.parse(raw === undefined || raw === '' ? setting.default : raw);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const result = config as Config;
  if (problems.length === 0 && result.roles.length < ROLES.length) {
    // Roles in other processes are reached over the bus and share the store: neither embedded adapter spans processes.
    if (result.bus !== 'nats') problems.push(`FOLLOWME_ROLES=${result.roles.join(',')} runs only some roles in this process, which needs a bus shared between processes: set FOLLOWME_BUS=nats (now "${result.bus}")`);
    if (result.store !== 'postgres') problems.push(`FOLLOWME_ROLES=${result.roles.join(',')} runs only some roles in this process, which needs a store shared between processes: set FOLLOWME_STORE=postgres (now "${result.store}")`);
  }
  if (problems.length > 0) throw new Error(`invalid configuration:\n  ${problems.join('\n  ')}`);
  result.dataDir = resolve(result.dataDir);
  if ((result.tlsCert === '') !== (result.tlsKey === '')) throw new Error('invalid configuration:\n  FOLLOWME_TLS_CERT and FOLLOWME_TLS_KEY go together: set both or neither');
  if (result.tlsDir !== '' && result.tlsCert === '') throw new Error('invalid configuration:\n  FOLLOWME_TLS_DIR needs a default certificate: set FOLLOWME_TLS_CERT and FOLLOWME_TLS_KEY too');
  return result;
}
