/**
 * The notification service: messages to targets, a delivery per recipient device (in-app) and per
 * recipient and channel (e-mail, SMS, push, webhook) stored with the message in one transaction and
 * sent by the outbox worker in the background; receipts and responses; reminders and escalation;
 * live zones; SOS; and rules that turn geofence events into alerts.
 */
import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import { registry } from '../../core/metrics.js';
import { GroupCommit } from '../../core/group-commit.js';
import { groupBy } from '../../core/group-by.js';
import { AppError, invalid, notFound } from '../../core/errors.js';
import { newId, newSecret } from '../../core/ids.js';
import { Phases, type Logger } from '../../core/log.js';
import { roleAtLeast, systemContext, type TenantContext } from '../../core/tenancy.js';
import { DELIVERY_STATES, PRIORITIES, type DeliveryState, type Principal, type Priority, type ReceiptKind } from '../../core/types.js';
import { settingsChanged, type Bus, type Ownership, type Subscription } from '../../ports/bus.js';
import { exportTenantRows, importTenantRows, insertRows, purgeTenantRows, TenantScope, type Store } from '../../ports/store.js';
import { fenceEvent, type FenceEvent } from '../geofence/index.js';
import { appFrame, createChannels, generateVapidKeys, type ChannelName, type ChannelSet, type ChannelSettings, type VapidKeys } from './channels/index.js';
import { catchUpEvents, markHandled, pruneMarks, type EventSource } from './catch-up.js';
import { publishDeliveryUpdates, sosAlarmChanged, sosRaised, type MessageFrame, type SosRaised } from './events.js';
import { acknowledgeSosAlarm, getSosAlarm, listSosAlarms, resolveSosAlarm, sosRow, type SosAlarm, type SosFilter, type SosReader } from './sos.js';
import { OutboxWorker, outgoing, type OutboxSettings } from './outbox.js';
import { Webhooks, type WebhookSettings } from './webhooks.js';
import { notificationTenantTables, type NotificationDB } from './schema.js';
import { areaShape, devicesInArea, normalizeChannels, normalizeTarget, type KnownPosition, type Target } from './targeting.js';
import { fill, FENCE_TRIGGERS, normalizeRule, PROXIMITY_TRIGGERS, ruleColumns, toRule, type Rule, type RuleInput, type RuleTrigger } from './rules.js';
import { RuleCache } from './rule-cache.js';
import { NoiseControl, RuleLimitReached, toSuppression, type Suppression } from './noise.js';
import { parseWindow, type TimeWindow } from './windows.js';
import { readCap, writeCap } from './cap.js';
import { deviceStatusChanged, positionAccepted } from '../tracker/index.js';
import type { Position } from '../../core/types.js';

export type { Target } from './targeting.js';
export type { Rule, RuleInput } from './rules.js';
export type { Suppression } from './noise.js';
export type { TimeWindow } from './windows.js';
export type { SosAlarm, SosFilter } from './sos.js';

export interface Escalation {
  /** Fewer acknowledgements than this … */
  minConfirmations: number;
  /** … this many minutes after sending, and the message goes to `target` too. */
  withinMinutes: number;
  target: Target;
}

export interface SendInput {
  target: Target;
  title: string;
  body?: string | undefined;
  priority?: Priority | undefined;
  ackRequired?: boolean | undefined;
  options?: string[] | undefined;
  /** Seconds until undelivered copies expire. */
  ttlSeconds?: number | undefined;
  /** Channels to use; default in-app only. */
  channels?: ChannelName[] | undefined;
  escalation?: Escalation | undefined;
  /** Live zone: for this many minutes the message also reaches everyone who enters the target's fence or area, once each. */
  liveMinutes?: number | undefined;
}

type Sender = Principal | { kind: 'rule'; ruleId: string } | { kind: 'escalation'; messageId: string } | { kind: 'reminder'; messageId: string } | { kind: 'sos'; deviceId: string };

export interface Message {
  id: string;
  tenantId: string;
  title: string;
  body: string;
  priority: Priority;
  ackRequired: boolean;
  options: string[] | null;
  target: Target;
  sender: Sender;
  channels: ChannelName[];
  createdAt: number;
  expiresAt: number | null;
  escalation: (Escalation & { dueAt: number; escalatedAt: number | null; escalationMessageId: string | null }) | null;
  liveUntil: number | null;
  parentId: string | null;
  /** In-app recipients (devices). */
  recipients: number;
  /** In-app deliveries by state. */
  counts: Record<DeliveryState, number>;
  /** Channel deliveries (e-mail, SMS, push, webhook) by channel and state. */
  channelCounts: Record<string, Record<string, number>>;
}

export interface Delivery {
  id: string;
  messageId: string;
  channel: ChannelName;
  /** The device (in-app), the user (e-mail, SMS), the push subscription, or "tenant" (webhook). */
  recipient: string;
  deviceId: string | null;
  state: DeliveryState;
  response: string | null;
  respondedBy: string | null;
  attempts: number | null;
  lastError: string | null;
  queuedAt: number;
  sentAt: number | null;
  deliveredAt: number | null;
  readAt: number | null;
  acknowledgedAt: number | null;
  expiredAt: number | null;
  failedAt: number | null;
  /** When a channel send was given up with its outcome unknown (state `unknown`: it may have arrived; `lastError` says why). */
  unknownAt: number | null;
  /** An `unknown` delivery an operator settled as sent or failed afterwards: who, when, and their note. */
  settled: { by: string; name: string; at: number; note: string | null } | null;
}

/** What an operator may record for a delivery whose outcome was unknown. */
export const SETTLED_OUTCOMES = ['sent', 'failed'] as const;

export interface Person {
  id: string;
  name: string;
  email: string;
  /** The devices of the asked-for ones this person carries. */
  deviceIds: string[];
}

export interface Template {
  id: string;
  name: string;
  title: string;
  body: string;
  createdAt: number;
}

export interface Responses {
  messageId: string;
  options: string[] | null;
  recipients: number;
  answered: number;
  tally: Record<string, number>;
  byGroup: { groupId: string; recipients: number; answered: number; tally: Record<string, number> }[];
  notAnswered: { deviceId: string; deliveryId: string; state: DeliveryState }[];
}

export interface NotificationSettings {
  webhookUrl: string | null;
  /** Shown when a webhook URL is set: sign-check requests with it. */
  webhookSecret?: string | undefined;
  responders: Target | null;
  /** Quiet hours of the whole tenant: rule alerts below critical wait for nobody, they are left out. */
  quietHours: TimeWindow | null;
  /** Most rule alerts one device gets per hour (critical always passes); null: no limit. */
  recipientHourlyLimit: number | null;
}

/** What the notification service asks of the others, through their public interfaces. */
export interface Resolvers {
  devicesOf(ctx: TenantContext, audience: { deviceIds?: string[] | undefined; userIds?: string[] | undefined; groupIds?: string[] | undefined }): Promise<string[]>;
  insideFence(ctx: TenantContext, fenceId: string): Promise<string[]>;
  deviceName(ctx: TenantContext, deviceId: string): Promise<string>;
  /** An alert's device: its name and the name of the person carrying it (null: nobody), in one lookup. */
  describeDevice(ctx: TenantContext, deviceId: string): Promise<{ name: string; person: string | null }>;
  /** The people who carry these devices, plus these users (only those: never the tenant's whole lists). */
  people(ctx: TenantContext, deviceIds: string[], userIds: string[]): Promise<Person[]>;
  /** The tenant's last known positions. */
  lastKnown(ctx: TenantContext): Promise<KnownPosition[]>;
  /** A fence for a live zone drawn for one message; removed when the window closes. */
  createTemporaryFence(ctx: TenantContext, name: string, area: { geometry: unknown; radius?: number | undefined; width?: number | undefined }): Promise<string>;
  deleteFence(ctx: TenantContext, fenceId: string): Promise<void>;
  /** The tenant's own e-mail sender from its branding, if set. */
  emailFrom(tenantId: string): Promise<string | null>;
  /** The tenant's plan: how many messages operators may send per day (UTC); 0 = no limit. */
  messagesPerDay(ctx: TenantContext): Promise<{ plan: string; limit: number }>;
}

export interface NotificationOptions {
  channels: ChannelSettings;
  outbox: OutboxSettings;
  /** Delivery of geofence events to the tenants' webhook subscriptions. */
  webhooks: WebhookSettings;
  /** How often expiry, escalation and live-zone windows are checked. */
  sweepMs: number;
  /** Base URL of the Control Center, for {link} and channel links. */
  publicUrl?: string | undefined;
  /**
   * Embedded deployment: where the geofence events are, to catch up at start on those the
   * in-process bus lost in a crash (catch-up.ts). Unset in a cluster: JetStream redelivers.
   */
  catchUp?: EventSource | undefined;
  /**
   * Cluster: the partitions of devices this process consumes events for (geofence events, SOS,
   * statuses, positions). Only the owner pulls a partition, so it has many events in flight, handled
   * in order per device; without it (several processes pulling) each partition has one.
   */
  ownership?: Ownership | undefined;
}

const ORDER: Record<DeliveryState, number> = { queued: 0, sent: 1, delivered: 2, read: 3, acknowledged: 4, expired: 5, failed: 5, unknown: 5 };
const STAMP = { sent: 'sent_at', delivered: 'delivered_at', read: 'read_at', acknowledged: 'acknowledged_at' } as const;
const FANOUT_CHUNK = 500;
/** Rows per insert statement of a send's deliveries and outbox rows (insertRows: one parameter per column). */
const INSERT_CHUNK = 5000;
const PERSON_CHANNELS: ChannelName[] = ['email', 'sms', 'push'];
const transitions = new Counter({ name: 'followme_notification_deliveries_total', help: 'Delivery state changes, by new state', labelNames: ['state'], registers: [registry] });
const rulesFired = new Counter({ name: 'followme_notification_rules_fired_total', help: 'Alerts sent by rules', registers: [registry] });
const escalations = new Counter({ name: 'followme_notification_escalations_total', help: 'Messages escalated for too few confirmations', registers: [registry] });

/** Cached rules are read again after this long even without a `settings.changed` signal (rule-cache.ts). */
const RULES_TTL_MS = 60_000;
/** A low-battery rule re-arms only once the battery is this many points above its threshold (hysteresis). */
export const BATTERY_REARM_MARGIN = 5;

/** Most devices whose pending deliveries are read in one round. */
const PENDING_LOOKUP_MAX = 500;

const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));

export class NotificationService {
  private subscriptions: Subscription[] = [];
  private readonly channels: ChannelSet;
  private readonly outbox: OutboxWorker;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private pendingSent: { tenantId: string; id: string }[] = [];
  private readonly noise: NoiseControl;
  /**
   * Every tenant's enabled rules, so a fence event, status or position costs a map lookup: dropped
   * when any process changes the tenant's rules (`settings.changed`), and read again after
   * RULES_TTL_MS anyway. Per-rule state (cooldowns, battery_state) stays in the store.
   */
  private readonly rules: RuleCache;
  private sentFlush: Promise<void> | undefined;
  /** SOS being kept before their acks (keepSos), by tenant, device and SOS id. */
  private readonly sosKeeping = new Map<string, Promise<void>>();
  /** The pending deliveries of devices saying hello together (thousands connecting at once): one statement per tenant. */
  private readonly pendingLookups = new GroupCommit<{ tenantId: string; deviceId: string }, MessageFrame[]>((devices) => this.pendingOf(devices), 0, PENDING_LOOKUP_MAX);
  /** Geofence event subscriptions and their deliveries; served to other processes as `webhooks`. */
  readonly webhooks: Webhooks;

  constructor(
    private readonly store: Store<NotificationDB>,
    private readonly bus: Bus,
    private readonly resolvers: Resolvers,
    private readonly logger: Logger,
    private readonly options: NotificationOptions,
  ) {
    this.channels = createChannels(bus, options.channels);
    this.noise = new NoiseControl(store.db, store.dialect);
    this.outbox = new OutboxWorker(store.db, bus, this.channels, options.outbox, logger, (tenantId) => this.liveMapLink(tenantId), (tenantId) => resolvers.emailFrom(tenantId));
    this.webhooks = new Webhooks(store, bus, resolvers, logger, options.webhooks);
    this.rules = new RuleCache(async (tenantId) => (await new TenantScope(this.db, tenantId).selectFrom('rules').selectAll().where('enabled', '=', 1).orderBy('id').execute()).map(toRule), RULES_TTL_MS);
  }

  private get db(): Kysely<NotificationDB> {
    return this.store.db;
  }

  private scope(ctx: TenantContext): TenantScope<NotificationDB> {
    return new TenantScope(this.db, ctx.tenantId);
  }

  /** Loads (or generates and keeps) the VAPID keys, consumes geofence and SOS events, starts the outbox worker and the sweeps. */
  async start(): Promise<void> {
    // each step timed: a slow start names its slow step in the log
    const phases = new Phases();
    phases.begin('vapid keys');
    this.channels.push.useKeys(await this.vapidKeys());
    const source = this.options.catchUp;
    if (source) {
      phases.begin('catch-up');
      const started = Date.now();
      const caught = await catchUpEvents(this.db, source, (event) => this.handleFenceEvent(event));
      if (caught.events > 0) this.logger.warn({ ...caught, ms: Date.now() - started }, 'handled fence events missed before an unclean stop');
    }
    // every event is keyed by its device: one lane per device, its events in order
    const owner = this.options.ownership;
    phases.begin('consumer notification-rules');
    this.subscriptions.push(await this.bus.consume(fenceEvent, 'notification-rules', (m) => this.handleFenceEvent(m.data), { owner }));
    phases.begin('consumer notification-sos');
    this.subscriptions.push(await this.bus.consume(sosRaised, 'notification-sos', (m) => (m.data.kept ? undefined : this.onSos(m.data)), { owner }));
    phases.begin('consumer notification-status');
    this.subscriptions.push(await this.bus.consume(deviceStatusChanged, 'notification-status', (m) => this.onStatus(m.data), { owner }));
    phases.begin('consumer notification-battery');
    this.subscriptions.push(await this.bus.consume(positionAccepted, 'notification-battery', (m) => this.onPosition(m.data), { owner }));
    phases.begin('settings subscription');
    this.subscriptions.push(
      await this.bus.subscribe(settingsChanged, (m) => {
        if (m.data.service !== 'notification') return;
        this.rules.drop(m.data.tenantId);
        this.webhooks.forget(m.data.tenantId);
      }),
    );
    this.outbox.start();
    phases.begin('webhooks');
    await this.webhooks.start(owner);
    phases.end();
    this.logger.info({ ms: phases.total, phases: phases.ms }, `notification service started in ${phases.total} ms`);
    // one sweep at a time: a tick that finds the previous one still running skips
    this.sweeper = setInterval(() => {
      this.sweeping ??= this.sweep()
        .catch((err: unknown) => this.logger.error({ err }, 'notification sweep failed'))
        .finally(() => {
          this.sweeping = undefined;
        });
    }, this.options.sweepMs);
    this.sweeper.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const s of this.subscriptions) await s.close();
    this.subscriptions = [];
    await this.outbox.stop();
    await this.webhooks.stop();
    await this.sweeping;
    this.channels.close();
  }

  /** Resolves when the outbox and the webhook worker have nothing due right now (tests, benchmarks). */
  async settled(): Promise<void> {
    this.outbox.kick();
    await this.outbox.idle();
    await this.webhooks.settled();
  }

  // ---- sending ----

  /** Resolves the target, stores the message with its deliveries and outbox rows in one transaction; the outbox worker sends them. */
  async send(ctx: TenantContext, input: SendInput): Promise<Message> {
    const normalized = normalizeSend(input);
    await this.checkChannels(ctx, normalized.channels!);
    if (normalized.escalation) await this.resolve(ctx, normalized.escalation.target);
    if (normalized.liveMinutes !== undefined && !normalized.target.area && (normalized.target.fenceIds?.length ?? 0) !== 1) {
      throw invalid('liveMinutes', 'a live zone needs a target with exactly one fence (fenceIds) or an area');
    }
    await this.checkDailyQuota(ctx);
    const deviceIds = await this.resolve(ctx, normalized.target);
    return this.create(ctx, newId('msg'), normalized, deviceIds, ctx.principal, null);
  }

  /**
   * The plan's messages-per-day quota, for what operators send. Rule alerts (SOS, fences) are not
   * held back by it: an alert that matters must not wait for tomorrow; they count toward the day.
   */
  private async checkDailyQuota(ctx: TenantContext): Promise<void> {
    const { plan, limit } = await this.resolvers.messagesPerDay(ctx);
    if (limit === 0) return;
    const midnight = new Date();
    midnight.setUTCHours(0, 0, 0, 0);
    const sent = await this.scope(ctx).selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('created_at', '>=', midnight.getTime()).executeTakeFirstOrThrow();
    if (Number(sent.n) >= limit) throw new AppError('quota_exceeded', `the plan "${plan}" allows ${limit} messages a day; this tenant has sent ${Number(sent.n)} today (UTC). Ask the platform owner for a larger plan.`, [{ field: 'messagesPerDay', reason: `quota of ${limit} reached` }]);
  }

  /** How many devices and people a target reaches now, and which. */
  async preview(ctx: TenantContext, target: Target): Promise<{ devices: number; deviceIds: string[]; people: number; persons: { id: string; name: string }[] }> {
    const normalized = normalizeTarget(target);
    const deviceIds = await this.resolve(ctx, normalized);
    const persons = (await this.resolvers.people(ctx, deviceIds, normalized.userIds ?? [])).map((p) => ({ id: p.id, name: p.name }));
    return { devices: deviceIds.length, deviceIds, people: persons.length, persons };
  }

  async getMessage(ctx: TenantContext, id: string): Promise<Message> {
    const row = await this.scope(ctx).selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('message', id);
    const [message] = await this.withCounts(ctx, [row]);
    return message!;
  }

  async listMessages(ctx: TenantContext, limit = 100): Promise<Message[]> {
    const rows = await this.scope(ctx).selectFrom('messages').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return this.withCounts(ctx, rows);
  }

  /** Every delivery of a message: in-app ones per device first, then channel ones. */
  async listDeliveries(ctx: TenantContext, messageId: string): Promise<Delivery[]> {
    await this.getMessage(ctx, messageId);
    const app = await this.scope(ctx).selectFrom('deliveries').selectAll().where('message_id', '=', messageId).orderBy('device_id').execute();
    const other = await this.scope(ctx).selectFrom('outbox').selectAll().where('message_id', '=', messageId).orderBy('channel').orderBy('recipient').execute();
    return [...app.map(toDelivery), ...other.map(outboxToDelivery)];
  }

  // ---- device side (called by the edge) ----

  /** Message frames waiting for a device (not yet receipted delivered, not expired), oldest first. */
  async pendingFor(ctx: TenantContext, deviceId: string): Promise<MessageFrame[]> {
    const [frames] = await this.pendingLookups.submit([{ tenantId: ctx.tenantId, deviceId }]);
    return frames!;
  }

  /** What each of these devices has queued or sent and not yet receipted, oldest first. */
  private async pendingOf(devices: { tenantId: string; deviceId: string }[]): Promise<MessageFrame[][]> {
    const now = Date.now();
    const byDevice = new Map<string, MessageFrame[]>();
    const key = (tenantId: string, deviceId: string) => `${tenantId} ${deviceId}`;
    for (const [tenantId, ids] of groupBy(devices, (d) => d.tenantId)) {
      const rows = await this.scope(systemContext(tenantId))
        .selectFrom('deliveries')
        .innerJoin('messages', 'messages.id', 'deliveries.message_id')
        .selectAll('messages')
        .select(['deliveries.id as delivery_id', 'deliveries.device_id as delivery_device_id'])
        .where('deliveries.device_id', 'in', [...new Set(ids.map((d) => d.deviceId))])
        .where('deliveries.state', 'in', ['queued', 'sent'])
        .orderBy('deliveries.queued_at')
        .orderBy('deliveries.id')
        .execute();
      for (const r of rows) {
        if (r.expires_at !== null && r.expires_at <= now) continue;
        const k = key(tenantId, r.delivery_device_id!);
        if (!byDevice.has(k)) byDevice.set(k, []);
        byDevice.get(k)!.push(appFrame({ id: r.delivery_id, message: outgoing(r) }));
      }
    }
    return devices.map((d) => byDevice.get(key(d.tenantId, d.deviceId)) ?? []);
  }

  /**
   * The edge handed these deliveries to the device's connection. Calls that arrive together (a
   * fan-out reaching thousands of connections at once) are written in one batch per event-loop turn.
   */
  markSent(ctx: TenantContext, deliveryIds: string[]): Promise<void> {
    for (const id of deliveryIds) this.pendingSent.push({ tenantId: ctx.tenantId, id });
    this.sentFlush ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const batch = this.pendingSent;
        this.pendingSent = [];
        this.sentFlush = undefined;
        this.flushSent(batch).then(resolve, reject);
      });
    });
    return this.sentFlush;
  }

  private async flushSent(batch: { tenantId: string; id: string }[]): Promise<void> {
    const now = Date.now();
    const byTenant = new Map<string, string[]>();
    for (const { tenantId, id } of batch) (byTenant.get(tenantId) ?? byTenant.set(tenantId, []).get(tenantId)!).push(id);
    for (const [tenantId, ids] of byTenant) {
      for (let i = 0; i < ids.length; i += FANOUT_CHUNK) {
        const moved = await new TenantScope(this.db, tenantId)
          .updateTable('deliveries')
          .set({ state: 'sent', sent_at: now })
          .where('id', 'in', ids.slice(i, i + FANOUT_CHUNK))
          .where('state', '=', 'queued')
          .returning(['id', 'message_id', 'device_id'])
          .execute();
        transitions.inc({ state: 'sent' }, moved.length);
        await publishDeliveryUpdates(this.bus, moved.map((d) => ({ tenantId, messageId: d.message_id, deliveryId: d.id, channel: 'app', deviceId: d.device_id, state: 'sent', at: now })));
      }
    }
  }

  /** A receipt from the device that the delivery is for. Never moves a delivery backwards. */
  async receipt(ctx: TenantContext, deviceId: string, deliveryId: string, status: ReceiptKind, response?: string): Promise<Delivery> {
    const row = await this.scope(ctx).selectFrom('deliveries').selectAll().where('id', '=', deliveryId).executeTakeFirst();
    if (!row || row.device_id !== deviceId) throw invalid('deliveryId', `no delivery ${deliveryId} for this device`);
    return this.advance(ctx, deliveryId, status, response, undefined, row);
  }

  /** An operator records a response on someone's behalf; the record keeps who did. */
  async respondOnBehalf(ctx: TenantContext, deliveryId: string, response: string): Promise<Delivery> {
    const by = ctx.principal.kind === 'user' ? ctx.principal.userId : ctx.principal.kind;
    return this.advance(ctx, deliveryId, 'acknowledged', response, by);
  }

  // ---- CAP 1.2 ----

  /** Sends a CAP 1.2 alert to everyone whose last known position is in its area (optionally fresh, optionally as a live zone). */
  async importCap(ctx: TenantContext, xml: string, options: { channels?: ChannelName[] | undefined; maxAgeMinutes?: number | undefined; liveMinutes?: number | undefined }): Promise<Message> {
    const cap = readCap(xml);
    let ttlSeconds: number | undefined;
    if (cap.expires !== null) {
      ttlSeconds = Math.floor((cap.expires - Date.now()) / 1000);
      if (ttlSeconds < 1) throw invalid('alert.info.expires', `the alert expired at ${new Date(cap.expires).toISOString()}; nothing to send`);
    }
    const target: Target = { area: cap.area };
    if (options.maxAgeMinutes !== undefined) target.maxAgeMinutes = options.maxAgeMinutes;
    const input = normalizeSend({ target, title: cap.title, body: cap.body, priority: cap.priority, ttlSeconds, channels: options.channels, liveMinutes: options.liveMinutes, ackRequired: cap.priority !== 'normal' });
    await this.checkChannels(ctx, input.channels!);
    const deviceIds = await this.resolve(ctx, input.target);
    const source = { cap: { identifier: cap.identifier, sender: cap.sender, sent: cap.sent, areaDesc: cap.areaDesc } };
    return this.create(ctx, newId('msg'), input, deviceIds, ctx.principal, null, null, null, source);
  }

  /** A message as a CAP 1.2 alert (an imported one references the original). */
  async exportCap(ctx: TenantContext, id: string): Promise<string> {
    const message = await this.getMessage(ctx, id);
    const row = await this.scope(ctx).selectFrom('messages').select('source').where('id', '=', id).executeTakeFirstOrThrow();
    const source = row.source ? (JSON.parse(row.source) as { cap?: { identifier: string; sender: string; sent: string; areaDesc: string } }) : {};
    return writeCap({
      id: message.id,
      tenantId: message.tenantId,
      title: message.title,
      body: message.body,
      priority: message.priority,
      createdAt: message.createdAt,
      expiresAt: message.expiresAt,
      areaDesc: source.cap?.areaDesc ?? (message.target.area ? 'The area drawn for this message' : 'The people chosen by the sender'),
      area: message.target.area as { geometry: { type: string; coordinates: unknown }; radius?: number } | undefined,
      references: source.cap ? `${source.cap.sender},${source.cap.identifier},${source.cap.sent}` : undefined,
      link: this.liveMapLink(ctx.tenantId),
    });
  }

  // ---- responses, reminders ----

  /** Tallies per option and per target group, and who has not answered. */
  async responses(ctx: TenantContext, messageId: string): Promise<Responses> {
    const message = await this.getMessage(ctx, messageId);
    const rows = await this.scope(ctx).selectFrom('deliveries').select(['id', 'device_id', 'state', 'response']).where('message_id', '=', messageId).orderBy('device_id').execute();
    const tallyOf = (list: typeof rows) => {
      const tally: Record<string, number> = Object.fromEntries((message.options ?? []).map((o) => [o, 0]));
      for (const r of list) if (r.state === 'acknowledged') tally[r.response ?? '(acknowledged)'] = (tally[r.response ?? '(acknowledged)'] ?? 0) + 1;
      return tally;
    };
    const answered = (list: typeof rows) => list.filter((r) => r.state === 'acknowledged').length;
    const byGroup: Responses['byGroup'] = [];
    for (const groupId of message.target.groupIds ?? []) {
      const members = new Set(await this.resolvers.devicesOf(ctx, { groupIds: [groupId] }).catch(() => [] as string[]));
      const list = rows.filter((r) => members.has(r.device_id));
      byGroup.push({ groupId, recipients: list.length, answered: answered(list), tally: tallyOf(list) });
    }
    return {
      messageId,
      options: message.options,
      recipients: rows.length,
      answered: answered(rows),
      tally: tallyOf(rows),
      byGroup,
      notAnswered: rows.filter((r) => r.state !== 'acknowledged').map((r) => ({ deviceId: r.device_id, deliveryId: r.id, state: r.state as DeliveryState })),
    };
  }

  /** Sends a reminder to everyone who has not answered; an answer to the reminder answers the original too. */
  async remind(ctx: TenantContext, messageId: string): Promise<Message> {
    const original = await this.getMessage(ctx, messageId);
    if (original.parentId) throw invalid('id', 'remind about the original message, not a reminder');
    const waiting = (await this.responses(ctx, messageId)).notAnswered.filter((d) => d.state !== 'expired' && d.state !== 'failed').map((d) => d.deviceId);
    if (waiting.length === 0) throw invalid('id', 'everyone has answered; there is nobody to remind');
    const remaining = original.expiresAt === null ? undefined : Math.ceil((original.expiresAt - Date.now()) / 1000);
    if (remaining !== undefined && remaining < 1) throw invalid('id', 'the message has expired');
    const input: SendInput = {
      target: { deviceIds: waiting },
      title: `Reminder: ${original.title}`.slice(0, 200),
      body: original.body,
      priority: original.priority,
      ackRequired: original.ackRequired,
      options: original.options ?? undefined,
      ttlSeconds: remaining,
      channels: original.channels,
    };
    return this.create(ctx, newId('msg'), input, waiting, { kind: 'reminder', messageId }, null, messageId);
  }

  // ---- per-tenant and per-person settings ----

  async getSettings(ctx: TenantContext): Promise<NotificationSettings> {
    const row = await this.scope(ctx).selectFrom('tenant_settings').selectAll().executeTakeFirst();
    return {
      webhookUrl: row?.webhook_url ?? null,
      responders: row?.responders ? (JSON.parse(row.responders) as Target) : null,
      quietHours: row?.quiet_hours ? (JSON.parse(row.quiet_hours) as TimeWindow) : null,
      recipientHourlyLimit: row?.recipient_hourly_limit ?? null,
    };
  }

  /** Sets the webhook URL (a new signing secret is made and shown once when the URL changes) and the responders SOS goes to. */
  async updateSettings(ctx: TenantContext, change: { webhookUrl?: string | null | undefined; responders?: Target | null | undefined; quietHours?: unknown; recipientHourlyLimit?: number | null | undefined }): Promise<NotificationSettings> {
    const current = await this.scope(ctx).selectFrom('tenant_settings').selectAll().executeTakeFirst();
    const next = { webhook_url: current?.webhook_url ?? null, webhook_secret: current?.webhook_secret ?? null, quiet_hours: current?.quiet_hours ?? null, responders: current?.responders ?? null, recipient_hourly_limit: current?.recipient_hourly_limit ?? null };
    if (change.quietHours !== undefined) next.quiet_hours = change.quietHours === null ? null : JSON.stringify(parseWindow(change.quietHours, 'quietHours'));
    if (change.recipientHourlyLimit !== undefined) {
      if (change.recipientHourlyLimit !== null && !(Number.isInteger(change.recipientHourlyLimit) && change.recipientHourlyLimit >= 1)) throw invalid('recipientHourlyLimit', 'must be a whole number from 1, or null for no limit');
      next.recipient_hourly_limit = change.recipientHourlyLimit;
    }
    let shownSecret: string | undefined;
    if (change.webhookUrl !== undefined) {
      if (change.webhookUrl === null) {
        next.webhook_url = null;
        next.webhook_secret = null;
      } else {
        let url: URL;
        try {
          url = new URL(change.webhookUrl);
        } catch {
          throw invalid('webhookUrl', `must be an absolute http(s) URL, got ${JSON.stringify(change.webhookUrl)}`);
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('webhookUrl', `must be an http(s) URL, got ${url.protocol}`);
        if (next.webhook_url !== url.href || !next.webhook_secret) next.webhook_secret = `whsec_${newSecret()}`;
        next.webhook_url = url.href;
        shownSecret = next.webhook_secret;
      }
    }
    if (change.responders !== undefined) {
      if (change.responders === null) next.responders = null;
      else {
        const target = normalizeTarget(change.responders, 'responders');
        if (target.responders) throw invalid('responders.responders', 'the responders cannot be defined by themselves');
        await this.resolve(ctx, target);
        next.responders = JSON.stringify(target);
      }
    }
    if (current) await this.scope(ctx).updateTable('tenant_settings').set(next).execute();
    else await this.scope(ctx).insert('tenant_settings', next);
    const settings = await this.getSettings(ctx);
    return shownSecret ? { ...settings, webhookSecret: shownSecret } : settings;
  }

  /** A person's phone number for SMS (E.164). */
  async setPhone(ctx: TenantContext, userId: string, phone: string | null): Promise<{ userId: string; phone: string | null }> {
    if (phone !== null && !/^\+[1-9]\d{6,14}$/.test(phone)) throw invalid('phone', `must be an E.164 number such as +4915112345678, got ${JSON.stringify(phone)}`);
    await this.ensurePerson(ctx, userId);
    const scope = this.scope(ctx);
    const existing = await scope.selectFrom('profiles').select('user_id').where('user_id', '=', userId).executeTakeFirst();
    if (existing) await scope.updateTable('profiles').set({ phone }).where('user_id', '=', userId).execute();
    else await scope.insert('profiles', { user_id: userId, phone, quiet_hours: null });
    return { userId, phone };
  }

  /** What the notification service keeps of a person: phone number for SMS and quiet hours. */
  async getProfile(ctx: TenantContext, userId: string): Promise<{ userId: string; phone: string | null; quietHours: TimeWindow | null }> {
    await this.ensurePerson(ctx, userId);
    const row = await this.scope(ctx).selectFrom('profiles').selectAll().where('user_id', '=', userId).executeTakeFirst();
    return { userId, phone: row?.phone ?? null, quietHours: row?.quiet_hours ? (JSON.parse(row.quiet_hours) as TimeWindow) : null };
  }

  /** A person's quiet hours: rule alerts below critical leave them out meanwhile. */
  async setQuietHours(ctx: TenantContext, userId: string, window: unknown): Promise<{ userId: string; quietHours: TimeWindow | null }> {
    const quiet = window === null ? null : parseWindow(window, 'quietHours');
    await this.ensurePerson(ctx, userId);
    const scope = this.scope(ctx);
    const value = quiet ? JSON.stringify(quiet) : null;
    const existing = await scope.selectFrom('profiles').select('user_id').where('user_id', '=', userId).executeTakeFirst();
    if (existing) await scope.updateTable('profiles').set({ quiet_hours: value }).where('user_id', '=', userId).execute();
    else await scope.insert('profiles', { user_id: userId, phone: null, quiet_hours: value });
    return { userId, quietHours: quiet };
  }

  /** A user of this tenant, or not_found. */
  private async ensurePerson(ctx: TenantContext, userId: string): Promise<void> {
    await this.resolvers.people(ctx, [], [userId]).catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'validation_failed') throw notFound('user', userId);
      throw err;
    });
  }

  // ---- templates ----

  async createTemplate(ctx: TenantContext, input: { name: string; title: string; body?: string | undefined }): Promise<Template> {
    if (typeof input.name !== 'string' || input.name.trim() === '') throw invalid('name', 'must be a non-empty string');
    if (typeof input.title !== 'string' || input.title.trim() === '' || input.title.length > 200) throw invalid('title', 'must be text of 1 to 200 characters');
    const scope = this.scope(ctx);
    if (await scope.selectFrom('templates').select('id').where('name', '=', input.name.trim()).executeTakeFirst()) throw new AppError('conflict', `a template named ${JSON.stringify(input.name.trim())} exists already`, [{ field: 'name', reason: 'is taken' }]);
    const template: Template = { id: newId('tpl'), name: input.name.trim(), title: input.title.trim(), body: input.body ?? '', createdAt: Date.now() };
    await scope.insert('templates', { id: template.id, name: template.name, title: template.title, body: template.body, created_at: template.createdAt });
    return template;
  }

  async listTemplates(ctx: TenantContext): Promise<Template[]> {
    return (await this.scope(ctx).selectFrom('templates').selectAll().orderBy('name').execute()).map((r) => ({ id: r.id, name: r.name, title: r.title, body: r.body, createdAt: r.created_at }));
  }

  /** Changes a template's name, title or body; rules using it send the new text from now on. */
  async updateTemplate(ctx: TenantContext, id: string, change: { name?: string | undefined; title?: string | undefined; body?: string | undefined }): Promise<Template> {
    const current = await this.scope(ctx).selectFrom('templates').selectAll().where('id', '=', id).executeTakeFirst();
    if (!current) throw notFound('template', id);
    const name = change.name === undefined ? current.name : change.name.trim();
    const title = change.title === undefined ? current.title : change.title.trim();
    if (name === '') throw invalid('name', 'must be a non-empty string');
    if (title === '' || title.length > 200) throw invalid('title', 'must be text of 1 to 200 characters');
    const scope = this.scope(ctx);
    if (name !== current.name && (await scope.selectFrom('templates').select('id').where('name', '=', name).executeTakeFirst())) throw new AppError('conflict', `a template named ${JSON.stringify(name)} exists already`, [{ field: 'name', reason: 'is taken' }]);
    const body = change.body ?? current.body;
    await scope.updateTable('templates').set({ name, title, body }).where('id', '=', id).execute();
    return { id, name, title, body, createdAt: current.created_at };
  }

  async deleteTemplate(ctx: TenantContext, id: string): Promise<void> {
    if (await this.scope(ctx).selectFrom('rules').select('id').where('template_id', '=', id).executeTakeFirst()) throw new AppError('conflict', `template ${id} is used by a rule; delete or change the rule first`);
    const result = await this.scope(ctx).deleteFrom('templates').where('id', '=', id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound('template', id);
  }

  private async template(ctx: TenantContext, id: string, field: string): Promise<Template> {
    const row = await this.scope(ctx).selectFrom('templates').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw invalid(field, `no template ${id} in this tenant`);
    return { id: row.id, name: row.name, title: row.title, body: row.body, createdAt: row.created_at };
  }

  /** What noise control left out: of one rule (newest first), or of one message. */
  async suppressed(ctx: TenantContext, of: { ruleId?: string; messageId?: string }, limit = 100): Promise<Suppression[]> {
    let q = this.scope(ctx).selectFrom('suppressions').selectAll();
    if (of.ruleId) {
      if (!(await this.scope(ctx).selectFrom('rules').select('id').where('id', '=', of.ruleId).executeTakeFirst())) throw notFound('rule', of.ruleId);
      q = q.where('rule_id', '=', of.ruleId);
    }
    if (of.messageId) {
      await this.getMessage(ctx, of.messageId);
      q = q.where('message_id', '=', of.messageId);
    }
    return (await q.orderBy('at', 'desc').orderBy('id').limit(limit).execute()).map(toSuppression);
  }

  /** The VAPID public key the member web app subscribes with. */
  vapidPublicKey(): Promise<string> {
    return this.vapidKeys().then((k) => k.publicKey);
  }

  /** Stores a browser's push subscription for the calling user (one row per endpoint). */
  async addPushSubscription(ctx: TenantContext, userId: string, subscription: { endpoint: string; keys: { p256dh: string; auth: string } }): Promise<{ id: string; endpoint: string; createdAt: number }> {
    let url: URL;
    try {
      url = new URL(subscription.endpoint);
    } catch {
      throw invalid('endpoint', 'must be the push service URL of the subscription');
    }
    const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw invalid('endpoint', 'must be an https URL (push services speak only https)');
    if (!/^[A-Za-z0-9_-]{80,100}$/.test(subscription.keys.p256dh)) throw invalid('keys.p256dh', 'must be the subscription\'s P-256 public key, URL-safe base64 (87 characters)');
    if (!/^[A-Za-z0-9_-]{16,30}$/.test(subscription.keys.auth)) throw invalid('keys.auth', 'must be the subscription\'s auth secret, URL-safe base64 (22 characters)');
    const now = Date.now();
    await this.db.deleteFrom('push_subscriptions').where('endpoint', '=', url.href).execute();
    const id = newId('psub');
    await this.scope(ctx).insert('push_subscriptions', { id, user_id: userId, endpoint: url.href, p256dh: subscription.keys.p256dh, auth: subscription.keys.auth, created_at: now });
    return { id, endpoint: url.href, createdAt: now };
  }

  async deletePushSubscription(ctx: TenantContext, userId: string, id: string): Promise<void> {
    const result = await this.scope(ctx).deleteFrom('push_subscriptions').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound('push subscription', id);
  }

  // ---- rules ----

  async createRule(ctx: TenantContext, input: RuleInput): Promise<Rule> {
    const normalized = normalizeRule(input);
    await this.resolve(ctx, normalized.target); // refuses unknown ids now rather than when the rule fires
    if (normalized.templateId) await this.template(ctx, normalized.templateId, 'templateId');
    if (FENCE_TRIGGERS.includes(normalized.on)) {
      await this.resolvers.insideFence(ctx, normalized.fenceId!).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'not_found') throw invalid('fenceId', `no fence ${normalized.fenceId} in this tenant`);
        throw err;
      });
    }
    await this.checkChannels(ctx, normalized.channels);
    const rule: Rule = { ...normalized, id: newId('rul'), tenantId: ctx.tenantId, createdAt: Date.now() };
    await this.scope(ctx).insert('rules', ruleColumns(rule));
    await this.rulesChanged(ctx.tenantId);
    return rule;
  }

  async listRules(ctx: TenantContext): Promise<Rule[]> {
    return (await this.scope(ctx).selectFrom('rules').selectAll().orderBy('id').execute()).map(toRule);
  }

  async deleteRule(ctx: TenantContext, id: string): Promise<void> {
    const result = await this.scope(ctx).deleteFrom('rules').where('id', '=', id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound('rule', id);
    await this.scope(ctx).deleteFrom('battery_state').where('rule_id', '=', id).execute();
    await this.rulesChanged(ctx.tenantId);
  }

  /** Drops the cached rules here and, through `settings.changed`, in every other notification process. */
  private async rulesChanged(tenantId: string): Promise<void> {
    this.rules.drop(tenantId);
    this.webhooks.forget(tenantId); // an import or purge changes the subscriptions too
    await this.bus.publish(settingsChanged, tenantId, { tenantId, service: 'notification', what: 'rules' });
  }

  /** A fence event through the rules, then marked handled where start-up catch-up needs it. */
  private async handleFenceEvent(event: FenceEvent): Promise<void> {
    await this.onFenceEvent(event);
    if (this.options.catchUp) await markHandled(this.db, event);
  }

  /** A geofence event: live zones on that fence reach the device that entered; every enabled rule on that fence (or proximity rule) and event type fires. */
  private async onFenceEvent(event: FenceEvent): Promise<void> {
    const ctx = systemContext(event.tenantId);
    if (event.type === 'enter') await this.reachLiveZones(ctx, event);
    const rules = (await this.rules.get(ctx.tenantId)).of(event.type as RuleTrigger, event.fenceId);
    if (rules.length === 0) return;
    const other = event.otherDeviceId ? await this.resolvers.deviceName(ctx, event.otherDeviceId).catch(() => event.otherDeviceId!) : '';
    const words: Record<string, string> = { enter: 'entered', exit: 'left', dwell: 'stayed in', within: 'came near', apart: 'moved away from' };
    const vars = { fence: PROXIMITY_TRIGGERS.includes(event.type as Rule['on']) ? other : event.fenceName, event: words[event.type] ?? event.type, other };
    for (const rule of rules) await this.fireRule(ctx, rule, { deviceId: event.deviceId, key: event.id, at: event.time, vars });
  }

  /** A device went offline: rules on offline fire. */
  private async onStatus(status: { tenantId: string; deviceId: string; connection: string; connectionAt: number | null; offlineSince?: number | null; battery: number | null }): Promise<void> {
    if (status.connection !== 'offline') return;
    const ctx = systemContext(status.tenantId);
    // offlineSince names this outage: every status event about it (a later disconnect, a redelivery) gives the same alert id
    const at = status.offlineSince ?? status.connectionAt ?? Date.now();
    for (const rule of (await this.rules.get(ctx.tenantId)).of('offline')) await this.fireRule(ctx, rule, { deviceId: status.deviceId, key: `off_${status.deviceId}_${at}`, at, vars: { event: 'went offline' } });
  }

  /**
   * A position with a battery level: a rule on low_battery fires once when the battery is at or
   * below its threshold, and re-arms only when it climbs above threshold + BATTERY_REARM_MARGIN,
   * so a level wobbling around the threshold alerts once. The state is in the store: another
   * process, or this one after a restart, knows it alerted. The alert is made before the state is
   * written, so a crash in between alerts again rather than never (the alert id, from the position,
   * and the rule's cooldown keep that from doubling).
   */
  private async onPosition(position: Position): Promise<void> {
    if (position.battery === undefined || position.late) return;
    const rules = (await this.rules.get(position.tenantId)).of('low_battery');
    if (rules.length === 0) return;
    const ctx = systemContext(position.tenantId);
    const now = Date.now();
    const states = new Map(
      (await this.scope(ctx).selectFrom('battery_state').select(['rule_id', 'low']).where('device_id', '=', position.deviceId).execute()).map((r) => [r.rule_id, r.low === 1]),
    );
    for (const rule of rules) {
      const threshold = rule.batteryBelow ?? 20;
      const low = states.get(rule.id) ?? false;
      if (position.battery <= threshold && !low) {
        await this.fireRule(ctx, rule, { deviceId: position.deviceId, key: `bat_${position.deviceId}_${position.time}`, at: position.time, vars: { event: 'is low on battery', battery: `${position.battery}%` } });
        await this.setBatteryState(ctx, rule.id, position.deviceId, true, now);
      } else if (position.battery > threshold + BATTERY_REARM_MARGIN && low) {
        await this.setBatteryState(ctx, rule.id, position.deviceId, false, now);
      }
    }
  }

  private async setBatteryState(ctx: TenantContext, ruleId: string, deviceId: string, low: boolean, at: number): Promise<void> {
    await this.db
      .insertInto('battery_state')
      .values({ tenant_id: ctx.tenantId, rule_id: ruleId, device_id: deviceId, low: low ? 1 : 0, at })
      .onConflict((oc) => oc.columns(['rule_id', 'device_id']).doUpdateSet({ low: low ? 1 : 0, at }))
      .execute();
  }

  /**
   * One rule, one occurrence about one device: once per occurrence (the message id is derived from
   * it), subject to the rule's schedule, cooldown and hourly limit, and to quiet hours and hourly
   * limits per recipient. What noise control leaves out is recorded with the reason.
   */
  private async fireRule(ctx: TenantContext, rule: Rule, occurrence: { deviceId: string; key: string; at: number; vars: Record<string, string> }): Promise<void> {
    const messageId = `msg_${occurrence.key}_${rule.id}`.slice(0, 160);
    if (await this.scope(ctx).selectFrom('messages').select('id').where('id', '=', messageId).executeTakeFirst()) return; // redelivered event
    const now = Date.now();
    const blocked = await this.noise.ruleBlocked(rule, occurrence.deviceId, now);
    if (blocked) {
      await this.noise.record(ctx.tenantId, [{ ruleId: rule.id, messageId: null, subject: occurrence.deviceId, recipient: null, ...blocked, at: now }]);
      this.logger.info({ ruleId: rule.id, deviceId: occurrence.deviceId, reason: blocked.reason }, 'rule alert suppressed');
      return;
    }
    // the names for the text and the recipients are independent lookups: one round trip, not two
    const described = this.resolvers.describeDevice(ctx, occurrence.deviceId).catch(() => undefined);
    const text = rule.templateId ? this.template(ctx, rule.templateId, 'templateId').catch(() => ({ title: rule.title || rule.name, body: rule.body })) : rule;
    try {
      const [deviceIds, about, wording] = await Promise.all([this.resolve(ctx, rule.target), described, text]);
      const device = about?.name ?? occurrence.deviceId;
      const vars: Record<string, string> = { device, person: about?.person ?? device, time: new Date(occurrence.at).toISOString(), link: this.liveMapLink(ctx.tenantId) ?? '', fence: '', event: '', ...occurrence.vars };
      const input: SendInput = { target: rule.target, title: fill(wording.title, vars).slice(0, 200) || rule.name, body: fill(wording.body, vars), priority: rule.priority, channels: rule.channels, ackRequired: rule.priority === 'critical' };
      const quiet = await this.quietHoursOf(ctx, deviceIds);
      const { kept, left } = await this.noise.filterRecipients(ctx.tenantId, deviceIds, rule.priority, quiet, quiet.hourlyLimit, now);
      await this.insertMessage(ctx, messageId, input, kept, { kind: 'rule', ruleId: rule.id }, rule.id, null, occurrence.deviceId, null, (trx) => this.noise.holdRuleLimit(trx, rule, now));
      await this.noise.record(ctx.tenantId, left.map((l) => ({ ruleId: rule.id, messageId, subject: occurrence.deviceId, recipient: l.recipient, reason: l.reason, detail: l.detail, at: now })));
      rulesFired.inc();
      this.logger.info({ tenantId: ctx.tenantId, ruleId: rule.id, key: occurrence.key, recipients: kept.length, suppressed: left.length }, 'rule fired');
    } catch (err) {
      if (err instanceof RuleLimitReached) {
        await this.noise.record(ctx.tenantId, [{ ruleId: rule.id, messageId: null, subject: occurrence.deviceId, recipient: null, ...err.blocked, at: now }]);
        this.logger.info({ ruleId: rule.id, deviceId: occurrence.deviceId, reason: err.blocked.reason }, 'rule alert suppressed');
        return;
      }
      if (err instanceof AppError && err.code === 'validation_failed') {
        this.logger.warn({ err, ruleId: rule.id }, 'rule target no longer resolves; alert not sent');
        return;
      }
      throw err;
    }
  }

  /** The tenant's quiet hours and hourly limit, and each device's person's quiet hours. */
  private async quietHoursOf(ctx: TenantContext, deviceIds: string[]): Promise<{ tenant: TimeWindow | null; byDevice: Map<string, TimeWindow>; hourlyLimit: number | null }> {
    const [settings, profiles] = await Promise.all([this.getSettings(ctx), this.scope(ctx).selectFrom('profiles').select(['user_id', 'quiet_hours']).where('quiet_hours', 'is not', null).execute()]);
    const byDevice = new Map<string, TimeWindow>();
    if (profiles.length > 0 && deviceIds.length > 0) {
      const quietOf = new Map(profiles.map((p) => [p.user_id, JSON.parse(p.quiet_hours!) as TimeWindow]));
      for (const person of await this.resolvers.people(ctx, deviceIds, [])) {
        const window = quietOf.get(person.id);
        if (window) for (const d of person.deviceIds) byDevice.set(d, window);
      }
    }
    return { tenant: settings.quietHours, byDevice, hourlyLimit: settings.recipientHourlyLimit };
  }

  /** Messages whose live zone is this fence and whose window is open at the event reach the device, once. */
  private async reachLiveZones(ctx: TenantContext, event: FenceEvent): Promise<void> {
    const zones = await this.scope(ctx).selectFrom('messages').selectAll().where('live_fence_id', '=', event.fenceId).where('live_until', '>', event.time).where('created_at', '<=', event.time).execute();
    for (const message of zones) {
      const now = Date.now();
      const id = newId('dlv');
      const inserted = await this.db
        .insertInto('deliveries')
        .values({ id, tenant_id: ctx.tenantId, message_id: message.id, device_id: event.deviceId, state: 'queued', response: null, responded_by: null, queued_at: now, sent_at: null, delivered_at: null, read_at: null, acknowledged_at: null, dispatch_at: now, expired_at: null })
        .onConflict((oc) => oc.columns(['message_id', 'device_id']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) continue; // this device had it already
      transitions.inc({ state: 'queued' });
      await publishDeliveryUpdates(this.bus, [{ tenantId: ctx.tenantId, messageId: message.id, deliveryId: id, channel: 'app', deviceId: event.deviceId, state: 'queued', at: now }]);
      const channels = JSON.parse(message.channels) as ChannelName[];
      if (channels.some((c) => PERSON_CHANNELS.includes(c))) {
        const rows = await this.personRows(ctx, message.id, channels.filter((c) => PERSON_CHANNELS.includes(c)), [event.deviceId], [], now);
        if (rows.length > 0) await this.db.insertInto('outbox').values(rows).onConflict((oc) => oc.columns(['message_id', 'channel', 'recipient']).doNothing()).execute();
      }
      this.logger.info({ messageId: message.id, deviceId: event.deviceId }, 'live zone reached a device that entered');
    }
    if (zones.length > 0) this.outbox.kick();
  }

  /**
   * Embedded deployment: an SOS kept, alerted and through its rules before the device hears its ack.
   * The in-process bus keeps nothing across a crash, so an SOS acknowledged on the strength of a
   * publish alone could be lost; its copy on the bus, or a resend, finds it kept. A cluster's edge
   * publishes to JetStream instead, which keeps it before the ack.
   */
  async keepSos(sos: SosRaised): Promise<void> {
    // a resend while the first is still being kept waits for it rather than racing it to the insert
    const key = `${sos.tenantId}/${sos.deviceId}/${sos.id}`;
    let keeping = this.sosKeeping.get(key);
    if (!keeping) {
      keeping = this.onSos(sos).finally(() => this.sosKeeping.delete(key));
      this.sosKeeping.set(key, keeping);
    }
    await keeping;
  }

  /**
   * An SOS from a device: kept as an SOS alarm and sent as a critical alert to the tenant's
   * responders, in one transaction, once per SOS id; then rules on sos run. A resent SOS runs only
   * the rules again, which find their alerts made (a crash may have come between the two).
   */
  private async onSos(sos: SosRaised): Promise<void> {
    const ctx = systemContext(sos.tenantId);
    const messageId = `msg_sos_${sos.deviceId}_${sos.id}`.slice(0, 120);
    const scope = this.scope(ctx);
    const kept = await scope.selectFrom('sos_alarms').select('id').where('device_id', '=', sos.deviceId).where('sos_id', '=', sos.id).executeTakeFirst();
    if (!kept) {
      if (await scope.selectFrom('messages').select('id').where('id', '=', messageId).executeTakeFirst()) return; // alerted before SOS alarms were kept
      await this.raiseSos(ctx, sos, messageId);
    }
    const vars = { event: 'raised an SOS', text: sos.text ?? '' };
    for (const rule of (await this.rules.get(ctx.tenantId)).of('sos')) await this.fireRule(ctx, rule, { deviceId: sos.deviceId, key: `sos_${sos.deviceId}_${sos.id}`, at: sos.at, vars });
  }

  /** Keeps a new SOS alarm and its alert to the responders (one transaction) and tells the live stream. */
  private async raiseSos(ctx: TenantContext, sos: SosRaised, messageId: string): Promise<void> {
    const settings = await this.getSettings(ctx);
    const deviceName = await this.resolvers.deviceName(ctx, sos.deviceId).catch(() => sos.deviceId);
    const person = (await this.resolvers.people(ctx, [sos.deviceId], []).catch(() => [] as Person[]))[0];
    const deviceIds = settings.responders ? await this.resolve(ctx, settings.responders).catch(() => [] as string[]) : [];
    const responders = await Promise.all(deviceIds.map(async (id) => ({ deviceId: id, name: await this.resolvers.deviceName(ctx, id).catch(() => id) })));
    const alarmId = newId('sos');
    const row = sosRow({ id: alarmId, tenantId: sos.tenantId, sosId: sos.id, deviceId: sos.deviceId, deviceName, userId: person?.id ?? null, personName: person?.name ?? null, raisedAt: sos.at, lon: sos.lon, lat: sos.lat, accuracy: sos.accuracy, text: sos.text, messageId: settings.responders ? messageId : null, responders });
    const keep = async (trx: Kysely<NotificationDB>) => {
      await trx.insertInto('sos_alarms').values(row).execute();
    };
    if (!settings.responders) {
      this.logger.error({ tenantId: sos.tenantId, deviceId: sos.deviceId }, 'SOS raised but the tenant has no responders set (PUT …/notification-settings); kept as an SOS alarm, and only rules on sos are run');
      await this.db.transaction().execute(keep);
    } else {
      const where = sos.lon !== undefined && sos.lat !== undefined ? ` at ${sos.lat.toFixed(5)}, ${sos.lon.toFixed(5)}` : '';
      const input: SendInput = {
        target: settings.responders,
        title: `SOS from ${person ? `${person.name} (${deviceName})` : deviceName}`.slice(0, 200),
        body: `${sos.text ? `${sos.text}\n` : ''}Raised ${new Date(sos.at).toISOString()}${where}.${this.liveMapLink(sos.tenantId) ? ` ${this.liveMapLink(sos.tenantId)}` : ''}`,
        priority: 'critical',
        ackRequired: true,
        channels: ['app'],
      };
      await this.insertMessage(ctx, messageId, input, deviceIds, { kind: 'sos', deviceId: sos.deviceId }, null, null, null, null, keep);
      this.logger.warn({ tenantId: sos.tenantId, deviceId: sos.deviceId, responders: deviceIds.length }, 'SOS sent to responders');
    }
    await this.publishSosAlarm(ctx, alarmId);
  }

  // ---- SOS alarms ----

  /** SOS alarms, newest first: operators see the tenant's, a device its own, a member those of the devices they carry. */
  async listSosAlarms(ctx: TenantContext, query: { state?: SosFilter | undefined; limit?: number | undefined; before?: string | undefined } = {}): Promise<SosAlarm[]> {
    return listSosAlarms(this.db, ctx, await this.sosReader(ctx), query);
  }

  async getSosAlarm(ctx: TenantContext, id: string): Promise<SosAlarm> {
    return getSosAlarm(this.db, ctx, await this.sosReader(ctx), id);
  }

  /** An operator marks the alarm resolved (with an optional note); the live stream hears of it. */
  async resolveSosAlarm(ctx: TenantContext, id: string, resolution?: string): Promise<SosAlarm> {
    await resolveSosAlarm(this.db, ctx, id, await this.actor(ctx), resolution, Date.now());
    return this.publishSosAlarm(ctx, id);
  }

  /** Who acts, by name, for records that say who did something. */
  private async actor(ctx: TenantContext): Promise<{ userId: string | null; name: string }> {
    const p = ctx.principal;
    return p.kind === 'user' ? { userId: p.userId, name: (await this.resolvers.people(ctx, [], [p.userId]).catch(() => [] as Person[]))[0]?.name ?? p.userId } : { userId: null, name: p.kind === 'admin' ? 'the platform admin' : p.kind };
  }

  /**
   * An operator who learnt from the person or the provider's console whether a channel delivery
   * given up as `unknown` arrived records it: `sent` or `failed`, with who, when and a note. Only an
   * unknown delivery can be settled, once; the live stream hears of it.
   */
  async settleDelivery(ctx: TenantContext, deliveryId: string, outcome: string, note?: string): Promise<Delivery> {
    if (!(SETTLED_OUTCOMES as readonly string[]).includes(outcome)) throw invalid('outcome', `must be one of ${SETTLED_OUTCOMES.join(', ')}, got ${JSON.stringify(outcome)}`);
    if (note !== undefined && (typeof note !== 'string' || note.length > 1000)) throw invalid('note', 'must be text of at most 1000 characters');
    const scope = this.scope(ctx);
    const row = await scope.selectFrom('outbox').selectAll().where('id', '=', deliveryId).executeTakeFirst();
    if (!row) throw notFound('delivery', deliveryId);
    if (row.state !== 'unknown') {
      const already = row.settled_at != null ? `, settled by ${row.settled_by_name ?? 'someone'} at ${new Date(row.settled_at).toISOString()}` : '';
      throw new AppError('conflict', `delivery ${deliveryId} is ${row.state}${already}; only a delivery whose outcome is unknown can be settled`, [{ field: 'outcome', reason: `the delivery is ${row.state}, not unknown` }]);
    }
    const by = await this.actor(ctx);
    const at = Date.now();
    const updated = await scope
      .updateTable('outbox')
      .set({
        state: outcome,
        // sent: from the attempt whose answer was lost (sending_at), as the provider's records would show it
        ...(outcome === 'sent' ? { sent_at: row.sending_at ?? row.failed_at ?? at } : {}),
        sending_at: null,
        settled_by: by.userId ?? ctx.principal.kind,
        settled_by_name: by.name,
        settled_at: at,
        settled_note: note?.trim() || null,
      })
      .where('id', '=', deliveryId)
      .where('state', '=', 'unknown')
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return this.settleDelivery(ctx, deliveryId, outcome, note); // settled meanwhile: answers the conflict
    await publishDeliveryUpdates(this.bus, [{ tenantId: ctx.tenantId, messageId: row.message_id, deliveryId, channel: row.channel as ChannelName, recipient: row.recipient, state: outcome as 'sent' | 'failed', at }]);
    const settled = await scope.selectFrom('outbox').selectAll().where('id', '=', deliveryId).executeTakeFirstOrThrow();
    return outboxToDelivery(settled);
  }

  private async sosReader(ctx: TenantContext): Promise<SosReader> {
    const p = ctx.principal;
    if (p.kind === 'admin' || (p.kind === 'user' && roleAtLeast(p.role, 'operator'))) return { all: true };
    if (p.kind === 'device') return { all: false, deviceIds: [p.deviceId] };
    return { all: false, deviceIds: await this.resolvers.devicesOf(ctx, { userIds: [p.userId] }) };
  }

  private async publishSosAlarm(ctx: TenantContext, id: string): Promise<SosAlarm> {
    const alarm = await getSosAlarm(this.db, ctx, { all: true }, id);
    await this.bus.publish(sosAlarmChanged, alarm.deviceId, alarm);
    return alarm;
  }

  // ---- background sweeps: expiry, escalation, live-zone windows ----

  private async sweep(): Promise<void> {
    await this.expire();
    await this.escalate();
    await this.closeLiveZones();
    if (this.options.catchUp) await pruneMarks(this.db);
  }

  /** Deliveries of expired messages that never reached their recipient become `expired`. */
  async expire(now = Date.now()): Promise<number> {
    // messages that expired within the last week (older ones were swept then), through the expires_at index
    const expired = (await this.db.selectFrom('messages').select('id').where('expires_at', '<=', now).where('expires_at', '>', now - 7 * 86_400_000).execute()).map((m) => m.id);
    if (expired.length === 0) return 0;
    const app = await this.db
      .selectFrom('deliveries')
      .select(['id', 'tenant_id', 'message_id', 'device_id'])
      .where('message_id', 'in', expired.slice(0, 1000))
      .where('state', 'in', ['queued', 'sent'])
      .limit(5000)
      .execute();
    for (let i = 0; i < app.length; i += FANOUT_CHUNK) {
      const chunk = app.slice(i, i + FANOUT_CHUNK);
      await this.db.updateTable('deliveries').set({ state: 'expired', expired_at: now, dispatch_at: null }).where('id', 'in', chunk.map((d) => d.id)).where('state', 'in', ['queued', 'sent']).execute();
      await publishDeliveryUpdates(this.bus, chunk.map((d) => ({ tenantId: d.tenant_id, messageId: d.message_id, deliveryId: d.id, channel: 'app', deviceId: d.device_id, state: 'expired', at: now })));
      await yieldToLoop();
    }
    const other = await this.db
      .selectFrom('outbox')
      .select(['id', 'tenant_id', 'message_id', 'channel', 'recipient'])
      .where('message_id', 'in', expired.slice(0, 1000))
      .where('state', '=', 'queued')
      .limit(5000)
      .execute();
    for (const d of other) await this.db.updateTable('outbox').set({ state: 'expired', expired_at: now, next_attempt_at: null }).where('id', '=', d.id).where('state', '=', 'queued').execute();
    await publishDeliveryUpdates(this.bus, other.map((d) => ({ tenantId: d.tenant_id, messageId: d.message_id, deliveryId: d.id, channel: d.channel as ChannelName, recipient: d.recipient, state: 'expired', at: now })));
    transitions.inc({ state: 'expired' }, app.length + other.length);
    return app.length + other.length;
  }

  /** Messages whose escalation window closed with too few acknowledgements go to the escalation target. Stored, so a restart keeps the timer. */
  private async escalate(now = Date.now()): Promise<void> {
    const due = await this.db.selectFrom('messages').selectAll().where('escalation_due_at', '<=', now).where('escalated_at', 'is', null).limit(100).execute();
    for (const row of due) {
      const ctx = systemContext(row.tenant_id);
      const escalation = JSON.parse(row.escalation!) as Escalation;
      const confirmed = Number((await this.db.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('message_id', '=', row.id).where('state', '=', 'acknowledged').executeTakeFirstOrThrow()).n);
      let escalationMessageId: string | null = null;
      if (confirmed < escalation.minConfirmations) {
        escalationMessageId = `msg_esc_${row.id.slice(4)}`;
        const input: SendInput = {
          target: escalation.target,
          title: `Escalation: ${row.title}`.slice(0, 200),
          body: `Only ${confirmed} of at least ${escalation.minConfirmations} confirmations within ${escalation.withinMinutes} minutes.${row.body ? `\n\n${row.body}` : ''}`,
          priority: row.priority === 'critical' ? 'critical' : 'high',
          ackRequired: true,
          channels: JSON.parse(row.channels) as ChannelName[],
        };
        try {
          if (!(await this.db.selectFrom('messages').select('id').where('id', '=', escalationMessageId).executeTakeFirst())) {
            const deviceIds = await this.resolve(ctx, escalation.target);
            await this.create(ctx, escalationMessageId, input, deviceIds, { kind: 'escalation', messageId: row.id }, null);
          }
          escalations.inc();
          this.logger.warn({ messageId: row.id, confirmed, needed: escalation.minConfirmations }, 'message escalated');
        } catch (err) {
          this.logger.error({ err, messageId: row.id }, 'escalation could not be sent');
          escalationMessageId = null;
        }
      }
      await this.db.updateTable('messages').set({ escalated_at: now, escalation: JSON.stringify({ ...escalation, escalationMessageId }) }).where('id', '=', row.id).execute();
    }
  }

  /** Temporary fences of live zones whose window closed are removed. */
  private async closeLiveZones(now = Date.now()): Promise<void> {
    const closed = await this.db.selectFrom('messages').select(['id', 'tenant_id', 'live_fence_id']).where('temp_fence', '=', 1).where('live_until', '<=', now).limit(100).execute();
    for (const row of closed) {
      await this.resolvers.deleteFence(systemContext(row.tenant_id), row.live_fence_id!).catch((err: unknown) => {
        if (!(err instanceof AppError && err.code === 'not_found')) throw err;
      });
      await this.db.updateTable('messages').set({ temp_fence: 2 }).where('id', '=', row.id).execute();
    }
  }

  // ---- a tenant's data as a whole ----

  async exportTenant(tenantId: string): Promise<Record<string, unknown[]>> {
    return exportTenantRows(this.db, notificationTenantTables, tenantId);
  }

  async purgeTenant(tenantId: string): Promise<number> {
    const purged = await this.db.transaction().execute((trx) => purgeTenantRows<NotificationDB>(trx, notificationTenantTables, tenantId));
    await this.rulesChanged(tenantId);
    return purged;
  }

  async importTenant(tenantId: string, rows: Record<string, unknown[]>): Promise<number> {
    const imported = await this.db.transaction().execute((trx) => importTenantRows<NotificationDB>(trx, notificationTenantTables, tenantId, rows));
    await this.rulesChanged(tenantId);
    return imported;
  }

  // ---- internals ----

  private async vapidKeys(): Promise<VapidKeys> {
    const stored = await this.db.selectFrom('keys').select('value').where('name', '=', 'vapid').executeTakeFirst();
    if (stored) return JSON.parse(stored.value) as VapidKeys;
    const keys = generateVapidKeys();
    await this.db.insertInto('keys').values({ name: 'vapid', value: JSON.stringify(keys) }).onConflict((oc) => oc.column('name').doNothing()).execute();
    const kept = await this.db.selectFrom('keys').select('value').where('name', '=', 'vapid').executeTakeFirstOrThrow();
    this.logger.info('generated the Web Push (VAPID) key pair');
    return JSON.parse(kept.value) as VapidKeys;
  }

  private liveMapLink(tenantId: string): string | undefined {
    return this.options.publicUrl ? `${this.options.publicUrl.replace(/\/$/, '')}/?tenant=${encodeURIComponent(tenantId)}#live` : undefined;
  }

  private async checkChannels(ctx: TenantContext, channels: ChannelName[]): Promise<void> {
    for (const name of channels) {
      if (name === 'webhook') {
        if (!(await this.getSettings(ctx)).webhookUrl) throw invalid('channels', 'webhook: the tenant has no webhook URL; set one with PUT /tenants/{id}/notification-settings');
      } else if (!this.channels[name].configured) {
        throw invalid('channels', `${name}: this deployment has no ${name === 'email' ? 'SMTP server (FOLLOWME_SMTP_URL)' : name === 'sms' ? 'SMS provider (FOLLOWME_SMS_PROVIDER)' : name} configured`);
      }
    }
  }

  private async resolve(ctx: TenantContext, target: Target): Promise<string[]> {
    const devices = new Set(await this.resolvers.devicesOf(ctx, target));
    if (target.responders) {
      const responders = (await this.getSettings(ctx)).responders;
      if (!responders) throw invalid('target.responders', 'the tenant has no responders; set them with PUT /tenants/{id}/notification-settings');
      for (const id of await this.resolve(ctx, responders)) devices.add(id);
    }
    for (const fenceId of target.fenceIds ?? []) {
      const inside = await this.resolvers.insideFence(ctx, fenceId).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'not_found') throw invalid('target.fenceIds', `no fence ${fenceId} in this tenant`);
        throw err;
      });
      for (const id of inside) devices.add(id);
    }
    const shape = areaShape(target);
    if (shape) for (const id of devicesInArea(shape, await this.resolvers.lastKnown(ctx), target.maxAgeMinutes)) devices.add(id);
    return [...devices].sort();
  }

  /** Outbox rows for the person channels: one per user and channel (per subscription for push), where the person has an address. */
  private async personRows(ctx: TenantContext, messageId: string, channels: ChannelName[], deviceIds: string[], userIds: string[], now: number): Promise<NotificationDB['outbox'][]> {
    if (channels.length === 0) return []; // in-app and webhook only: nobody to look up
    const people = await this.resolvers.people(ctx, deviceIds, userIds);
    const rows: NotificationDB['outbox'][] = [];
    const row = (channel: ChannelName, recipient: string, address: string): NotificationDB['outbox'] => ({ id: newId('obx'), tenant_id: ctx.tenantId, message_id: messageId, channel, recipient, address, state: 'queued', attempts: 0, next_attempt_at: now, last_error: null, queued_at: now, sent_at: null, delivered_at: null, failed_at: null, expired_at: null });
    const ids = people.map((p) => p.id);
    const phones = channels.includes('sms') && ids.length ? await this.scope(ctx).selectFrom('profiles').select(['user_id', 'phone']).where('user_id', 'in', ids).execute() : [];
    const subscriptions = channels.includes('push') && ids.length ? await this.scope(ctx).selectFrom('push_subscriptions').selectAll().where('user_id', 'in', ids).execute() : [];
    for (const person of people) {
      if (channels.includes('email') && person.email) rows.push(row('email', person.id, person.email));
      const phone = phones.find((p) => p.user_id === person.id)?.phone;
      if (channels.includes('sms') && phone) rows.push(row('sms', person.id, phone));
      for (const s of subscriptions.filter((x) => x.user_id === person.id)) rows.push(row('push', s.id, JSON.stringify({ endpoint: s.endpoint, keys: { p256dh: s.p256dh, auth: s.auth } })));
    }
    return rows;
  }

  /** Stores a message (see `insertMessage`) and answers it with its delivery counts. */
  private async create(ctx: TenantContext, id: string, input: SendInput, deviceIds: string[], sender: Sender, ruleId: string | null, parentId: string | null = null, subject: string | null = null, source: object | null = null): Promise<Message> {
    const [message] = await this.withCounts(ctx, [await this.insertMessage(ctx, id, input, deviceIds, sender, ruleId, parentId, subject, source)]);
    return message!;
  }

  /**
   * The message with its deliveries and outbox rows in one transaction (plus `inTransaction`'s
   * writes), then every delivery's `queued`, batched per message. Rule alerts and SOS stop here: nobody reads the
   * counts of a message just made by a consumer, so they skip `create`'s two counting queries.
   */
  private async insertMessage(ctx: TenantContext, id: string, input: SendInput, deviceIds: string[], sender: Sender, ruleId: string | null, parentId: string | null = null, subject: string | null = null, source: object | null = null, inTransaction?: (trx: Kysely<NotificationDB>) => Promise<void>): Promise<NotificationDB['messages']> {
    const now = Date.now();
    const channels = input.channels ?? ['app'];
    let liveFenceId: string | null = null;
    let tempFence = 0;
    if (input.liveMinutes !== undefined) {
      if (input.target.area) {
        liveFenceId = await this.resolvers.createTemporaryFence(ctx, `live zone of ${id}`, input.target.area);
        tempFence = 1;
      } else liveFenceId = input.target.fenceIds![0]!;
    }
    const row: NotificationDB['messages'] = {
      id,
      tenant_id: ctx.tenantId,
      title: input.title,
      body: input.body ?? '',
      priority: input.priority ?? 'normal',
      ack_required: input.ackRequired ? 1 : 0,
      options: input.options?.length ? JSON.stringify(input.options) : null,
      target: JSON.stringify(input.target),
      sender: JSON.stringify(sender),
      rule_id: ruleId,
      created_at: now,
      expires_at: input.ttlSeconds ? now + input.ttlSeconds * 1000 : null,
      channels: JSON.stringify(channels),
      escalation: input.escalation ? JSON.stringify(input.escalation) : null,
      escalation_due_at: input.escalation ? now + input.escalation.withinMinutes * 60_000 : null,
      escalated_at: null,
      live_until: input.liveMinutes !== undefined ? now + input.liveMinutes * 60_000 : null,
      live_fence_id: liveFenceId,
      temp_fence: tempFence,
      parent_id: parentId,
      subject,
      source: source ? JSON.stringify(source) : null,
    };
    const app = channels.includes('app') ? deviceIds : [];
    const deliveries = app.map((deviceId) => ({ id: newId('dlv'), message_id: id, device_id: deviceId, state: 'queued', response: null, responded_by: null, queued_at: now, sent_at: null, delivered_at: null, read_at: null, acknowledged_at: null, dispatch_at: now, expired_at: null }));
    const outboxRows = await this.personRows(ctx, id, channels.filter((c) => PERSON_CHANNELS.includes(c)), deviceIds, input.target.userIds ?? [], now);
    if (channels.includes('webhook')) {
      const url = (await this.getSettings(ctx)).webhookUrl;
      if (url) outboxRows.push({ id: newId('obx'), tenant_id: ctx.tenantId, message_id: id, channel: 'webhook', recipient: 'tenant', address: url, state: 'queued', attempts: 0, next_attempt_at: now, last_error: null, queued_at: now, sent_at: null, delivered_at: null, failed_at: null, expired_at: null });
    }
    // One transaction: the message, every delivery and every outbox row, or nothing. Between
    // chunks the event loop gets a turn, so a 100,000-recipient message does not stall the process.
    await this.db.transaction().execute(async (trx) => {
      await inTransaction?.(trx);
      const scope = this.scope(ctx).with(trx);
      const { tenant_id: _tenant, ...message } = row;
      await scope.insert('messages', message);
      for (let i = 0; i < deliveries.length; i += INSERT_CHUNK) {
        await scope.insert('deliveries', deliveries.slice(i, i + INSERT_CHUNK));
        if (deliveries.length > INSERT_CHUNK) await yieldToLoop();
      }
      for (let i = 0; i < outboxRows.length; i += INSERT_CHUNK) await insertRows(trx, 'outbox', outboxRows.slice(i, i + INSERT_CHUNK));
    });
    transitions.inc({ state: 'queued' }, deliveries.length + outboxRows.length);
    this.outbox.kick();
    // every delivery's `queued`, UPDATE_BATCH to a bus message
    await publishDeliveryUpdates(this.bus, [
      ...deliveries.map((d) => ({ tenantId: ctx.tenantId, messageId: id, deliveryId: d.id, channel: 'app' as const, deviceId: d.device_id, state: 'queued' as const, at: now })),
      ...outboxRows.map((o) => ({ tenantId: ctx.tenantId, messageId: id, deliveryId: o.id, channel: o.channel as ChannelName, recipient: o.recipient, state: 'queued' as const, at: now })),
    ]);
    return row;
  }

  /**
   * Moves a delivery forward (never back). `read` is the row when the caller has just read it. The
   * message is read only for what needs it (a response's options, an answer to a reminder): a plain
   * delivered or read receipt is one read and one update, the bulk of a send's receipts.
   */
  private async advance(ctx: TenantContext, deliveryId: string, state: 'sent' | ReceiptKind, response: string | undefined, respondedBy: string | undefined, read?: NotificationDB['deliveries']): Promise<Delivery> {
    const scope = this.scope(ctx);
    const row = read ?? (await scope.selectFrom('deliveries').selectAll().where('id', '=', deliveryId).executeTakeFirst());
    if (!row) throw notFound('delivery', deliveryId);
    const message = response !== undefined || state === 'acknowledged' ? await scope.selectFrom('messages').select(['options', 'parent_id']).where('id', '=', row.message_id).executeTakeFirstOrThrow() : undefined;
    if (response !== undefined && message) {
      if (typeof response !== 'string' || response.length > 1000) throw invalid('response', 'must be text of at most 1000 characters');
      const options = message.options ? (JSON.parse(message.options) as string[]) : null;
      if (options && !options.includes(response)) throw invalid('response', `must be one of ${options.map((o) => JSON.stringify(o)).join(', ')}`);
    }
    const current = row.state as DeliveryState;
    if (ORDER[state] <= ORDER[current] || ORDER[current] === 5) return toDelivery(row);
    const now = Date.now();
    const changes: Partial<NotificationDB['deliveries']> = { state, [STAMP[state]]: now };
    // a later receipt implies the earlier ones
    for (const earlier of ['sent', 'delivered', 'read'] as const) {
      if (ORDER[earlier] < ORDER[state] && row[STAMP[earlier]] === null) changes[STAMP[earlier]] = now;
    }
    if (response !== undefined) changes.response = response;
    if (respondedBy !== undefined) changes.responded_by = respondedBy;
    const updated = await scope.updateTable('deliveries').set(changes).where('id', '=', deliveryId).where('state', '=', current).executeTakeFirst();
    if (Number(updated.numUpdatedRows) === 0) return this.advance(ctx, deliveryId, state, response, respondedBy); // a concurrent receipt moved it first
    transitions.inc({ state });
    await publishDeliveryUpdates(this.bus, [{ tenantId: ctx.tenantId, messageId: row.message_id, deliveryId, channel: 'app', deviceId: row.device_id, state, response, at: now }]);
    // the first responder to acknowledge an SOS alert acknowledges the SOS alarm
    if (state === 'acknowledged' && row.message_id.startsWith('msg_sos_')) {
      const name = await this.resolvers.deviceName(ctx, row.device_id).catch(() => row.device_id);
      const alarmId = await acknowledgeSosAlarm(this.db, ctx, row.message_id, { deviceId: row.device_id, name }, now);
      if (alarmId) await this.publishSosAlarm(ctx, alarmId);
    }
    // an answer to a reminder answers the original message too
    if (state === 'acknowledged' && message?.parent_id) {
      const original = await scope.selectFrom('deliveries').select('id').where('message_id', '=', message.parent_id).where('device_id', '=', row.device_id).executeTakeFirst();
      if (original) await this.advance(ctx, original.id, 'acknowledged', response, respondedBy ?? `reminder ${row.message_id}`);
    }
    return toDelivery({ ...row, ...changes });
  }

  private async withCounts(ctx: TenantContext, rows: NotificationDB['messages'][]): Promise<Message[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const counts = await this.scope(ctx).selectFrom('deliveries').select(['message_id', 'state', (eb) => eb.fn.countAll<number>().as('n')]).where('message_id', 'in', ids).groupBy(['message_id', 'state']).execute();
    const channelCounts = await this.scope(ctx).selectFrom('outbox').select(['message_id', 'channel', 'state', (eb) => eb.fn.countAll<number>().as('n')]).where('message_id', 'in', ids).groupBy(['message_id', 'channel', 'state']).execute();
    return rows.map((row) => {
      const byState = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
      for (const c of counts) if (c.message_id === row.id) byState[c.state as DeliveryState] = Number(c.n);
      const byChannel: Record<string, Record<string, number>> = {};
      for (const c of channelCounts) if (c.message_id === row.id) (byChannel[c.channel] ??= {})[c.state] = Number(c.n);
      const escalation = row.escalation ? (JSON.parse(row.escalation) as Escalation & { escalationMessageId?: string | null }) : null;
      return {
        id: row.id,
        tenantId: row.tenant_id,
        title: row.title,
        body: row.body,
        priority: row.priority as Priority,
        ackRequired: row.ack_required === 1,
        options: row.options ? (JSON.parse(row.options) as string[]) : null,
        target: JSON.parse(row.target) as Target,
        sender: JSON.parse(row.sender) as Sender,
        channels: JSON.parse(row.channels) as ChannelName[],
        createdAt: row.created_at,
        expiresAt: row.expires_at,
        escalation: escalation ? { minConfirmations: escalation.minConfirmations, withinMinutes: escalation.withinMinutes, target: escalation.target, dueAt: row.escalation_due_at!, escalatedAt: row.escalated_at, escalationMessageId: escalation.escalationMessageId ?? null } : null,
        liveUntil: row.live_until,
        parentId: row.parent_id,
        recipients: Object.values(byState).reduce((a, b) => a + b, 0),
        counts: byState,
        channelCounts: byChannel,
      };
    });
  }
}

function normalizeSend(input: SendInput): SendInput {
  const target = normalizeTarget(input.target);
  if (typeof input.title !== 'string' || input.title.trim() === '') throw invalid('title', 'must be a non-empty string');
  if (input.title.length > 200) throw invalid('title', 'must be at most 200 characters');
  if (input.body !== undefined && (typeof input.body !== 'string' || input.body.length > 10_000)) throw invalid('body', 'must be text of at most 10000 characters');
  if (input.priority !== undefined && !(PRIORITIES as readonly string[]).includes(input.priority)) throw invalid('priority', `must be one of ${PRIORITIES.join(', ')}, got ${JSON.stringify(input.priority)}`);
  if (input.options !== undefined) {
    if (!Array.isArray(input.options) || input.options.length > 10 || !input.options.every((o) => typeof o === 'string' && o.length > 0 && o.length <= 100)) {
      throw invalid('options', 'must be up to 10 answer texts of 1 to 100 characters');
    }
    if (new Set(input.options).size !== input.options.length) throw invalid('options', 'must not repeat an answer');
  }
  if (input.ttlSeconds !== undefined && (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 1)) throw invalid('ttlSeconds', 'must be a whole number of seconds from 1');
  if (input.liveMinutes !== undefined && (typeof input.liveMinutes !== 'number' || !(input.liveMinutes > 0) || input.liveMinutes > 7 * 24 * 60)) throw invalid('liveMinutes', 'must be a number of minutes greater than 0 and at most 10080 (a week)');
  let escalation: Escalation | undefined;
  if (input.escalation !== undefined) {
    const e = input.escalation as Partial<Escalation> | null;
    if (!e || typeof e !== 'object') throw invalid('escalation', 'must be { minConfirmations, withinMinutes, target }');
    if (!Number.isInteger(e.minConfirmations) || e.minConfirmations! < 1) throw invalid('escalation.minConfirmations', 'must be a whole number from 1');
    if (typeof e.withinMinutes !== 'number' || !(e.withinMinutes > 0)) throw invalid('escalation.withinMinutes', 'must be a number of minutes greater than 0');
    escalation = { minConfirmations: e.minConfirmations!, withinMinutes: e.withinMinutes, target: normalizeTarget(e.target, 'escalation.target') };
  }
  return {
    ...input,
    target,
    title: input.title.trim(),
    ackRequired: input.ackRequired ?? ((input.options !== undefined && input.options.length > 0) || escalation !== undefined),
    channels: normalizeChannels(input.channels),
    escalation,
  };
}

function toDelivery(row: NotificationDB['deliveries']): Delivery {
  return {
    id: row.id,
    messageId: row.message_id,
    channel: 'app',
    recipient: row.device_id,
    deviceId: row.device_id,
    state: row.state as DeliveryState,
    response: row.response,
    respondedBy: row.responded_by,
    attempts: null,
    lastError: null,
    queuedAt: row.queued_at,
    sentAt: row.sent_at,
    deliveredAt: row.delivered_at,
    readAt: row.read_at,
    acknowledgedAt: row.acknowledged_at,
    expiredAt: row.expired_at,
    failedAt: null,
    unknownAt: null,
    settled: null,
  };
}

function outboxToDelivery(row: NotificationDB['outbox']): Delivery {
  return {
    id: row.id,
    messageId: row.message_id,
    channel: row.channel as ChannelName,
    recipient: row.recipient,
    deviceId: null,
    state: row.state as DeliveryState,
    response: null,
    respondedBy: null,
    attempts: row.attempts,
    lastError: row.last_error,
    queuedAt: row.queued_at,
    sentAt: row.sent_at,
    deliveredAt: row.delivered_at,
    readAt: null,
    acknowledgedAt: null,
    expiredAt: row.expired_at,
    // failed_at is when the outbox gave up on the row, failed or with its outcome unknown
    failedAt: row.state === 'failed' ? row.failed_at : null,
    // an unknown delivery settled afterwards keeps when it was given up
    unknownAt: row.state === 'unknown' || row.settled_at != null ? row.failed_at : null,
    settled: row.settled_at != null ? { by: row.settled_by ?? '', name: row.settled_by_name ?? row.settled_by ?? '', at: row.settled_at, note: row.settled_note ?? null } : null,
  };
}
