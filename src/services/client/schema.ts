/** The client service's tables: tenants, users, devices, groups and credentials. */
import type { Migration } from '../../ports/store.js';

export interface ClientDB {
  platform: { key: string; value: string };
  tenants: {
    id: string;
    name: string;
    slug: string;
    status: string;
    created_at: number;
    /** The provisioning caller's own id for this customer: a retried call finds the tenant instead of making a second (migration 003). */
    external_ref: string | null;
    /** Plan name and quotas, JSON (migration 003). */
    plan: string | null;
    /** White-label settings, JSON (migration 003). */
    branding: string | null;
    /** The tenant's IANA time zone: what its Control Center shows times in and its forms start from (migration 004); null: not set. */
    time_zone?: string | null;
  };
  domains: { host: string; tenant_id: string; created_at: number };
  invitations: { id: string; tenant_id: string; user_id: string; token_hash: string; created_at: number; expires_at: number; accepted_at: number | null };
  audit_log: { id: string; tenant_id: string | null; at: number; actor: string; action: string; target: string | null; detail: string | null; ip: string | null };
  users: { id: string; tenant_id: string; email: string; name: string; role: string; password_hash: string | null; created_at: number };
  devices: {
    id: string;
    tenant_id: string;
    name: string;
    user_id: string | null;
    token_hash: string;
    disabled: number;
    created_at: number;
    /** How an OsmAnd tracker or an OwnTracks topic (USER/DEVICE) names the device; unique per deployment (migration 002). */
    unique_id: string | null;
    /** OwnTracks payload encryption passphrase: a shared secret, kept readable because decrypting needs it (migration 002). */
    owntracks_key: string | null;
  };
  groups: { id: string; tenant_id: string; name: string; parent_id: string | null; created_at: number };
  group_members: { tenant_id: string; group_id: string; member_type: string; member_id: string };
}

export const clientMigrations: Migration[] = [
  {
    name: '001-initial',
    async up(db) {
      await db.schema.createTable('platform').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('value', 'text', (c) => c.notNull()).execute();
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('slug', 'text', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('users_tenant_email', ['tenant_id', 'email'])
        .execute();
      await db.schema
        .createTable('devices')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('devices_tenant').on('devices').columns(['tenant_id', 'id']).execute();
      await db.schema
        .createTable('groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('parent_id', 'text', (c) => c.references('groups.id').onDelete('set null'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('group_members')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
        .addColumn('member_type', 'text', (c) => c.notNull())
        .addColumn('member_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'member_type', 'member_id'])
        .execute();
      await db.schema.createIndex('group_members_member').on('group_members').columns(['tenant_id', 'member_type', 'member_id']).execute();
    },
  },
  {
    name: '002-device-unique-id',
    async up(db) {
      await db.schema.alterTable('devices').addColumn('unique_id', 'text').execute();
      await db.schema.alterTable('devices').addColumn('owntracks_key', 'text').execute();
      // NULLs do not collide in a unique index (SQLite and PostgreSQL alike): devices without one are fine.
      await db.schema.createIndex('devices_unique_id').on('devices').column('unique_id').unique().execute();
    },
  },
  {
    name: '003-provisioning',
    async up(db) {
      await db.schema.alterTable('tenants').addColumn('external_ref', 'text').execute();
      await db.schema.alterTable('tenants').addColumn('plan', 'text').execute();
      await db.schema.alterTable('tenants').addColumn('branding', 'text').execute();
      await db.schema.createIndex('tenants_external_ref').on('tenants').column('external_ref').unique().execute();
      await db.schema
        .createTable('domains')
        .addColumn('host', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('invitations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('accepted_at', 'bigint')
        .execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text')
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('detail', 'text')
        .addColumn('ip', 'text')
        .execute();
      await db.schema.createIndex('audit_log_tenant_at').on('audit_log').columns(['tenant_id', 'at']).execute();
    },
  },
  {
    name: '004-tenant-time-zone',
    async up(db) {
      await db.schema.alterTable('tenants').addColumn('time_zone', 'text').execute();
    },
  },
];

/**
 * The client service's tenant-owned tables, parents first (import order; purge goes in reverse).
 * The tenant's own row and the audit log are handled beside them: the row is the tenant, and the
 * audit log outlives a deleted tenant for the platform owner.
 */
export const clientTenantTables = ['users', 'devices', 'groups', 'group_members', 'domains', 'invitations'] as const;
