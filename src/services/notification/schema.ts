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
  };
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
  };
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
];

/** The notification service's tenant-owned tables, parents first (import order; purge goes in reverse). */
export const notificationTenantTables = ['messages', 'deliveries', 'rules'] as const;
