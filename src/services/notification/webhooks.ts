/**
 * Geofence event subscriptions (webhooks): a tenant's endpoints, which events each wants, and the
 * deliveries made for them. Part of the notification service, which owns the outbox and the signed
 * webhook POST (docs/architecture.md says why).
 *
 * Events come from the bus (`geofence.event`, durable consumer `notification-webhooks`); each one
 * becomes one `webhook_deliveries` row per matching subscription, unique by (subscription, event),
 * so a redelivered event changes nothing. The worker (webhook-worker.ts) sends them.
 */
import type { Kysely } from 'kysely';
import { AppError, invalid, notFound } from '../../core/errors.js';
import { newId, newSecret } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import { systemContext, type TenantContext } from '../../core/tenancy.js';
import { settingsChanged, type Bus, type Ownership, type Subscription } from '../../ports/bus.js';
import { TenantScope, type Store } from '../../ports/store.js';
import { fenceEvent, type FenceEvent } from '../geofence/index.js';
import { TenantCache } from './rule-cache.js';
import type { NotificationDB } from './schema.js';
import { WebhookWorker, type WebhookSettings } from './webhook-worker.js';

export type { WebhookSettings } from './webhook-worker.js';

export const WEBHOOK_EVENTS = ['enter', 'exit', 'dwell', 'within', 'apart'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
const FENCE_EVENTS: readonly string[] = ['enter', 'exit', 'dwell'];
const MAX_IDS = 1000;

export interface Webhook {
  id: string;
  tenantId: string;
  url: string;
  description: string;
  events: WebhookEvent[];
  /** Only events of these fences; null: any. */
  fenceIds: string[] | null;
  /** Only events about these devices (the device or, for proximity, the other one); null: any. */
  deviceIds: string[] | null;
  /** Only events about devices in these groups or their sub-groups; null: any. */
  groupIds: string[] | null;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
  /** The signing secret: in the answer to create and rotate, and to an admin who asks for it. */
  secret?: string | undefined;
}

export interface WebhookInput {
  url: string;
  description?: string | undefined;
  events: string[];
  fenceIds?: string[] | null | undefined;
  deviceIds?: string[] | null | undefined;
  groupIds?: string[] | null | undefined;
  enabled?: boolean | undefined;
}

export type WebhookDeliveryState = 'queued' | 'delivered' | 'dead';

export interface WebhookAttempt {
  at: number;
  durationMs: number;
  /** The receiver's HTTP status; null when it did not answer. */
  status: number | null;
  error: string | null;
}

export interface WebhookDelivery {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  state: WebhookDeliveryState;
  attempts: number;
  nextAttemptAt: number | null;
  createdAt: number;
  queuedAt: number;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  deadAt: number | null;
  replays: number;
  /** Every attempt, oldest first (one delivery's view only). */
  attemptLog?: WebhookAttempt[] | undefined;
  /** The JSON body as sent (one delivery's view only). */
  body?: unknown;
}

/** What the subscriptions ask of the other services: that ids exist, and who is in a group. */
export interface WebhookResolvers {
  devicesOf(ctx: TenantContext, audience: { deviceIds?: string[] | undefined; groupIds?: string[] | undefined }): Promise<string[]>;
  insideFence(ctx: TenantContext, fenceId: string): Promise<string[]>;
}

type Row = NotificationDB['webhooks'];
type DeliveryRow = NotificationDB['webhook_deliveries'];

/** Cached subscriptions are read again after this long even without a `settings.changed` signal. */
const ENABLED_TTL_MS = 60_000;

export class Webhooks {
  private subscription: Subscription | undefined;
  private readonly worker: WebhookWorker;
  /** Each tenant's enabled subscriptions: a fence event costs a lookup, not a query (24,000 events in a chaos run). */
  private readonly enabled: TenantCache<Webhook[]>;

  constructor(
    private readonly store: Store<NotificationDB>,
    private readonly bus: Bus,
    private readonly resolvers: WebhookResolvers,
    private readonly logger: Logger,
    settings: WebhookSettings,
  ) {
    this.worker = new WebhookWorker(store.db, settings, logger);
    this.enabled = new TenantCache(async (tenantId) => (await new TenantScope(this.db, tenantId).selectFrom('webhooks').selectAll().where('enabled', '=', 1).execute()).map(toWebhook), ENABLED_TTL_MS);
  }

  /** Forgets a tenant's cached subscriptions (`settings.changed` from any process, a tenant imported or purged). */
  forget(tenantId: string): void {
    this.enabled.drop(tenantId);
  }

  /** Drops the cached subscriptions here and, through `settings.changed`, in every other notification process. */
  private async changed(tenantId: string): Promise<void> {
    this.enabled.drop(tenantId);
    await this.bus.publish(settingsChanged, tenantId, { tenantId, service: 'notification', what: 'webhooks' });
  }

  private get db(): Kysely<NotificationDB> {
    return this.store.db;
  }

  private scope(ctx: TenantContext): TenantScope<NotificationDB> {
    return new TenantScope(this.db, ctx.tenantId);
  }

  /** Consumes geofence events (durable, so what was published while stopped comes now; in a cluster the partitions `owner` holds) and starts the worker. */
  async start(owner?: Ownership): Promise<void> {
    this.subscription = await this.bus.consume(fenceEvent, 'notification-webhooks', (m) => this.take(m.data), { owner });
    this.worker.start();
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
    this.subscription = undefined;
    await this.worker.stop();
  }

  /** Resolves when nothing is due and nothing is in flight (tests). */
  async settled(): Promise<void> {
    this.worker.kick();
    await this.worker.idle();
  }

  // ---- subscriptions ----

  /** Creates a subscription; the answer carries its signing secret. */
  async create(ctx: TenantContext, input: WebhookInput): Promise<Webhook> {
    const w = await this.normalize(ctx, input);
    const now = Date.now();
    const row: Omit<Row, 'tenant_id'> = { id: newId('whk'), url: w.url, secret: `whsec_${newSecret()}`, description: w.description, events: JSON.stringify(w.events), fence_ids: ids(w.fenceIds), device_ids: ids(w.deviceIds), group_ids: ids(w.groupIds), enabled: w.enabled ? 1 : 0, created_at: now, updated_at: now };
    await this.scope(ctx).insert('webhooks', row);
    await this.changed(ctx.tenantId);
    return { ...toWebhook({ ...row, tenant_id: ctx.tenantId }), secret: row.secret };
  }

  async list(ctx: TenantContext): Promise<Webhook[]> {
    return (await this.scope(ctx).selectFrom('webhooks').selectAll().orderBy('id').execute()).map(toWebhook);
  }

  async get(ctx: TenantContext, id: string): Promise<Webhook> {
    return toWebhook(await this.row(ctx, id));
  }

  /** Changes any of the fields of create; the secret stays. */
  async update(ctx: TenantContext, id: string, change: Partial<WebhookInput>): Promise<Webhook> {
    const current = toWebhook(await this.row(ctx, id));
    const w = await this.normalize(ctx, {
      url: change.url ?? current.url,
      description: change.description ?? current.description,
      events: change.events ?? current.events,
      fenceIds: change.fenceIds !== undefined ? change.fenceIds : current.fenceIds,
      deviceIds: change.deviceIds !== undefined ? change.deviceIds : current.deviceIds,
      groupIds: change.groupIds !== undefined ? change.groupIds : current.groupIds,
      enabled: change.enabled ?? current.enabled,
    });
    await this.scope(ctx)
      .updateTable('webhooks')
      .set({ url: w.url, description: w.description, events: JSON.stringify(w.events), fence_ids: ids(w.fenceIds), device_ids: ids(w.deviceIds), group_ids: ids(w.groupIds), enabled: w.enabled ? 1 : 0, updated_at: Date.now() })
      .where('id', '=', id)
      .execute();
    await this.changed(ctx.tenantId);
    if (w.enabled) this.worker.kick(); // deliveries held while it was disabled go now
    return this.get(ctx, id);
  }

  /** Deletes the subscription with every delivery and dead letter it has. */
  async remove(ctx: TenantContext, id: string): Promise<void> {
    await this.row(ctx, id);
    await this.db.transaction().execute(async (trx) => {
      const scope = this.scope(ctx).with(trx);
      const deliveries = scope.selectFrom('webhook_deliveries').select('id').where('webhook_id', '=', id);
      await scope.deleteFrom('webhook_attempts').where('delivery_id', 'in', deliveries).execute();
      await scope.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      await scope.deleteFrom('webhooks').where('id', '=', id).execute();
    });
    await this.changed(ctx.tenantId);
  }

  /** The signing secret, for an admin who lost it (as Stripe's "reveal"). */
  async secret(ctx: TenantContext, id: string): Promise<{ id: string; secret: string }> {
    return { id, secret: (await this.row(ctx, id)).secret };
  }

  /** A new signing secret; the old one stops signing at once. */
  async rotateSecret(ctx: TenantContext, id: string): Promise<{ id: string; secret: string }> {
    await this.row(ctx, id);
    const secret = `whsec_${newSecret()}`;
    await this.scope(ctx).updateTable('webhooks').set({ secret, updated_at: Date.now() }).where('id', '=', id).execute();
    return { id, secret };
  }

  /** Queues a `ping` event for the subscription (whatever its filters), delivered and retried like any other. */
  async test(ctx: TenantContext, id: string): Promise<WebhookDelivery> {
    const hook = toWebhook(await this.row(ctx, id));
    const eventId = newId('tst');
    const now = Date.now();
    const body = { id: eventId, type: 'ping', createdAt: now, tenantId: ctx.tenantId, webhookId: id, data: { message: 'A test event from Follow Me: the subscription works if this arrived with a valid signature.', events: hook.events } };
    const row = deliveryRow(ctx.tenantId, id, eventId, 'ping', JSON.stringify(body), now);
    await this.db.insertInto('webhook_deliveries').values(row).execute();
    this.worker.kick();
    return toDelivery(row);
  }

  // ---- deliveries and dead letters ----

  /** A subscription's deliveries, newest first, optionally of one state; page with `after` (the last id of the previous page). */
  async deliveries(ctx: TenantContext, webhookId: string, q: { state?: WebhookDeliveryState | undefined; limit?: number | undefined; after?: string | undefined } = {}): Promise<WebhookDelivery[]> {
    await this.row(ctx, webhookId);
    const limit = q.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('limit', `must be a whole number from 1 to 1000, got ${q.limit}`);
    if (q.state !== undefined && !['queued', 'delivered', 'dead'].includes(q.state)) throw invalid('state', `must be one of queued, delivered, dead, got ${JSON.stringify(q.state)}`);
    let query = this.scope(ctx).selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId);
    if (q.state) query = query.where('state', '=', q.state);
    if (q.after) query = query.where('id', '<', q.after);
    return (await query.orderBy('id', 'desc').limit(limit).execute()).map(toDelivery);
  }

  /** One delivery with its body and every attempt. */
  async delivery(ctx: TenantContext, webhookId: string, id: string): Promise<WebhookDelivery> {
    const row = await this.deliveryRow(ctx, webhookId, id);
    const attempts = await this.scope(ctx).selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', id).orderBy('at').orderBy('id').execute();
    return { ...toDelivery(row), body: JSON.parse(row.body) as unknown, attemptLog: attempts.map((a) => ({ at: a.at, durationMs: a.duration_ms, status: a.status, error: a.error })) };
  }

  /** Puts a dead letter back in the queue: same delivery id, same event id, same body; its attempts start again. */
  async replay(ctx: TenantContext, webhookId: string, id: string): Promise<WebhookDelivery> {
    const row = await this.deliveryRow(ctx, webhookId, id);
    if (row.state !== 'dead') throw new AppError('conflict', `delivery ${id} is ${row.state}; only dead deliveries can be replayed`, [{ field: 'id', reason: `is ${row.state}, not dead` }]);
    const now = Date.now();
    await this.scope(ctx).updateTable('webhook_deliveries').set({ state: 'queued', attempts: 0, next_attempt_at: now, queued_at: now, dead_at: null, replays: row.replays + 1 }).where('id', '=', id).where('state', '=', 'dead').execute();
    this.worker.kick();
    return this.delivery(ctx, webhookId, id);
  }

  /** Replays every dead letter of the subscription. */
  async replayDead(ctx: TenantContext, webhookId: string): Promise<{ replayed: number }> {
    await this.row(ctx, webhookId);
    const now = Date.now();
    const result = await this.scope(ctx)
      .updateTable('webhook_deliveries')
      .set((eb) => ({ state: 'queued', attempts: 0, next_attempt_at: now, queued_at: now, dead_at: null, replays: eb('replays', '+', 1) }))
      .where('webhook_id', '=', webhookId)
      .where('state', '=', 'dead')
      .executeTakeFirst();
    this.worker.kick();
    return { replayed: Number(result.numUpdatedRows) };
  }

  /** Deletes a delivery that is not waiting to be sent (a dead letter, or one delivered). */
  async removeDelivery(ctx: TenantContext, webhookId: string, id: string): Promise<void> {
    const row = await this.deliveryRow(ctx, webhookId, id);
    if (row.state === 'queued') throw new AppError('conflict', `delivery ${id} is queued; wait until it is delivered or dead`, [{ field: 'id', reason: 'is queued' }]);
    await this.db.transaction().execute(async (trx) => {
      await this.scope(ctx).with(trx).deleteFrom('webhook_attempts').where('delivery_id', '=', id).execute();
      await this.scope(ctx).with(trx).deleteFrom('webhook_deliveries').where('id', '=', id).execute();
    });
  }

  // ---- taking events in ----

  /** One geofence event: a delivery for each enabled subscription that wants it, once however often the event comes. */
  private async take(event: FenceEvent): Promise<void> {
    const ctx = systemContext(event.tenantId);
    const hooks = await this.enabled.get(event.tenantId);
    const rows: DeliveryRow[] = [];
    const now = Date.now();
    for (const hook of hooks) {
      if (!(await this.wants(ctx, hook, event))) continue;
      const body = { id: event.id, type: `geofence.${event.type}`, createdAt: now, tenantId: event.tenantId, webhookId: hook.id, data: event };
      rows.push(deliveryRow(event.tenantId, hook.id, event.id, event.type, JSON.stringify(body), now));
    }
    if (rows.length === 0) return;
    await this.db.insertInto('webhook_deliveries').values(rows).onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doNothing()).execute();
    this.worker.kick();
  }

  private async wants(ctx: TenantContext, hook: Webhook, event: FenceEvent): Promise<boolean> {
    if (!(hook.events as string[]).includes(event.type)) return false;
    if (hook.fenceIds && !hook.fenceIds.includes(event.fenceId)) return false;
    const about = event.otherDeviceId ? [event.deviceId, event.otherDeviceId] : [event.deviceId];
    if (hook.deviceIds && !about.some((d) => hook.deviceIds!.includes(d))) return false;
    if (hook.groupIds) {
      const members = new Set(await this.resolvers.devicesOf(ctx, { groupIds: hook.groupIds }).catch((err: unknown) => {
        this.logger.warn({ err, webhookId: hook.id }, 'the subscription names a group that no longer resolves; it matches nobody');
        return [] as string[];
      }));
      if (!about.some((d) => members.has(d))) return false;
    }
    return true;
  }

  // ---- internals ----

  private async row(ctx: TenantContext, id: string): Promise<Row> {
    const row = await this.scope(ctx).selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('webhook', id);
    return row;
  }

  private async deliveryRow(ctx: TenantContext, webhookId: string, id: string): Promise<DeliveryRow> {
    await this.row(ctx, webhookId);
    const row = await this.scope(ctx).selectFrom('webhook_deliveries').selectAll().where('id', '=', id).where('webhook_id', '=', webhookId).executeTakeFirst();
    if (!row) throw notFound('webhook delivery', id);
    return row;
  }

  /** Checks a subscription's fields, and that the fences, devices and groups it names exist in the tenant. */
  private async normalize(ctx: TenantContext, input: WebhookInput): Promise<Required<Omit<WebhookInput, 'events'>> & { events: WebhookEvent[] }> {
    if (typeof input.url !== 'string') throw invalid('url', 'must be an absolute http(s) URL');
    let url: URL;
    try {
      url = new URL(input.url);
    } catch {
      throw invalid('url', `must be an absolute http(s) URL, got ${JSON.stringify(input.url)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid('url', `must be an http(s) URL, got ${url.protocol}`);
    if (url.username || url.password) throw invalid('url', 'must not carry a user name or password; receivers check the signature instead');
    const description = input.description ?? '';
    if (typeof description !== 'string' || description.length > 500) throw invalid('description', 'must be text of at most 500 characters');
    if (!Array.isArray(input.events) || input.events.length === 0) throw invalid('events', `must name at least one of ${WEBHOOK_EVENTS.join(', ')}`);
    input.events.forEach((e, i) => {
      if (!(WEBHOOK_EVENTS as readonly string[]).includes(e)) throw invalid(`events[${i}]`, `must be one of ${WEBHOOK_EVENTS.join(', ')}, got ${JSON.stringify(e)}`);
    });
    const events = [...new Set(input.events)] as WebhookEvent[];
    const fenceIds = idList(input.fenceIds, 'fenceIds');
    const deviceIds = idList(input.deviceIds, 'deviceIds');
    const groupIds = idList(input.groupIds, 'groupIds');
    if (fenceIds && events.some((e) => !FENCE_EVENTS.includes(e))) throw invalid('fenceIds', 'proximity events (within, apart) concern devices, not fences: subscribe to them without fenceIds, or in a subscription of their own');
    for (const [i, fenceId] of (fenceIds ?? []).entries()) {
      await this.resolvers.insideFence(ctx, fenceId).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'not_found') throw invalid(`fenceIds[${i}]`, `no fence ${fenceId} in this tenant`);
        throw err;
      });
    }
    if (deviceIds || groupIds) {
      await this.resolvers.devicesOf(ctx, { deviceIds: deviceIds ?? undefined, groupIds: groupIds ?? undefined }).catch((err: unknown) => {
        // the client names its own field (target.deviceIds); ours has no prefix
        if (err instanceof AppError && err.code === 'validation_failed') throw new AppError('validation_failed', err.message.replace(/target\./g, ''), err.errors.map((e) => ({ field: e.field.replace(/^target\./, ''), reason: e.reason })));
        throw err;
      });
    }
    if (input.enabled !== undefined && typeof input.enabled !== 'boolean') throw invalid('enabled', 'must be true or false');
    return { url: url.href, description, events, fenceIds, deviceIds, groupIds, enabled: input.enabled ?? true };
  }
}

function idList(value: unknown, field: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_IDS) throw invalid(field, `must be a list of 1 to ${MAX_IDS} ids, or null for any`);
  value.forEach((v, i) => {
    if (typeof v !== 'string' || v === '') throw invalid(`${field}[${i}]`, 'must be an id');
  });
  return [...new Set(value as string[])];
}

function ids(list: string[] | null): string | null {
  return list ? JSON.stringify(list) : null;
}

function deliveryRow(tenantId: string, webhookId: string, eventId: string, eventType: string, body: string, now: number): DeliveryRow {
  return { id: newId('whd'), tenant_id: tenantId, webhook_id: webhookId, event_id: eventId, event_type: eventType, body, state: 'queued', attempts: 0, next_attempt_at: now, created_at: now, queued_at: now, last_attempt_at: null, last_status: null, last_error: null, delivered_at: null, dead_at: null, replays: 0 };
}

function toWebhook(row: Row): Webhook {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    url: row.url,
    description: row.description,
    events: JSON.parse(row.events) as WebhookEvent[],
    fenceIds: row.fence_ids ? (JSON.parse(row.fence_ids) as string[]) : null,
    deviceIds: row.device_ids ? (JSON.parse(row.device_ids) as string[]) : null,
    groupIds: row.group_ids ? (JSON.parse(row.group_ids) as string[]) : null,
    enabled: row.enabled === 1,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  const n = (v: number | null) => (v === null ? null : Number(v));
  return {
    id: row.id,
    webhookId: row.webhook_id,
    eventId: row.event_id,
    eventType: row.event_type,
    state: row.state as WebhookDeliveryState,
    attempts: row.attempts,
    nextAttemptAt: n(row.next_attempt_at),
    createdAt: Number(row.created_at),
    queuedAt: Number(row.queued_at),
    lastAttemptAt: n(row.last_attempt_at),
    lastStatus: row.last_status,
    lastError: row.last_error,
    deliveredAt: n(row.delivered_at),
    deadAt: n(row.dead_at),
    replays: row.replays,
  };
}
