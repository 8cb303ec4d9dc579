/**
 * The notification service: messages to targets, one delivery per recipient device moving
 * queued → sent → delivered → read → acknowledged, store-and-forward for offline devices, and
 * rules that turn geofence events into alerts.
 */
import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import { registry } from '../../core/metrics.js';
import { AppError, invalid, notFound } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import { systemContext, type TenantContext } from '../../core/tenancy.js';
import { DELIVERY_STATES, PRIORITIES, type DeliveryState, type Principal, type Priority, type ReceiptKind } from '../../core/types.js';
import type { Bus, Subscription } from '../../ports/bus.js';
import { exportTenantRows, importTenantRows, purgeTenantRows, TenantScope, type Store } from '../../ports/store.js';
import { fenceEvent, type FenceEvent } from '../geofence/index.js';
import { deliveryUpdated, dispatch, type MessageFrame } from './events.js';
import { notificationTenantTables, type NotificationDB } from './schema.js';

/** Whom a message is for. Devices, users and groups are expanded by the client service; fences by the geofence service. */
export interface Target {
  deviceIds?: string[] | undefined;
  userIds?: string[] | undefined;
  groupIds?: string[] | undefined;
  /** Everyone inside these fences now. */
  fenceIds?: string[] | undefined;
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
}

export interface Message {
  id: string;
  tenantId: string;
  title: string;
  body: string;
  priority: Priority;
  ackRequired: boolean;
  options: string[] | null;
  target: Target;
  sender: Principal | { kind: 'rule'; ruleId: string };
  createdAt: number;
  expiresAt: number | null;
  recipients: number;
  counts: Record<DeliveryState, number>;
}

export interface Delivery {
  id: string;
  messageId: string;
  deviceId: string;
  state: DeliveryState;
  response: string | null;
  queuedAt: number;
  sentAt: number | null;
  deliveredAt: number | null;
  readAt: number | null;
  acknowledgedAt: number | null;
}

export interface Rule {
  id: string;
  tenantId: string;
  name: string;
  on: 'enter' | 'exit';
  fenceId: string;
  target: Target;
  title: string;
  body: string;
  priority: Priority;
  enabled: boolean;
  createdAt: number;
}

/** What the notification service asks of the others, through their public interfaces. */
export interface Resolvers {
  devicesOf(ctx: TenantContext, audience: { deviceIds?: string[] | undefined; userIds?: string[] | undefined; groupIds?: string[] | undefined }): Promise<string[]>;
  insideFence(ctx: TenantContext, fenceId: string): Promise<string[]>;
  deviceName(ctx: TenantContext, deviceId: string): Promise<string>;
}

const ORDER: Record<DeliveryState, number> = { queued: 0, sent: 1, delivered: 2, read: 3, acknowledged: 4, expired: 5, failed: 5 };
const STAMP = { sent: 'sent_at', delivered: 'delivered_at', read: 'read_at', acknowledged: 'acknowledged_at' } as const;
const FANOUT_CHUNK = 500;
const transitions = new Counter({ name: 'followme_notification_deliveries_total', help: 'Delivery state changes, by new state', labelNames: ['state'], registers: [registry] });
const rulesFired = new Counter({ name: 'followme_notification_rules_fired_total', help: 'Alerts sent by rules', registers: [registry] });

export class NotificationService {
  private subscription: Subscription | undefined;

  constructor(
    private readonly store: Store<NotificationDB>,
    private readonly bus: Bus,
    private readonly resolvers: Resolvers,
    private readonly logger: Logger,
  ) {}

  private get db(): Kysely<NotificationDB> {
    return this.store.db;
  }

  private scope(ctx: TenantContext): TenantScope<NotificationDB> {
    return new TenantScope(this.db, ctx.tenantId);
  }

  /** Starts consuming geofence events for the rules. */
  async start(): Promise<void> {
    this.subscription = await this.bus.consume(fenceEvent, 'notification-rules', (m) => this.onFenceEvent(m.data));
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
  }

  // ---- sending ----

  /** Resolves the target, stores the message and a delivery per device, then dispatches them. */
  async send(ctx: TenantContext, input: SendInput): Promise<Message> {
    const normalized = normalizeSend(input);
    const deviceIds = await this.resolve(ctx, normalized.target);
    return this.create(ctx, newId('msg'), normalized, deviceIds, ctx.principal, null);
  }

  /** How many devices a target reaches now, and which. */
  async preview(ctx: TenantContext, target: Target): Promise<{ devices: number; deviceIds: string[] }> {
    const deviceIds = await this.resolve(ctx, normalizeTarget(target));
    return { devices: deviceIds.length, deviceIds };
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

  async listDeliveries(ctx: TenantContext, messageId: string): Promise<Delivery[]> {
    await this.getMessage(ctx, messageId);
    const rows = await this.scope(ctx).selectFrom('deliveries').selectAll().where('message_id', '=', messageId).orderBy('device_id').execute();
    return rows.map(toDelivery);
  }

  // ---- device side (called by the edge) ----

  /** Message frames waiting for a device (not yet receipted delivered, not expired), oldest first. */
  async pendingFor(ctx: TenantContext, deviceId: string): Promise<MessageFrame[]> {
    const now = Date.now();
    const rows = await this.scope(ctx)
      .selectFrom('deliveries')
      .innerJoin('messages', 'messages.id', 'deliveries.message_id')
      .select(['deliveries.id as delivery_id', 'messages.id', 'messages.title', 'messages.body', 'messages.priority', 'messages.ack_required', 'messages.options', 'messages.created_at', 'messages.expires_at'])
      .where('deliveries.device_id', '=', deviceId)
      .where('deliveries.state', 'in', ['queued', 'sent'])
      .orderBy('deliveries.queued_at')
      .orderBy('deliveries.id')
      .execute();
    return rows.filter((r) => r.expires_at === null || r.expires_at > now).map((r) => toFrame(r.delivery_id, r));
  }

  /** The edge handed these deliveries to the device's connection. */
  async markSent(ctx: TenantContext, deliveryIds: string[]): Promise<void> {
    for (const id of deliveryIds) await this.advance(ctx, id, 'sent', undefined, undefined);
  }

  /** A receipt from the device that the delivery is for. Never moves a delivery backwards. */
  async receipt(ctx: TenantContext, deviceId: string, deliveryId: string, status: ReceiptKind, response?: string): Promise<Delivery> {
    const row = await this.scope(ctx).selectFrom('deliveries').selectAll().where('id', '=', deliveryId).executeTakeFirst();
    if (!row || row.device_id !== deviceId) throw invalid('deliveryId', `no delivery ${deliveryId} for this device`);
    return this.advance(ctx, deliveryId, status, response, undefined);
  }

  /** An operator records a response on someone's behalf; the record keeps who did. */
  async respondOnBehalf(ctx: TenantContext, deliveryId: string, response: string): Promise<Delivery> {
    const by = ctx.principal.kind === 'user' ? ctx.principal.userId : ctx.principal.kind;
    return this.advance(ctx, deliveryId, 'acknowledged', response, by);
  }

  // ---- rules ----

  async createRule(ctx: TenantContext, input: { name: string; on: string; fenceId: string; target: Target; title: string; body?: string | undefined; priority?: string | undefined; enabled?: boolean | undefined }): Promise<Rule> {
    if (typeof input.name !== 'string' || input.name.trim() === '') throw invalid('name', 'must be a non-empty string');
    if (input.on !== 'enter' && input.on !== 'exit') throw invalid('on', `must be enter or exit, got ${JSON.stringify(input.on)}`);
    if (typeof input.fenceId !== 'string' || input.fenceId === '') throw invalid('fenceId', 'must name a fence');
    const send = normalizeSend({ target: input.target, title: input.title, body: input.body, priority: input.priority as Priority | undefined });
    if (send.target.fenceIds?.length) throw invalid('target.fenceIds', 'a rule targets people, devices or groups, not fences');
    await this.resolve(ctx, send.target); // refuses unknown ids now rather than when the rule fires
    await this.resolvers.insideFence(ctx, input.fenceId).catch((err: unknown) => {
      if (err instanceof AppError && err.code === 'not_found') throw invalid('fenceId', `no fence ${input.fenceId} in this tenant`);
      throw err;
    });
    const rule: Rule = {
      id: newId('rul'),
      tenantId: ctx.tenantId,
      name: input.name.trim(),
      on: input.on,
      fenceId: input.fenceId,
      target: send.target,
      title: send.title,
      body: send.body ?? '',
      priority: send.priority ?? 'high',
      enabled: input.enabled ?? true,
      createdAt: Date.now(),
    };
    await this.scope(ctx).insert('rules', {
      id: rule.id,
      name: rule.name,
      on_event: rule.on,
      fence_id: rule.fenceId,
      target: JSON.stringify(rule.target),
      title: rule.title,
      body: rule.body,
      priority: rule.priority,
      enabled: rule.enabled ? 1 : 0,
      created_at: rule.createdAt,
    });
    return rule;
  }

  async listRules(ctx: TenantContext): Promise<Rule[]> {
    return (await this.scope(ctx).selectFrom('rules').selectAll().orderBy('id').execute()).map(toRule);
  }

  async deleteRule(ctx: TenantContext, id: string): Promise<void> {
    const result = await this.scope(ctx).deleteFrom('rules').where('id', '=', id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound('rule', id);
  }

  /** A geofence event: every enabled rule on that fence and event type sends its alert, once per event. */
  private async onFenceEvent(event: FenceEvent): Promise<void> {
    const ctx = systemContext(event.tenantId);
    const rules = await this.scope(ctx).selectFrom('rules').selectAll().where('fence_id', '=', event.fenceId).where('on_event', '=', event.type).where('enabled', '=', 1).execute();
    for (const row of rules.map(toRule)) {
      const messageId = `msg_${event.id}_${row.id}`; // one alert per event and rule, however often the event is redelivered
      if (await this.scope(ctx).selectFrom('messages').select('id').where('id', '=', messageId).executeTakeFirst()) continue;
      const deviceName = await this.resolvers.deviceName(ctx, event.deviceId).catch(() => event.deviceId);
      const vars: Record<string, string> = { device: deviceName, fence: event.fenceName, event: event.type === 'enter' ? 'entered' : 'left', time: new Date(event.time).toISOString() };
      const fill = (text: string) => text.replace(/\{(\w+)\}/g, (whole, name: string) => vars[name] ?? whole);
      const input: SendInput = { target: row.target, title: fill(row.title), body: fill(row.body), priority: row.priority };
      try {
        const deviceIds = await this.resolve(ctx, row.target);
        await this.create(ctx, messageId, input, deviceIds, { kind: 'rule', ruleId: row.id }, row.id);
        rulesFired.inc();
        this.logger.info({ tenantId: event.tenantId, ruleId: row.id, eventId: event.id, recipients: deviceIds.length }, 'rule fired');
      } catch (err) {
        if (err instanceof AppError && err.code === 'validation_failed') {
          this.logger.warn({ err, ruleId: row.id }, 'rule target no longer resolves; alert not sent');
          continue;
        }
        throw err;
      }
    }
  }

  // ---- a tenant's data as a whole ----

  async exportTenant(tenantId: string): Promise<Record<string, unknown[]>> {
    return exportTenantRows(this.db, notificationTenantTables, tenantId);
  }

  async purgeTenant(tenantId: string): Promise<number> {
    return this.db.transaction().execute((trx) => purgeTenantRows<NotificationDB>(trx, notificationTenantTables, tenantId));
  }

  async importTenant(tenantId: string, rows: Record<string, unknown[]>): Promise<number> {
    return this.db.transaction().execute((trx) => importTenantRows<NotificationDB>(trx, notificationTenantTables, tenantId, rows));
  }

  // ---- internals ----

  private async resolve(ctx: TenantContext, target: Target): Promise<string[]> {
    const devices = new Set(await this.resolvers.devicesOf(ctx, target));
    for (const fenceId of target.fenceIds ?? []) {
      const inside = await this.resolvers.insideFence(ctx, fenceId).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'not_found') throw invalid('target.fenceIds', `no fence ${fenceId} in this tenant`);
        throw err;
      });
      for (const id of inside) devices.add(id);
    }
    return [...devices].sort();
  }

  private async create(ctx: TenantContext, id: string, input: SendInput, deviceIds: string[], sender: Message['sender'], ruleId: string | null): Promise<Message> {
    const now = Date.now();
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
    };
    const deliveries = deviceIds.map((deviceId) => ({ id: newId('dlv'), message_id: id, device_id: deviceId, state: 'queued', response: null, responded_by: null, queued_at: now, sent_at: null, delivered_at: null, read_at: null, acknowledged_at: null }));
    await this.db.transaction().execute(async (trx) => {
      const scope = this.scope(ctx).with(trx);
      const { tenant_id: _tenant, ...message } = row;
      await scope.insert('messages', message);
      for (let i = 0; i < deliveries.length; i += FANOUT_CHUNK) await scope.insert('deliveries', deliveries.slice(i, i + FANOUT_CHUNK));
    });
    transitions.inc({ state: 'queued' }, deliveries.length);
    for (const d of deliveries) {
      await this.bus.publish(dispatch, d.device_id, { tenantId: ctx.tenantId, deviceId: d.device_id, frame: toFrame(d.id, row) });
      await this.bus.publish(deliveryUpdated, id, { tenantId: ctx.tenantId, messageId: id, deliveryId: d.id, deviceId: d.device_id, state: 'queued', at: now });
    }
    const [message] = await this.withCounts(ctx, [row]);
    return message!;
  }

  private async advance(ctx: TenantContext, deliveryId: string, state: 'sent' | ReceiptKind, response: string | undefined, respondedBy: string | undefined): Promise<Delivery> {
    const scope = this.scope(ctx);
    const row = await scope.selectFrom('deliveries').selectAll().where('id', '=', deliveryId).executeTakeFirst();
    if (!row) throw notFound('delivery', deliveryId);
    if (response !== undefined) {
      if (typeof response !== 'string' || response.length > 1000) throw invalid('response', 'must be text of at most 1000 characters');
      const message = await scope.selectFrom('messages').select('options').where('id', '=', row.message_id).executeTakeFirstOrThrow();
      const options = message.options ? (JSON.parse(message.options) as string[]) : null;
      if (options && !options.includes(response)) throw invalid('response', `must be one of ${options.map((o) => JSON.stringify(o)).join(', ')}`);
    }
    const current = row.state as DeliveryState;
    if (ORDER[state] <= ORDER[current] || current === 'expired' || current === 'failed') return toDelivery(row);
    const now = Date.now();
    const changes: Partial<NotificationDB['deliveries']> = { state, [STAMP[state]]: now };
    // a later receipt implies the earlier ones
    for (const earlier of ['sent', 'delivered', 'read'] as const) {
      if (ORDER[earlier] < ORDER[state] && row[STAMP[earlier]] === null) changes[STAMP[earlier]] = now;
    }
    if (response !== undefined) changes.response = response;
    if (respondedBy !== undefined) changes.responded_by = respondedBy;
    await scope.updateTable('deliveries').set(changes).where('id', '=', deliveryId).execute();
    transitions.inc({ state });
    await this.bus.publish(deliveryUpdated, row.message_id, { tenantId: ctx.tenantId, messageId: row.message_id, deliveryId, deviceId: row.device_id, state, response, at: now });
    return toDelivery({ ...row, ...changes });
  }

  private async withCounts(ctx: TenantContext, rows: NotificationDB['messages'][]): Promise<Message[]> {
    if (rows.length === 0) return [];
    const counts = await this.scope(ctx)
      .selectFrom('deliveries')
      .select(['message_id', 'state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('message_id', 'in', rows.map((r) => r.id))
      .groupBy(['message_id', 'state'])
      .execute();
    return rows.map((row) => {
      const byState = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
      for (const c of counts) if (c.message_id === row.id) byState[c.state as DeliveryState] = Number(c.n);
      return {
        id: row.id,
        tenantId: row.tenant_id,
        title: row.title,
        body: row.body,
        priority: row.priority as Priority,
        ackRequired: row.ack_required === 1,
        options: row.options ? (JSON.parse(row.options) as string[]) : null,
        target: JSON.parse(row.target) as Target,
        sender: JSON.parse(row.sender) as Message['sender'],
        createdAt: row.created_at,
        expiresAt: row.expires_at,
        recipients: Object.values(byState).reduce((a, b) => a + b, 0),
        counts: byState,
      };
    });
  }
}

function normalizeTarget(target: unknown): Target {
  if (!target || typeof target !== 'object') throw invalid('target', 'must be an object with deviceIds, userIds, groupIds or fenceIds');
  const t = target as Record<string, unknown>;
  const out: Target = {};
  for (const key of ['deviceIds', 'userIds', 'groupIds', 'fenceIds'] as const) {
    const value = t[key];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(`target.${key}`, 'must be an array of ids');
    out[key] = [...new Set(value as string[])];
  }
  if (!Object.values(out).some((v) => v.length > 0)) throw invalid('target', 'names nobody: give at least one of deviceIds, userIds, groupIds, fenceIds');
  return out;
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
  return { ...input, target, title: input.title.trim(), ackRequired: input.ackRequired ?? (input.options !== undefined && input.options.length > 0) };
}

function toFrame(deliveryId: string, m: Pick<NotificationDB['messages'], 'id' | 'title' | 'body' | 'priority' | 'ack_required' | 'options' | 'created_at' | 'expires_at'>): MessageFrame {
  const frame: MessageFrame = { type: 'message', deliveryId, messageId: m.id, priority: m.priority as Priority, title: m.title, body: m.body, sentAt: m.created_at, ackRequired: m.ack_required === 1 };
  if (m.expires_at !== null) frame.expiresAt = m.expires_at;
  if (m.options) frame.options = JSON.parse(m.options) as string[];
  return frame;
}

function toDelivery(row: NotificationDB['deliveries']): Delivery {
  return {
    id: row.id,
    messageId: row.message_id,
    deviceId: row.device_id,
    state: row.state as DeliveryState,
    response: row.response,
    queuedAt: row.queued_at,
    sentAt: row.sent_at,
    deliveredAt: row.delivered_at,
    readAt: row.read_at,
    acknowledgedAt: row.acknowledged_at,
  };
}

function toRule(row: NotificationDB['rules']): Rule {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    on: row.on_event as Rule['on'],
    fenceId: row.fence_id,
    target: JSON.parse(row.target) as Target,
    title: row.title,
    body: row.body,
    priority: row.priority as Priority,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
  };
}
