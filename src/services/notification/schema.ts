/** The notification service's tables: messages, one delivery per recipient device, and rules. */
import type { Migration } from '../../ports/store.js';

export interface NotificationDB {
  messages: {
    id: string;
    tenant_id: string;
    title: string;
    body: string;
    priority: string;
    ack_required: number;
    options: string | null;
    target: string;
    sender: string;
    rule_id: string | null;
    created_at: number;
    expires_at: number | null;
  } & MessageExtras;
  deliveries: {
    id: string;
    tenant_id: string;
    message_id: string;
    device_id: string;
    state: string;
    response: string | null;
    responded_by: string | null;
    queued_at: number;
    sent_at: number | null;
    delivered_at: number | null;
    read_at: number | null;
    acknowledged_at: number | null;
    /** When the in-app dispatch is due; null once handed to the bus (store and forward takes over). */
    dispatch_at: number | null;
    expired_at: number | null;
  };
  /** The channel outbox: one row per message, channel and recipient (e-mail, SMS, push, webhook). */
  outbox: {
    id: string;
    tenant_id: string;
    message_id: string;
    channel: string;
    recipient: string;
    address: string;
    state: string;
    attempts: number;
    next_attempt_at: number | null;
    last_error: string | null;
    queued_at: number;
    sent_at: number | null;
    delivered_at: number | null;
    /** When the outbox gave up on the row: state `failed`, or `unknown` (the last attempt may have reached the provider). */
    failed_at: number | null;
    expired_at: number | null;
    /** Set just before the provider is called, cleared when its answer is recorded: still set at the next claim means that attempt's outcome is unknown. */
    sending_at?: number | null;
    /** An `unknown` delivery settled by an operator (sent or failed): who (user id or principal kind, and name), when, and their note. */
    settled_by?: string | null;
    settled_by_name?: string | null;
    settled_at?: number | null;
    settled_note?: string | null;
  };
  /** Low-battery hysteresis per rule and device: `low` = alerted; re-armed only above the threshold plus a margin. */
  battery_state: {
    tenant_id: string;
    rule_id: string;
    device_id: string;
    low: number;
    at: number;
  };
  push_subscriptions: {
    id: string;
    tenant_id: string;
    user_id: string;
    endpoint: string;
    p256dh: string;
    auth: string;
    created_at: number;
  };
  /** Per-person contact data and preferences the notification service keeps (phone, quiet hours). */
  profiles: {
    tenant_id: string;
    user_id: string;
    phone: string | null;
    quiet_hours: string | null;
  };
  /** Per-tenant notification settings: webhook, quiet hours. */
  tenant_settings: {
    tenant_id: string;
    webhook_url: string | null;
    webhook_secret: string | null;
    quiet_hours: string | null;
    /** JSON target an SOS goes to. */
    responders: string | null;
    /** Most rule alerts one device gets per hour (critical ones always pass); null: no limit. */
    recipient_hourly_limit: number | null;
  };
  /** Service-wide keys (the VAPID key pair). */
  keys: {
    name: string;
    value: string;
  };
  rules: {
    id: string;
    tenant_id: string;
    name: string;
    on_event: string;
    fence_id: string;
    target: string;
    title: string;
    body: string;
    priority: string;
    enabled: number;
    created_at: number;
    battery_below: number | null;
    schedule: string | null;
    template_id: string | null;
    cooldown_seconds: number;
    max_per_hour: number | null;
    channels: string;
  };
  /** Message texts with {variables}, per tenant, for rules and messages. */
  templates: {
    id: string;
    tenant_id: string;
    name: string;
    title: string;
    body: string;
    created_at: number;
  };
  /** Tenant-level subscriptions to geofence events: where to POST them and which ones (docs/geofencing.md, "Webhooks"). */
  webhooks: {
    id: string;
    tenant_id: string;
    url: string;
    /** The HMAC-SHA256 signing secret (whsec_…); kept readable because signing needs it. */
    secret: string;
    description: string;
    /** JSON array of event types. */
    events: string;
    /** JSON arrays of ids, or null for "any". */
    fence_ids: string | null;
    device_ids: string | null;
    group_ids: string | null;
    enabled: number;
    created_at: number;
    updated_at: number;
  };
  /** One event for one subscription: the durable webhook outbox and, in state `dead`, the dead-letter list. */
  webhook_deliveries: {
    id: string;
    tenant_id: string;
    webhook_id: string;
    /** The geofence event's id (or a test event's): the receiver's dedup key, kept across retries and replays. */
    event_id: string;
    event_type: string;
    /** The JSON body, fixed when the event was taken in, so every retry and replay sends the same bytes. */
    body: string;
    /** queued → delivered, or dead after the last attempt; a replay puts a dead one back to queued. */
    state: string;
    attempts: number;
    /** When the next attempt is due (a claimed attempt: when its lease runs out); null unless queued. */
    next_attempt_at: number | null;
    created_at: number;
    /** When it was queued last (taken in, or replayed): the maximum age counts from here. */
    queued_at: number;
    last_attempt_at: number | null;
    last_status: number | null;
    last_error: string | null;
    delivered_at: number | null;
    dead_at: number | null;
    replays: number;
  };
  /** Every attempt of a webhook delivery: when, how long, what the receiver answered. */
  webhook_attempts: {
    id: string;
    tenant_id: string;
    delivery_id: string;
    at: number;
    duration_ms: number;
    status: number | null;
    error: string | null;
  };
  /**
   * Geofence events the rules have handled (embedded deployment only): the watermark per tenant
   * and bus partition (`lane`) that start-up catch-up resumes from, and the ids it skips (catch-up.ts).
   */
  event_marks: {
    event_id: string;
    tenant_id: string;
    lane: number;
    time: number;
    handled_at: number;
  };
  /** Every alert or recipient left out by noise control, with the reason. */
  suppressions: {
    id: string;
    tenant_id: string;
    rule_id: string | null;
    message_id: string | null;
    subject: string | null;
    recipient: string | null;
    reason: string;
    detail: string;
    at: number;
  };
  /** Every SOS a device raised, with its alert, responders and state (src/services/notification/sos.ts). */
  sos_alarms: {
    id: string;
    tenant_id: string;
    /** The device's own id for the SOS: a resent SOS has the same one. */
    sos_id: string;
    device_id: string;
    device_name: string;
    user_id: string | null;
    person_name: string | null;
    raised_at: number;
    lon: number | null;
    lat: number | null;
    accuracy: number | null;
    text: string | null;
    /** The critical alert to the responders; null when the tenant had none set. */
    message_id: string | null;
    /** JSON [{ deviceId, name }]: whom the alert went to, named as they were then. */
    responders: string;
    /** open, acknowledged or resolved. */
    state: string;
    acknowledged_by: string | null;
    acknowledged_by_name: string | null;
    acknowledged_at: number | null;
    resolved_by: string | null;
    resolved_by_name: string | null;
    resolved_at: number | null;
    resolution: string | null;
  };
}

/** Columns that migration 002 added to messages, typed here so the rows above stay readable. */
export interface MessageExtras {
  channels: string;
  escalation: string | null;
  escalation_due_at: number | null;
  escalated_at: number | null;
  live_until: number | null;
  live_fence_id: string | null;
  temp_fence: number;
  parent_id: string | null;
  /** The device a rule alert is about (for deduplication per rule and device). */
  subject: string | null;
  /** Where an imported message came from: JSON { cap: { identifier, sender, sent, areaDesc } }. */
  source: string | null;
}

export const notificationMigrations: Migration[] = [
  {
    name: '001-initial',
    async up(db) {
      await db.schema
        .createTable('messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('priority', 'text', (c) => c.notNull())
        .addColumn('ack_required', 'integer', (c) => c.notNull())
        .addColumn('options', 'text')
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('sender', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .execute();
      await db.schema.createIndex('messages_tenant').on('messages').columns(['tenant_id', 'created_at']).execute();
      await db.schema
        .createTable('deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('response', 'text')
        .addColumn('responded_by', 'text')
        .addColumn('queued_at', 'bigint', (c) => c.notNull())
        .addColumn('sent_at', 'bigint')
        .addColumn('delivered_at', 'bigint')
        .addColumn('read_at', 'bigint')
        .addColumn('acknowledged_at', 'bigint')
        .addUniqueConstraint('deliveries_message_device', ['message_id', 'device_id'])
        .execute();
      await db.schema.createIndex('deliveries_device_state').on('deliveries').columns(['device_id', 'state']).execute();
      await db.schema
        .createTable('rules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('on_event', 'text', (c) => c.notNull())
        .addColumn('fence_id', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('priority', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rules_fence').on('rules').columns(['tenant_id', 'fence_id']).execute();
    },
  },
  {
    name: '002-outbox-channels',
    async up(db) {
      await db.schema.alterTable('deliveries').addColumn('dispatch_at', 'bigint').execute();
      await db.schema.alterTable('deliveries').addColumn('expired_at', 'bigint').execute();
      await db.schema.createIndex('deliveries_dispatch').on('deliveries').column('dispatch_at').execute();
      await db.schema.createIndex('deliveries_message_state').on('deliveries').columns(['message_id', 'state']).execute();
      await db.schema.alterTable('messages').addColumn('channels', 'text', (c) => c.notNull().defaultTo('["app"]')).execute();
      await db.schema.alterTable('messages').addColumn('escalation', 'text').execute();
      await db.schema.alterTable('messages').addColumn('escalation_due_at', 'bigint').execute();
      await db.schema.alterTable('messages').addColumn('escalated_at', 'bigint').execute();
      await db.schema.alterTable('messages').addColumn('live_until', 'bigint').execute();
      await db.schema.alterTable('messages').addColumn('live_fence_id', 'text').execute();
      await db.schema.alterTable('messages').addColumn('temp_fence', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('messages').addColumn('parent_id', 'text').execute();
      await db.schema.createIndex('messages_expires').on('messages').column('expires_at').execute();
      await db.schema.createIndex('messages_escalation').on('messages').column('escalation_due_at').execute();
      await db.schema.createIndex('messages_live').on('messages').columns(['live_fence_id', 'live_until']).execute();
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('recipient', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('queued_at', 'bigint', (c) => c.notNull())
        .addColumn('sent_at', 'bigint')
        .addColumn('delivered_at', 'bigint')
        .addColumn('failed_at', 'bigint')
        .addColumn('expired_at', 'bigint')
        .addUniqueConstraint('outbox_message_channel_recipient', ['message_id', 'channel', 'recipient'])
        .execute();
      await db.schema.createIndex('outbox_due').on('outbox').column('next_attempt_at').execute();
      await db.schema
        .createTable('push_subscriptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('endpoint', 'text', (c) => c.notNull().unique())
        .addColumn('p256dh', 'text', (c) => c.notNull())
        .addColumn('auth', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('push_subscriptions_user').on('push_subscriptions').columns(['tenant_id', 'user_id']).execute();
      await db.schema
        .createTable('profiles')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('phone', 'text')
        .addColumn('quiet_hours', 'text')
        .addPrimaryKeyConstraint('profiles_pk', ['tenant_id', 'user_id'])
        .execute();
      await db.schema
        .createTable('tenant_settings')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey())
        .addColumn('webhook_url', 'text')
        .addColumn('webhook_secret', 'text')
        .addColumn('quiet_hours', 'text')
        .addColumn('responders', 'text')
        .execute();
      await db.schema.createTable('keys').addColumn('name', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();
    },
  },
  {
    name: '003-rules-noise-templates',
    async up(db) {
      await db.schema.alterTable('rules').addColumn('battery_below', 'integer').execute();
      await db.schema.alterTable('rules').addColumn('schedule', 'text').execute();
      await db.schema.alterTable('rules').addColumn('template_id', 'text').execute();
      await db.schema.alterTable('rules').addColumn('cooldown_seconds', 'integer', (c) => c.notNull().defaultTo(300)).execute();
      await db.schema.alterTable('rules').addColumn('max_per_hour', 'integer').execute();
      await db.schema.alterTable('rules').addColumn('channels', 'text', (c) => c.notNull().defaultTo('["app"]')).execute();
      await db.schema.createIndex('rules_trigger').on('rules').columns(['tenant_id', 'on_event']).execute();
      await db.schema.alterTable('messages').addColumn('subject', 'text').execute();
      await db.schema.createIndex('messages_rule_subject').on('messages').columns(['rule_id', 'subject', 'created_at']).execute();
      await db.schema.createIndex('messages_rule_time').on('messages').columns(['rule_id', 'created_at']).execute();
      await db.schema.createIndex('deliveries_device_time').on('deliveries').columns(['device_id', 'queued_at']).execute();
      await db.schema.alterTable('tenant_settings').addColumn('recipient_hourly_limit', 'integer').execute();
      await db.schema
        .createTable('templates')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('templates_tenant_name', ['tenant_id', 'name'])
        .execute();
      await db.schema
        .createTable('suppressions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text')
        .addColumn('message_id', 'text')
        .addColumn('subject', 'text')
        .addColumn('recipient', 'text')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('suppressions_rule').on('suppressions').columns(['tenant_id', 'rule_id', 'at']).execute();
      await db.schema.createIndex('suppressions_message').on('suppressions').column('message_id').execute();
    },
  },
  {
    name: '004-message-source',
    async up(db) {
      await db.schema.alterTable('messages').addColumn('source', 'text').execute();
    },
  },
  {
    name: '005-sms-reconcile-battery-state',
    async up(db) {
      await db.schema.alterTable('outbox').addColumn('sending_at', 'bigint').execute();
      await db.schema
        .createTable('battery_state')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('low', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('battery_state_pk', ['rule_id', 'device_id'])
        .execute();
      await db.schema.createIndex('battery_state_tenant').on('battery_state').column('tenant_id').execute();
    },
  },
  {
    name: '006-webhooks',
    async up(db) {
      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('fence_ids', 'text')
        .addColumn('device_ids', 'text')
        .addColumn('group_ids', 'text')
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('webhooks_tenant').on('webhooks').columns(['tenant_id', 'enabled']).execute();
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('queued_at', 'bigint', (c) => c.notNull())
        .addColumn('last_attempt_at', 'bigint')
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('delivered_at', 'bigint')
        .addColumn('dead_at', 'bigint')
        .addColumn('replays', 'integer', (c) => c.notNull().defaultTo(0))
        .addUniqueConstraint('webhook_deliveries_webhook_event', ['webhook_id', 'event_id'])
        .execute();
      await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').column('next_attempt_at').execute();
      await db.schema.createIndex('webhook_deliveries_list').on('webhook_deliveries').columns(['webhook_id', 'state', 'id']).execute();
      await db.schema.createIndex('webhook_deliveries_delivered').on('webhook_deliveries').column('delivered_at').execute();
      await db.schema
        .createTable('webhook_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('delivery_id', 'text', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('status', 'integer')
        .addColumn('error', 'text')
        .execute();
      await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').columns(['delivery_id', 'at']).execute();
    },
  },
  {
    name: '007-event-catch-up',
    async up(db) {
      await db.schema
        .createTable('event_marks')
        .addColumn('event_id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('lane', 'integer', (c) => c.notNull())
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('handled_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('event_marks_watermark').on('event_marks').columns(['tenant_id', 'lane', 'time']).execute();
    },
  },
  {
    name: '008-sos-alarms',
    async up(db) {
      await db.schema
        .createTable('sos_alarms')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('sos_id', 'text', (c) => c.notNull())
        .addColumn('device_id', 'text', (c) => c.notNull())
        .addColumn('device_name', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text')
        .addColumn('person_name', 'text')
        .addColumn('raised_at', 'bigint', (c) => c.notNull())
        .addColumn('lon', 'double precision')
        .addColumn('lat', 'double precision')
        .addColumn('accuracy', 'double precision')
        .addColumn('text', 'text')
        .addColumn('message_id', 'text')
        .addColumn('responders', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('acknowledged_by', 'text')
        .addColumn('acknowledged_by_name', 'text')
        .addColumn('acknowledged_at', 'bigint')
        .addColumn('resolved_by', 'text')
        .addColumn('resolved_by_name', 'text')
        .addColumn('resolved_at', 'bigint')
        .addColumn('resolution', 'text')
        .addUniqueConstraint('sos_alarms_device_sos', ['tenant_id', 'device_id', 'sos_id'])
        .execute();
      await db.schema.createIndex('sos_alarms_list').on('sos_alarms').columns(['tenant_id', 'state', 'raised_at']).execute();
      await db.schema.createIndex('sos_alarms_time').on('sos_alarms').columns(['tenant_id', 'raised_at']).execute();
      await db.schema.createIndex('sos_alarms_message').on('sos_alarms').column('message_id').execute();
    },
  },
  {
    name: '009-settle-unknown',
    async up(db) {
      await db.schema.alterTable('outbox').addColumn('settled_by', 'text').execute();
      await db.schema.alterTable('outbox').addColumn('settled_by_name', 'text').execute();
      await db.schema.alterTable('outbox').addColumn('settled_at', 'bigint').execute();
      await db.schema.alterTable('outbox').addColumn('settled_note', 'text').execute();
    },
  },
];

/** The notification service's tenant-owned tables, parents first (import order; purge goes in reverse). */
export const notificationTenantTables = ['tenant_settings', 'templates', 'rules', 'battery_state', 'profiles', 'push_subscriptions', 'messages', 'deliveries', 'outbox', 'suppressions', 'webhooks', 'webhook_deliveries', 'webhook_attempts', 'event_marks', 'sos_alarms'] as const;
