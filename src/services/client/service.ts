/** The client service: tenants, users with roles, devices with tokens, groups, and authentication. */
import { SignJWT, jwtVerify } from 'jose';
import type { Kysely } from 'kysely';
import { AppError, invalid, notFound } from '../../core/errors.js';
import { GroupCommit } from '../../core/group-commit.js';
import { isTimeZone } from '../../core/time-zone.js';
import { newId } from '../../core/ids.js';
import { hashPassword, hashToken, newToken, verifyPassword } from '../../core/secrets.js';
import type { TenantContext } from '../../core/tenancy.js';
import { ROLES, type Principal, type Role } from '../../core/types.js';
import type { Bus } from '../../ports/bus.js';
import { exportTenantRows, importTenantRows, purgeTenantRows, TenantScope, type Store } from '../../ports/store.js';
import { clientTenantTables, type ClientDB } from './schema.js';
import { checkQuota, parsePlan, type Plan } from './plans.js';
import { defaultBranding, mergeBranding, parseHost, type Branding } from './branding.js';
import { clientChanged } from './events.js';

export interface Tenant {
  id: string;
  name: string;
  slug: string;
  status: 'active' | 'suspended';
  createdAt: number;
  externalRef: string | null;
  plan: Plan;
  /** IANA time zone the Control Center shows times in and its forms start from; null: not set (the browser's is used). */
  timeZone: string | null;
}

/** One entry of the audit log: who did what, when, from where. */
export interface AuditEntry {
  id: string;
  tenantId: string | null;
  at: number;
  actor: Principal | { kind: 'anonymous' } | { kind: 'cli' };
  action: string;
  target: string | null;
  detail: unknown;
  ip: string | null;
}

export interface ProvisionInput {
  name: string;
  slug?: string | undefined;
  externalRef?: string | undefined;
  owner: { email: string; name: string; password?: string | undefined };
  plan?: unknown;
  branding?: unknown;
  /** A starter group named so, with the owner in it. */
  starterGroup?: string | undefined;
}

export interface Provisioned {
  tenant: Tenant;
  owner: User;
  /** When the owner got no password: a link to set one, valid for 7 days (the token is shown this once). */
  invitation: { token: string; expiresAt: number } | null;
  /** False when a tenant with the same externalRef existed already: nothing was made. */
  created: boolean;
}

const INVITATION_DAYS = 7;

export interface User {
  id: string;
  tenantId: string;
  email: string;
  name: string;
  role: Role;
  createdAt: number;
}

export interface Device {
  id: string;
  tenantId: string;
  name: string;
  userId: string | null;
  /** How an OsmAnd tracker (`id`) or an OwnTracks topic (`USER/DEVICE`) names this device; unique per deployment. */
  uniqueId: string | null;
  /** Whether an OwnTracks encryption key is set (the key itself is never listed). */
  owntracksEncryption: boolean;
  disabled: boolean;
  createdAt: number;
}

/** What may be set on a device besides its token. null clears a value. */
export interface DeviceInput {
  name?: string | undefined;
  userId?: string | null | undefined;
  uniqueId?: string | null | undefined;
  owntracksKey?: string | null | undefined;
  /** A disabled device is refused at hello, and its connections are closed at once. */
  disabled?: boolean | undefined;
}

export interface Group {
  id: string;
  tenantId: string;
  name: string;
  parentId: string | null;
  members: { userIds: string[]; deviceIds: string[] };
  createdAt: number;
}

/** The tenant's people and groups by name, as a member may see them (no e-mail, role, devices or positions). */
export interface Directory {
  people: { id: string; name: string }[];
  groups: { id: string; name: string }[];
}

/** Named devices and users with what a message needs of them (see `peopleOf`). */
export interface PeopleOf {
  /** The named devices that exist, with the user carrying each (null: nobody). */
  devices: { id: string; name: string; userId: string | null }[];
  /** The named users and the users carrying the named devices. */
  users: User[];
}

/** Whom a message or rule is for, before expansion to devices. */
export interface Audience {
  deviceIds?: string[];
  userIds?: string[];
  groupIds?: string[];
}

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$/;
const EMAIL = /^[^\s@]+@[^\s@]+$/;
const JWT_TTL = '12h';
/** Printable ASCII without spaces: IMEIs, serial numbers, OwnTracks `user/device`. */
const UNIQUE_ID = /^[\x21-\x7e]{1,128}$/;
/** Most devices in one bulk request (one transaction). */
export const MAX_BULK_DEVICES = 5000;
/** Rows per INSERT and ids per IN list: under SQLite's and PostgreSQL's bound-parameter limits. */
const BULK_CHUNK = 500;
const BULK_DEVICE_FIELDS = ['name', 'userId', 'uniqueId', 'owntracksKey'];

/** Most device tokens looked up in one statement. */
const TOKEN_LOOKUP_MAX = 500;

type DeviceWithTenant = ClientDB['devices'] & { tenant_status: string; tenant_slug: string };

export class ClientService {
  private jwtKey: Uint8Array | undefined;
  /**
   * Device tokens are random secrets, so a SHA-256 lookup is the whole check (no KDF). Hellos that
   * arrive together (thousands of devices connecting, a batch from an edge) share one statement
   * that also reads their tenants' status: no cache, so a rotated token, a deleted device or a
   * suspended tenant is refused at the next hello. Connections already open are re-checked here
   * too, when `client.changed` says `revoked` (src/edge/revocation.ts).
   */
  private readonly tokenLookups = new GroupCommit<string, DeviceWithTenant | undefined>((hashes) => this.devicesByTokenHash(hashes), 0, TOKEN_LOOKUP_MAX);

  constructor(
    private readonly store: Store<ClientDB>,
    private readonly bus: Bus,
  ) {}

  private get db(): Kysely<ClientDB> {
    return this.store.db;
  }

  private scope(ctx: TenantContext): TenantScope<ClientDB> {
    return new TenantScope(this.db, ctx.tenantId);
  }

  // ---- platform ----

  /** The platform admin key: sets it from configuration, or makes one on first start. Returns a new key when one was made. */
  async ensureAdminKey(configured: string): Promise<string | undefined> {
    if (configured) {
      await this.setPlatform('admin_key_hash', hashToken(configured));
      return undefined;
    }
    if (await this.getPlatform('admin_key_hash')) return undefined;
    const key = newToken('fma');
    await this.setPlatform('admin_key_hash', hashToken(key));
    return key;
  }

  async createTenant(input: { name: string; slug?: string | undefined; plan?: unknown }): Promise<Tenant> {
    const row = await this.newTenantRow(input.name, input.slug, undefined, parsePlan(input.plan), undefined);
    await this.db.insertInto('tenants').values(row).execute();
    await this.bus.publish(clientChanged, row.id, { tenantId: row.id, kind: 'tenant', id: row.id });
    return toTenant(row);
  }

  /**
   * A new customer in one transaction: the tenant with its plan and branding, its first owner
   * (with a password, or an invitation to set one), and an optional starter group. Idempotent by
   * `externalRef`: a retried call returns the tenant made the first time and makes nothing.
   */
  async provisionTenant(input: ProvisionInput): Promise<Provisioned> {
    if (input.externalRef !== undefined) {
      const ref = requireText(input.externalRef, 'externalRef', 200);
      const existing = await this.db.selectFrom('tenants').selectAll().where('external_ref', '=', ref).executeTakeFirst();
      if (existing) {
        const owner = await new TenantScope(this.db, existing.id).selectFrom('users').selectAll().where('role', '=', 'owner').orderBy('id').executeTakeFirst();
        if (!owner) throw new AppError('conflict', `tenant ${existing.id} with externalRef ${ref} has no owner`);
        return { tenant: toTenant(existing), owner: toUser(owner), invitation: null, created: false };
      }
    }
    if (!input.owner || typeof input.owner !== 'object') throw invalid('owner', 'must name the first owner: email, name and optionally password');
    const email = requireText(input.owner.email, 'owner.email', 320).toLowerCase();
    if (!EMAIL.test(email)) throw invalid('owner.email', `must be an e-mail address, got "${email}"`);
    const ownerName = requireText(input.owner.name, 'owner.name', 200);
    if (input.owner.password !== undefined && (typeof input.owner.password !== 'string' || input.owner.password.length < 8)) throw invalid('owner.password', 'must have at least 8 characters');
    const row = await this.newTenantRow(input.name, input.slug, input.externalRef, parsePlan(input.plan), mergeBranding(defaultBranding, input.branding));
    const now = Date.now();
    const owner: User = { id: newId('usr'), tenantId: row.id, email, name: ownerName, role: 'owner', createdAt: now };
    const passwordHash = input.owner.password === undefined ? null : await hashPassword(input.owner.password);
    const invitation = passwordHash === null ? { token: newToken('fmi'), expiresAt: now + INVITATION_DAYS * 86_400_000 } : null;
    const groupName = input.starterGroup === undefined ? undefined : requireText(input.starterGroup, 'starterGroup', 200);
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('tenants').values(row).execute();
      const scope = new TenantScope<ClientDB>(trx, row.id);
      await scope.insert('users', { id: owner.id, email, name: ownerName, role: 'owner', password_hash: passwordHash, created_at: now });
      if (invitation) await scope.insert('invitations', { id: newId('inv'), user_id: owner.id, token_hash: hashToken(invitation.token), created_at: now, expires_at: invitation.expiresAt, accepted_at: null });
      if (groupName) {
        const groupId = newId('grp');
        await scope.insert('groups', { id: groupId, name: groupName, parent_id: null, created_at: now });
        await scope.insert('group_members', { group_id: groupId, member_type: 'user', member_id: owner.id });
      }
    });
    await this.bus.publish(clientChanged, row.id, { tenantId: row.id, kind: 'tenant', id: row.id });
    return { tenant: toTenant(row), owner, invitation, created: true };
  }

  /** Sets the password of an invited user; the invitation works once and until it expires. */
  async acceptInvitation(token: string, password: string): Promise<{ user: User; tenant: Tenant }> {
    if (typeof password !== 'string' || password.length < 8) throw invalid('password', 'must have at least 8 characters');
    const row = await this.db.selectFrom('invitations').selectAll().where('token_hash', '=', hashToken(String(token))).executeTakeFirst();
    if (!row || row.accepted_at !== null || row.expires_at <= Date.now()) throw new AppError('not_found', 'this invitation does not exist, was used already or has expired');
    const hash = await hashPassword(password);
    await this.db.transaction().execute(async (trx) => {
      const scope = new TenantScope<ClientDB>(trx, row.tenant_id);
      await scope.updateTable('users').set({ password_hash: hash }).where('id', '=', row.user_id).execute();
      await scope.updateTable('invitations').set({ accepted_at: Date.now() }).where('id', '=', row.id).execute();
    });
    const ctx = { tenantId: row.tenant_id, principal: { kind: 'admin' } as const };
    return { user: await this.getUser(ctx, row.user_id), tenant: await this.getTenant(row.tenant_id) };
  }

  async findTenantByExternalRef(ref: string): Promise<Tenant | undefined> {
    const row = await this.db.selectFrom('tenants').selectAll().where('external_ref', '=', ref).executeTakeFirst();
    return row && toTenant(row);
  }

  async setPlan(id: string, plan: unknown): Promise<Tenant> {
    const tenant = await this.getTenant(id);
    const next = parsePlan(plan, tenant.plan);
    await this.db.updateTable('tenants').set({ plan: JSON.stringify(next) }).where('id', '=', id).execute();
    return this.getTenant(id);
  }

  /** What a tenant uses against its plan. */
  async usage(id: string): Promise<{ plan: Plan; devices: number; users: number; groups: number }> {
    const tenant = await this.getTenant(id);
    const scope = new TenantScope(this.db, id);
    const count = async (table: 'devices' | 'users' | 'groups') => Number((await scope.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    return { plan: tenant.plan, devices: await count('devices'), users: await count('users'), groups: await count('groups') };
  }

  async getBranding(id: string): Promise<Branding> {
    const row = await this.db.selectFrom('tenants').select('branding').where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('tenant', id);
    return row.branding ? { ...defaultBranding, ...(JSON.parse(row.branding) as Partial<Branding>) } : { ...defaultBranding };
  }

  async setBranding(id: string, change: unknown): Promise<Branding> {
    const next = mergeBranding(await this.getBranding(id), change);
    await this.db.updateTable('tenants').set({ branding: JSON.stringify(next) }).where('id', '=', id).execute();
    await this.bus.publish(clientChanged, id, { tenantId: id, kind: 'tenant', id });
    return next;
  }

  async addDomain(id: string, host: unknown): Promise<string[]> {
    await this.getTenant(id);
    const name = parseHost(host);
    const taken = await this.db.selectFrom('domains').select('tenant_id').where('host', '=', name).executeTakeFirst();
    if (taken && taken.tenant_id !== id) throw new AppError('conflict', `${name} belongs to another tenant`, [{ field: 'host', reason: 'already taken' }]);
    if (!taken) await this.db.insertInto('domains').values({ host: name, tenant_id: id, created_at: Date.now() }).execute();
    await this.bus.publish(clientChanged, id, { tenantId: id, kind: 'tenant', id });
    return this.listDomains(id);
  }

  async removeDomain(id: string, host: string): Promise<string[]> {
    const result = await new TenantScope(this.db, id).deleteFrom('domains').where('host', '=', host.toLowerCase()).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound('domain', host);
    await this.bus.publish(clientChanged, id, { tenantId: id, kind: 'tenant', id });
    return this.listDomains(id);
  }

  async listDomains(id: string): Promise<string[]> {
    return (await new TenantScope(this.db, id).selectFrom('domains').select('host').orderBy('host').execute()).map((r) => r.host);
  }

  /** The tenant a custom domain belongs to. */
  async tenantByHost(host: string): Promise<Tenant | undefined> {
    const row = await this.db.selectFrom('domains').innerJoin('tenants', 'tenants.id', 'domains.tenant_id').selectAll('tenants').where('domains.host', '=', host.toLowerCase()).executeTakeFirst();
    return row && toTenant(row);
  }

  // ---- audit ----

  async record(entry: Omit<AuditEntry, 'id' | 'at'> & { at?: number }): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({ id: newId('aud'), tenant_id: entry.tenantId, at: entry.at ?? Date.now(), actor: JSON.stringify(entry.actor), action: entry.action, target: entry.target, detail: entry.detail === undefined ? null : JSON.stringify(entry.detail), ip: entry.ip })
      .execute();
  }

  /** The audit log, newest first: the platform's (tenantId undefined: everything) or one tenant's. */
  async auditLog(q: { tenantId?: string | undefined; before?: number | undefined; limit?: number | undefined }): Promise<AuditEntry[]> {
    let query = this.db.selectFrom('audit_log').selectAll();
    if (q.tenantId !== undefined) query = query.where('tenant_id', '=', q.tenantId);
    if (q.before !== undefined) query = query.where('at', '<', q.before);
    const rows = await query.orderBy('at', 'desc').orderBy('id', 'desc').limit(q.limit ?? 100).execute();
    return rows.map((r) => ({ id: r.id, tenantId: r.tenant_id, at: r.at, actor: JSON.parse(r.actor) as AuditEntry['actor'], action: r.action, target: r.target, detail: r.detail === null ? null : (JSON.parse(r.detail) as unknown), ip: r.ip }));
  }

  // ---- a tenant's data as a whole ----

  async exportTenant(id: string): Promise<Record<string, unknown[]>> {
    const tenant = await this.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!tenant) throw notFound('tenant', id);
    return { tenants: [tenant], ...(await exportTenantRows(this.db, clientTenantTables, id)) };
  }

  /** Deletes the tenant and every row of it, its audit log included (the platform's log keeps the deletion). */
  async purgeTenant(id: string): Promise<number> {
    let deleted = await purgeTenantRows(this.db, clientTenantTables, id);
    deleted += Number((await this.db.deleteFrom('audit_log').where('tenant_id', '=', id).executeTakeFirst()).numDeletedRows);
    const tenant = await this.db.deleteFrom('tenants').where('id', '=', id).executeTakeFirst();
    await this.bus.publish(clientChanged, id, { tenantId: id, kind: 'tenant', id, revoked: 'tenant_deleted' });
    return deleted + Number(tenant.numDeletedRows);
  }

  /** Recreates a tenant from an export (another deployment's): refused when its id, slug or external reference is taken. */
  async importTenant(rows: Record<string, unknown[]>): Promise<Tenant> {
    const row = (rows.tenants?.[0] ?? undefined) as ClientDB['tenants'] | undefined;
    if (!row || typeof row.id !== 'string') throw invalid('services.client.tenants', 'must hold the tenant row');
    const clash = await this.db
      .selectFrom('tenants')
      .select(['id', 'slug'])
      .where((eb) => eb.or([eb('id', '=', row.id), eb('slug', '=', row.slug), ...(row.external_ref ? [eb('external_ref', '=', row.external_ref)] : [])]))
      .executeTakeFirst();
    if (clash) throw new AppError('conflict', `tenant ${clash.id} (${clash.slug}) exists here already; delete it first or import elsewhere`, [{ field: 'services.client.tenants[0]', reason: 'already exists' }]);
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('tenants').values(row).execute();
      await importTenantRows<ClientDB>(trx, clientTenantTables, row.id, rows);
    });
    await this.bus.publish(clientChanged, row.id, { tenantId: row.id, kind: 'tenant', id: row.id });
    return toTenant(row);
  }

  private async newTenantRow(nameInput: unknown, slugInput: string | undefined, externalRef: string | undefined, plan: Plan, branding: Branding | undefined): Promise<ClientDB['tenants']> {
    const name = requireText(nameInput, 'name', 200);
    const slug = slugInput ?? slugify(name);
    if (typeof slug !== 'string' || !SLUG.test(slug)) throw invalid('slug', `must be 1 to 48 lower-case letters, digits or dashes, got "${slug}"`);
    if (await this.db.selectFrom('tenants').select('id').where('slug', '=', slug).executeTakeFirst()) {
      throw new AppError('conflict', `a tenant with the slug "${slug}" exists already`, [{ field: 'slug', reason: 'already taken' }]);
    }
    return { id: newId('ten'), name, slug, status: 'active', created_at: Date.now(), external_ref: externalRef ?? null, plan: JSON.stringify(plan), branding: branding ? JSON.stringify(branding) : null };
  }

  async listTenants(): Promise<Tenant[]> {
    const rows = await this.db.selectFrom('tenants').selectAll().orderBy('id').execute();
    return rows.map(toTenant);
  }

  async getTenant(id: string): Promise<Tenant> {
    const row = await this.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('tenant', id);
    return toTenant(row);
  }

  async findTenantBySlug(slug: string): Promise<Tenant | undefined> {
    const row = await this.db.selectFrom('tenants').selectAll().where('slug', '=', slug).executeTakeFirst();
    return row && toTenant(row);
  }

  /** Changes a tenant's name or time zone (IANA, or null to unset). */
  async updateTenant(ctx: TenantContext, change: { name?: unknown; timeZone?: unknown }): Promise<Tenant> {
    await this.getTenant(ctx.tenantId);
    const set: { name?: string; time_zone?: string | null } = {};
    if (change.name !== undefined) set.name = requireText(change.name, 'name', 200);
    if (change.timeZone !== undefined) {
      if (change.timeZone !== null && !isTimeZone(change.timeZone)) throw invalid('timeZone', `must be an IANA time zone such as "Europe/Berlin" or "UTC", got ${JSON.stringify(change.timeZone)}`);
      set.time_zone = change.timeZone;
    }
    if (Object.keys(set).length > 0) {
      await this.db.updateTable('tenants').set(set).where('id', '=', ctx.tenantId).execute();
      await this.bus.publish(clientChanged, ctx.tenantId, { tenantId: ctx.tenantId, kind: 'tenant', id: ctx.tenantId });
    }
    return this.getTenant(ctx.tenantId);
  }

  async setTenantStatus(id: string, status: Tenant['status']): Promise<Tenant> {
    await this.getTenant(id);
    await this.db.updateTable('tenants').set({ status }).where('id', '=', id).execute();
    await this.bus.publish(clientChanged, id, { tenantId: id, kind: 'tenant', id, ...(status === 'suspended' ? { revoked: 'tenant_suspended' as const } : {}) });
    return this.getTenant(id);
  }

  // ---- users ----

  async createUser(ctx: TenantContext, input: { email: string; name: string; role: string; password?: string | undefined }): Promise<User> {
    await this.requireTenant(ctx.tenantId);
    const email = requireText(input.email, 'email', 320).toLowerCase();
    if (!EMAIL.test(email)) throw invalid('email', `must be an e-mail address, got "${email}"`);
    const name = requireText(input.name, 'name', 200);
    const role = parseRole(input.role);
    if (ctx.principal.kind === 'user' && role === 'owner' && ctx.principal.role !== 'owner') throw new AppError('forbidden', 'only an owner may create another owner');
    const usage = await this.usage(ctx.tenantId);
    checkQuota(usage.plan, 'users', usage.users);
    if (input.password !== undefined && input.password.length < 8) throw invalid('password', 'must have at least 8 characters');
    const scope = this.scope(ctx);
    if (await scope.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst()) {
      throw new AppError('conflict', `a user with the e-mail ${email} exists already in this tenant`, [{ field: 'email', reason: 'already taken' }]);
    }
    const user: User = { id: newId('usr'), tenantId: ctx.tenantId, email, name, role, createdAt: Date.now() };
    const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
    await scope.insert('users', { id: user.id, email, name, role, password_hash: passwordHash, created_at: user.createdAt });
    return user;
  }

  async listUsers(ctx: TenantContext): Promise<User[]> {
    const rows = await this.scope(ctx).selectFrom('users').selectAll().orderBy('id').execute();
    return rows.map(toUser);
  }

  async getUser(ctx: TenantContext, id: string): Promise<User> {
    const row = await this.scope(ctx).selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('user', id);
    return toUser(row);
  }

  async deleteUser(ctx: TenantContext, id: string): Promise<void> {
    await this.getUser(ctx, id);
    await this.db.transaction().execute(async (trx) => {
      const scope = this.scope(ctx).with(trx);
      await scope.deleteFrom('group_members').where('member_type', '=', 'user').where('member_id', '=', id).execute();
      await scope.updateTable('devices').set({ user_id: null }).where('user_id', '=', id).execute();
      await scope.deleteFrom('users').where('id', '=', id).execute();
    });
  }

  /** Checks a password and returns a signed access token (a JWT) for the user. */
  async login(input: { tenant: string; email: string; password: string }): Promise<{ token: string; user: User; tenant: Tenant }> {
    const tenant = await this.findTenantBySlug(input.tenant) ?? (await this.db.selectFrom('tenants').selectAll().where('id', '=', input.tenant).executeTakeFirst().then((r) => r && toTenant(r)));
    const refuse = new AppError('unauthenticated', 'the tenant, e-mail or password is wrong');
    if (!tenant) throw refuse;
    const row = await new TenantScope(this.db, tenant.id).selectFrom('users').selectAll().where('email', '=', String(input.email).toLowerCase()).executeTakeFirst();
    if (!row || !row.password_hash || !(await verifyPassword(String(input.password), row.password_hash))) throw refuse;
    if (tenant.status !== 'active') throw new AppError('tenant_suspended', `tenant ${tenant.slug} is suspended`);
    const user = toUser(row);
    const token = await new SignJWT({ tid: user.tenantId, role: user.role })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuedAt()
      .setExpirationTime(JWT_TTL)
      .sign(await this.signingKey());
    return { token, user, tenant };
  }

  // ---- devices ----

  /** Creates a device and its token; the token is returned this once and only its hash is kept. */
  async createDevice(ctx: TenantContext, input: DeviceInput & { name: string }): Promise<{ device: Device; token: string }> {
    const usage = await this.usage(ctx.tenantId);
    checkQuota(usage.plan, 'devices', usage.devices);
    const name = requireText(input.name, 'name', 200);
    if (input.userId !== undefined && input.userId !== null) await this.getUser(ctx, input.userId).catch(() => {
      throw invalid('userId', `no user ${input.userId} in this tenant`);
    });
    const uniqueId = await this.checkUniqueId(input.uniqueId);
    const owntracksKey = checkOwntracksKey(input.owntracksKey);
    const token = newToken('fmd');
    const id = newId('dev');
    const createdAt = Date.now();
    await this.scope(ctx).insert('devices', { id, name, user_id: input.userId ?? null, token_hash: hashToken(token), disabled: 0, created_at: createdAt, unique_id: uniqueId, owntracks_key: owntracksKey });
    await this.bus.publish(clientChanged, id, { tenantId: ctx.tenantId, kind: 'device', id });
    return { device: await this.getDevice(ctx, id), token };
  }

  /**
   * Creates up to MAX_BULK_DEVICES devices in one transaction, all or none: a bad row is refused
   * naming it (`[i].field`, the row's index from 0), the plan's device quota is checked for the whole batch, and
   * each device's token is returned this once.
   */
  async createDevices(ctx: TenantContext, rows: unknown): Promise<{ device: Device; token: string }[]> {
    if (!Array.isArray(rows)) throw invalid('devices', `must be an array of devices, got ${rows === null ? 'null' : typeof rows}`);
    if (rows.length === 0) throw invalid('devices', 'must hold at least one device');
    if (rows.length > MAX_BULK_DEVICES) throw invalid('devices', `must hold at most ${MAX_BULK_DEVICES} devices per request, got ${rows.length}; split the file`);
    const usage = await this.usage(ctx.tenantId);
    checkQuota(usage.plan, 'devices', usage.devices, rows.length);
    const createdAt = Date.now();
    const checked = rows.map((row: unknown, i) => {
      const at = `[${i}]`;
      if (row === null || typeof row !== 'object' || Array.isArray(row)) throw invalid(at, 'must be an object with a name');
      const input = row as Record<string, unknown>;
      const unknownField = Object.keys(input).find((k) => !BULK_DEVICE_FIELDS.includes(k));
      if (unknownField) throw invalid(`${at}.${unknownField}`, `is not a device field; expected ${BULK_DEVICE_FIELDS.join(', ')}`);
      return atRow(at, () => ({
        id: newId('dev'),
        name: requireText(input.name, 'name', 200),
        user_id: optionalText(input.userId, 'userId'),
        unique_id: checkUniqueIdFormat(input.uniqueId as string | null | undefined),
        owntracks_key: checkOwntracksKey(input.owntracksKey as string | null | undefined),
      }));
    });
    const userIds = [...new Set(checked.flatMap((r) => (r.user_id ? [r.user_id] : [])))];
    const uniqueIds = new Map<string, number>();
    checked.forEach((r, i) => {
      if (r.unique_id === null) return;
      const first = uniqueIds.get(r.unique_id);
      if (first !== undefined) throw new AppError('conflict', `[${i}].uniqueId: "${r.unique_id}" is also the unique id of [${first}]`, [{ field: `[${i}].uniqueId`, reason: `same as [${first}]` }]);
      uniqueIds.set(r.unique_id, i);
    });
    const scope = this.scope(ctx);
    for (let i = 0; i < userIds.length; i += BULK_CHUNK) {
      const part = userIds.slice(i, i + BULK_CHUNK);
      const found = new Set((await scope.selectFrom('users').select('id').where('id', 'in', part).execute()).map((r) => r.id));
      const missing = part.find((id) => !found.has(id));
      if (missing !== undefined) {
        const row = checked.findIndex((r) => r.user_id === missing);
        throw invalid(`[${row}].userId`, `no user ${missing} in this tenant`);
      }
    }
    const ids = [...uniqueIds.keys()];
    for (let i = 0; i < ids.length; i += BULK_CHUNK) {
      const taken = await this.db.selectFrom('devices').select('unique_id').where('unique_id', 'in', ids.slice(i, i + BULK_CHUNK)).executeTakeFirst();
      if (taken?.unique_id) {
        const row = uniqueIds.get(taken.unique_id)!;
        throw new AppError('conflict', `[${row}].uniqueId: a device with the unique id "${taken.unique_id}" exists already (unique ids are unique across the deployment)`, [{ field: `[${row}].uniqueId`, reason: 'already taken' }]);
      }
    }
    const tokens = checked.map(() => newToken('fmd'));
    const inserts = checked.map((r, i) => ({ ...r, token_hash: hashToken(tokens[i]!), disabled: 0, created_at: createdAt }));
    await this.db.transaction().execute(async (trx) => {
      const inTrx = new TenantScope<ClientDB>(trx, ctx.tenantId);
      for (let i = 0; i < inserts.length; i += BULK_CHUNK) await inTrx.insert('devices', inserts.slice(i, i + BULK_CHUNK));
    });
    // the caches keyed by tenant (groups, OwnTracks friends) need one notice for the batch
    await this.bus.publish(clientChanged, checked[0]!.id, { tenantId: ctx.tenantId, kind: 'device', id: checked[0]!.id });
    return inserts.map((r, i) => ({ device: toDevice({ ...r, tenant_id: ctx.tenantId }), token: tokens[i]! }));
  }

  /** Changes a device's name, user, unique id, OwnTracks key or whether it is disabled; fields left out stay as they are. */
  async updateDevice(ctx: TenantContext, id: string, input: DeviceInput): Promise<Device> {
    const current = await this.getDevice(ctx, id);
    const set: Partial<ClientDB['devices']> = {};
    if (input.name !== undefined) set.name = requireText(input.name, 'name', 200);
    if (input.userId !== undefined) {
      if (input.userId !== null) await this.getUser(ctx, input.userId).catch(() => {
        throw invalid('userId', `no user ${input.userId} in this tenant`);
      });
      set.user_id = input.userId;
    }
    if (input.uniqueId !== undefined && input.uniqueId !== current.uniqueId) set.unique_id = await this.checkUniqueId(input.uniqueId);
    if (input.owntracksKey !== undefined) set.owntracks_key = checkOwntracksKey(input.owntracksKey);
    if (input.disabled !== undefined) {
      if (typeof input.disabled !== 'boolean') throw invalid('disabled', `must be true or false, got ${JSON.stringify(input.disabled)}`);
      set.disabled = input.disabled ? 1 : 0;
    }
    if (Object.keys(set).length > 0) {
      await this.scope(ctx).updateTable('devices').set(set).where('id', '=', id).execute();
      const revoked = input.disabled === true && !current.disabled ? { revoked: 'device_disabled' as const } : {};
      await this.bus.publish(clientChanged, id, { tenantId: ctx.tenantId, kind: 'device', id, ...revoked });
    }
    return this.getDevice(ctx, id);
  }

  async listDevices(ctx: TenantContext): Promise<Device[]> {
    const rows = await this.scope(ctx).selectFrom('devices').selectAll().orderBy('id').execute();
    return rows.map(toDevice);
  }

  async getDevice(ctx: TenantContext, id: string): Promise<Device> {
    const row = await this.scope(ctx).selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('device', id);
    return toDevice(row);
  }

  /** Replaces a device's token; the old one stops working at once. */
  async rotateDeviceToken(ctx: TenantContext, id: string): Promise<{ device: Device; token: string }> {
    const device = await this.getDevice(ctx, id);
    const token = newToken('fmd');
    await this.scope(ctx).updateTable('devices').set({ token_hash: hashToken(token) }).where('id', '=', id).execute();
    await this.bus.publish(clientChanged, id, { tenantId: ctx.tenantId, kind: 'device', id, revoked: 'token_rotated' });
    return { device, token };
  }

  async deleteDevice(ctx: TenantContext, id: string): Promise<void> {
    await this.getDevice(ctx, id);
    await this.db.transaction().execute(async (trx) => {
      const scope = this.scope(ctx).with(trx);
      await scope.deleteFrom('group_members').where('member_type', '=', 'device').where('member_id', '=', id).execute();
      await scope.deleteFrom('devices').where('id', '=', id).execute();
    });
    await this.bus.publish(clientChanged, id, { tenantId: ctx.tenantId, kind: 'device', id, revoked: 'device_deleted' });
  }

  // ---- groups ----

  async createGroup(ctx: TenantContext, input: { name: string; parentId?: string | undefined; userIds?: string[] | undefined; deviceIds?: string[] | undefined }): Promise<Group> {
    await this.requireTenant(ctx.tenantId);
    const name = requireText(input.name, 'name', 200);
    if (input.parentId) await this.getGroup(ctx, input.parentId).catch(() => {
      throw invalid('parentId', `no group ${input.parentId} in this tenant`);
    });
    const id = newId('grp');
    const createdAt = Date.now();
    const members = await this.checkMembers(ctx, input.userIds ?? [], input.deviceIds ?? []);
    await this.db.transaction().execute(async (trx) => {
      const scope = this.scope(ctx).with(trx);
      await scope.insert('groups', { id, name, parent_id: input.parentId ?? null, created_at: createdAt });
      await scope.insert('group_members', members.map((m) => ({ group_id: id, ...m })));
    });
    await this.bus.publish(clientChanged, id, { tenantId: ctx.tenantId, kind: 'group', id });
    return this.getGroup(ctx, id);
  }

  async addGroupMembers(ctx: TenantContext, groupId: string, input: { userIds?: string[] | undefined; deviceIds?: string[] | undefined }): Promise<Group> {
    await this.getGroup(ctx, groupId);
    const members = await this.checkMembers(ctx, input.userIds ?? [], input.deviceIds ?? []);
    const scope = this.scope(ctx);
    const existing = new Set((await scope.selectFrom('group_members').select(['member_type', 'member_id']).where('group_id', '=', groupId).execute()).map((m) => `${m.member_type}:${m.member_id}`));
    await scope.insert('group_members', members.filter((m) => !existing.has(`${m.member_type}:${m.member_id}`)).map((m) => ({ group_id: groupId, ...m })));
    await this.bus.publish(clientChanged, groupId, { tenantId: ctx.tenantId, kind: 'group', id: groupId });
    return this.getGroup(ctx, groupId);
  }

  async removeGroupMember(ctx: TenantContext, groupId: string, memberId: string): Promise<Group> {
    await this.getGroup(ctx, groupId);
    await this.scope(ctx).deleteFrom('group_members').where('group_id', '=', groupId).where('member_id', '=', memberId).execute();
    await this.bus.publish(clientChanged, groupId, { tenantId: ctx.tenantId, kind: 'group', id: groupId });
    return this.getGroup(ctx, groupId);
  }

  async listGroups(ctx: TenantContext): Promise<Group[]> {
    const scope = this.scope(ctx);
    const rows = await scope.selectFrom('groups').selectAll().orderBy('id').execute();
    const members = await scope.selectFrom('group_members').selectAll().execute();
    return rows.map((row) => toGroup(row, members.filter((m) => m.group_id === row.id)));
  }

  /** What every member of a tenant may see of it, to pick whom to share with: names of its people and groups, nothing else. */
  async directory(ctx: TenantContext): Promise<Directory> {
    const scope = this.scope(ctx);
    const people = await scope.selectFrom('users').select(['id', 'name']).orderBy('name').orderBy('id').execute();
    const groups = await scope.selectFrom('groups').select(['id', 'name']).orderBy('name').orderBy('id').execute();
    return { people: people.map(({ id, name }) => ({ id, name })), groups: groups.map(({ id, name }) => ({ id, name })) };
  }

  async getGroup(ctx: TenantContext, id: string): Promise<Group> {
    const scope = this.scope(ctx);
    const row = await scope.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('group', id);
    const members = await scope.selectFrom('group_members').selectAll().where('group_id', '=', id).execute();
    return toGroup(row, members);
  }

  async deleteGroup(ctx: TenantContext, id: string): Promise<void> {
    await this.getGroup(ctx, id);
    await this.scope(ctx).deleteFrom('groups').where('id', '=', id).execute();
    await this.bus.publish(clientChanged, id, { tenantId: ctx.tenantId, kind: 'group', id });
  }

  /**
   * Expands an audience to device ids: devices as named, users to the devices they carry, groups to
   * their member users' and devices' devices, including sub-groups. Unknown ids are refused.
   */
  async resolveDevices(ctx: TenantContext, audience: Audience): Promise<string[]> {
    const scope = this.scope(ctx);
    const deviceIds = new Set<string>();
    const userIds = new Set<string>(audience.userIds ?? []);
    await this.expectIds(scope, 'devices', audience.deviceIds ?? [], 'target.deviceIds');
    await this.expectIds(scope, 'users', [...userIds], 'target.userIds');
    await this.expectIds(scope, 'groups', audience.groupIds ?? [], 'target.groupIds');
    for (const id of audience.deviceIds ?? []) deviceIds.add(id);
    if (audience.groupIds && audience.groupIds.length > 0) {
      const groups = await scope.selectFrom('groups').select(['id', 'parent_id']).execute();
      const wanted = new Set(audience.groupIds);
      let grew = true;
      while (grew) {
        grew = false;
        for (const g of groups) {
          if (g.parent_id && wanted.has(g.parent_id) && !wanted.has(g.id)) {
            wanted.add(g.id);
            grew = true;
          }
        }
      }
      const members = await scope.selectFrom('group_members').select(['member_type', 'member_id']).where('group_id', 'in', [...wanted]).execute();
      for (const m of members) (m.member_type === 'device' ? deviceIds : userIds).add(m.member_id);
    }
    if (userIds.size > 0) {
      const carried = await scope.selectFrom('devices').select('id').where('user_id', 'in', [...userIds]).execute();
      for (const d of carried) deviceIds.add(d.id);
    }
    return [...deviceIds].sort();
  }

  /**
   * Only the devices and users named, and the users who carry those devices: what a notification
   * needs to name an alert's device and reach its people, without the tenant's whole lists. Unknown
   * device ids are left out; an unknown user id is refused (naming `target.userIds`).
   */
  async peopleOf(ctx: TenantContext, ids: { deviceIds?: string[] | undefined; userIds?: string[] | undefined }): Promise<PeopleOf> {
    const scope = this.scope(ctx);
    const deviceIds = [...new Set(ids.deviceIds ?? [])];
    const userIds = [...new Set(ids.userIds ?? [])];
    const devices: PeopleOf['devices'] = [];
    for (let i = 0; i < deviceIds.length; i += BULK_CHUNK) {
      const rows = await scope.selectFrom('devices').select(['id', 'name', 'user_id']).where('id', 'in', deviceIds.slice(i, i + BULK_CHUNK)).orderBy('id').execute();
      for (const r of rows) devices.push({ id: r.id, name: r.name, userId: r.user_id });
    }
    const wanted = [...new Set([...userIds, ...devices.flatMap((d) => (d.userId ? [d.userId] : []))])];
    const users: User[] = [];
    for (let i = 0; i < wanted.length; i += BULK_CHUNK) {
      for (const row of await scope.selectFrom('users').selectAll().where('id', 'in', wanted.slice(i, i + BULK_CHUNK)).orderBy('id').execute()) users.push(toUser(row));
    }
    const found = new Set(users.map((u) => u.id));
    const missing = userIds.filter((id) => !found.has(id));
    if (missing.length > 0) throw invalid('target.userIds', `no user ${missing.slice(0, 5).join(', ')} in this tenant`);
    return { devices, users };
  }

  /** The groups a user belongs to, directly or through a sub-group (so a share with a parent group reaches its sub-groups' members). */
  async groupsOfUser(ctx: TenantContext, userId: string): Promise<string[]> {
    const scope = this.scope(ctx);
    const direct = await scope.selectFrom('group_members').select('group_id').where('member_type', '=', 'user').where('member_id', '=', userId).execute();
    const parents = new Map((await scope.selectFrom('groups').select(['id', 'parent_id']).execute()).map((g) => [g.id, g.parent_id]));
    const all = new Set<string>();
    for (const { group_id: id } of direct) {
      for (let g: string | null | undefined = id; g && !all.has(g); g = parents.get(g)) all.add(g);
    }
    return [...all].sort();
  }

  /** The devices a user carries. */
  async devicesOfUser(ctx: TenantContext, userId: string): Promise<string[]> {
    const rows = await this.scope(ctx).selectFrom('devices').select('id').where('user_id', '=', userId).orderBy('id').execute();
    return rows.map((r) => r.id);
  }

  // ---- authentication ----

  /** Who a bearer token belongs to: the platform admin key, a device token, or a user's access token. */
  async authenticate(token: string): Promise<Principal | undefined> {
    if (token.startsWith('fma_')) {
      return (await this.getPlatform('admin_key_hash')) === hashToken(token) ? { kind: 'admin' } : undefined;
    }
    if (token.startsWith('fmd_')) {
      const device = await this.authenticateDevice(token);
      return device && { kind: 'device', tenantId: device.tenantId, deviceId: device.id };
    }
    try {
      const { payload } = await jwtVerify(token, await this.signingKey(), { algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || typeof payload.tid !== 'string' || typeof payload.role !== 'string') return undefined;
      const row = await new TenantScope(this.db, payload.tid).selectFrom('users').select(['role']).where('id', '=', payload.sub).executeTakeFirst();
      if (!row) return undefined;
      if ((await this.getTenant(payload.tid)).status !== 'active') throw new AppError('tenant_suspended', 'the tenant is suspended');
      return { kind: 'user', tenantId: payload.tid, userId: payload.sub, role: row.role as Role };
    } catch (err) {
      if (err instanceof AppError) throw err;
      return undefined;
    }
  }

  /** The device a device token belongs to; throws tenant_suspended for a suspended tenant's or a disabled device. */
  async authenticateDevice(token: string): Promise<Device | undefined> {
    const [row] = await this.tokenLookups.submit([hashToken(token)]);
    if (!row) return undefined;
    refuseUnusable(row, { status: row.tenant_status, slug: row.tenant_slug });
    return toDevice(row);
  }

  /** The devices with these token hashes and their tenants' status, one per hash (undefined: no such token). */
  private async devicesByTokenHash(hashes: string[]): Promise<(DeviceWithTenant | undefined)[]> {
    const rows = await this.db
      .selectFrom('devices')
      .innerJoin('tenants', 'tenants.id', 'devices.tenant_id')
      .selectAll('devices')
      .select(['tenants.status as tenant_status', 'tenants.slug as tenant_slug'])
      .where('devices.token_hash', 'in', [...new Set(hashes)])
      .execute();
    const byHash = new Map(rows.map((r) => [r.token_hash, r]));
    return hashes.map((h) => byHash.get(h));
  }

  /** The device an OsmAnd `id` or an OwnTracks topic names; same refusals as authenticateDevice. */
  async authenticateByUniqueId(uniqueId: string): Promise<Device | undefined> {
    const row = await this.db.selectFrom('devices').selectAll().where('unique_id', '=', uniqueId).executeTakeFirst();
    if (!row) return undefined;
    await this.checkUsable(row);
    return toDevice(row);
  }

  /** The OwnTracks encryption passphrase of a device, for the edge to decrypt its payloads. */
  async owntracksKey(ctx: TenantContext, id: string): Promise<string | null> {
    const row = await this.scope(ctx).selectFrom('devices').select('owntracks_key').where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('device', id);
    return row.owntracks_key;
  }

  // ---- helpers ----

  private async checkUsable(row: ClientDB['devices']): Promise<void> {
    refuseUnusable(row, await this.getTenant(row.tenant_id));
  }

  private async checkUniqueId(value: string | null | undefined): Promise<string | null> {
    const uniqueId = checkUniqueIdFormat(value);
    if (uniqueId === null) return null;
    if (await this.db.selectFrom('devices').select('id').where('unique_id', '=', uniqueId).executeTakeFirst()) {
      throw new AppError('conflict', `a device with the unique id "${uniqueId}" exists already (unique ids are unique across the deployment)`, [{ field: 'uniqueId', reason: 'already taken' }]);
    }
    return uniqueId;
  }

  private async requireTenant(id: string): Promise<Tenant> {
    return this.getTenant(id);
  }

  private async checkMembers(ctx: TenantContext, userIds: string[], deviceIds: string[]): Promise<{ member_type: string; member_id: string }[]> {
    const scope = this.scope(ctx);
    await this.expectIds(scope, 'users', userIds, 'userIds');
    await this.expectIds(scope, 'devices', deviceIds, 'deviceIds');
    return [...new Set(userIds)].map((id) => ({ member_type: 'user', member_id: id })).concat([...new Set(deviceIds)].map((id) => ({ member_type: 'device', member_id: id })));
  }

  private async expectIds(scope: TenantScope<ClientDB>, table: 'users' | 'devices' | 'groups', ids: string[], field: string): Promise<void> {
    if (!Array.isArray(ids)) throw invalid(field, 'must be an array of ids');
    if (ids.length === 0) return;
    const found = new Set((await scope.selectFrom(table).select('id').where('id', 'in', ids).execute()).map((r) => r.id));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) throw invalid(field, `no ${table.slice(0, -1)} ${missing.slice(0, 5).join(', ')} in this tenant`);
  }

  private async getPlatform(key: string): Promise<string | undefined> {
    return (await this.db.selectFrom('platform').select('value').where('key', '=', key).executeTakeFirst())?.value;
  }

  private async setPlatform(key: string, value: string): Promise<void> {
    await this.db.insertInto('platform').values({ key, value }).onConflict((oc) => oc.column('key').doUpdateSet({ value })).execute();
  }

  private async signingKey(): Promise<Uint8Array> {
    if (this.jwtKey) return this.jwtKey;
    let secret = await this.getPlatform('jwt_secret');
    if (!secret) {
      await this.db.insertInto('platform').values({ key: 'jwt_secret', value: newToken('jwt') }).onConflict((oc) => oc.column('key').doNothing()).execute();
      secret = (await this.getPlatform('jwt_secret'))!;
    }
    this.jwtKey = new TextEncoder().encode(secret);
    return this.jwtKey;
  }
}

function requireText(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') throw invalid(field, `must be a string, got ${value === undefined ? 'nothing' : typeof value}`);
  const trimmed = value.trim();
  if (trimmed.length === 0) throw invalid(field, 'must not be empty');
  if (trimmed.length > max) throw invalid(field, `must be at most ${max} characters, got ${trimmed.length}`);
  return trimmed;
}

function checkUniqueIdFormat(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !UNIQUE_ID.test(value)) throw invalid('uniqueId', `must be 1 to 128 printable characters without spaces, got ${JSON.stringify(value)}`);
  return value;
}

function optionalText(value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw invalid(field, `must be a string, got ${typeof value}`);
  return value;
}

/** Runs one row's checks, naming the row in a refusal: `name` becomes `[3].name`. */
function atRow<T>(at: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    const errors = err.errors.map((e) => ({ ...e, field: `${at}.${e.field}` }));
    throw new AppError(err.code, errors[0] ? `${errors[0].field}: ${errors[0].reason}` : `${at}: ${err.message}`, errors);
  }
}

function checkOwntracksKey(value: string | null | undefined): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || value.length > 256) throw invalid('owntracksKey', 'must be the passphrase set in the OwnTracks app (Encryption key), at most 256 characters');
  return value;
}

function parseRole(value: unknown): Role {
  if (typeof value !== 'string' || !(ROLES as readonly string[]).includes(value)) throw invalid('role', `must be one of ${ROLES.join(', ')}, got ${JSON.stringify(value)}`);
  return value as Role;
}

function slugify(name: string): string {
  const slug = name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48).replace(/-+$/, '');
  return slug || 'tenant';
}

function toTenant(row: ClientDB['tenants']): Tenant {
  const plan = row.plan ? parsePlan(JSON.parse(row.plan)) : parsePlan(undefined);
  return { id: row.id, name: row.name, slug: row.slug, status: row.status as Tenant['status'], createdAt: row.created_at, externalRef: row.external_ref, plan, timeZone: row.time_zone ?? null };
}

function toUser(row: ClientDB['users']): User {
  return { id: row.id, tenantId: row.tenant_id, email: row.email, name: row.name, role: row.role as Role, createdAt: row.created_at };
}

function toDevice(row: ClientDB['devices']): Device {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    userId: row.user_id,
    uniqueId: row.unique_id ?? null,
    owntracksEncryption: row.owntracks_key !== null && row.owntracks_key !== undefined,
    disabled: row.disabled === 1,
    createdAt: row.created_at,
  };
}

function toGroup(row: ClientDB['groups'], members: ClientDB['group_members'][]): Group {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    parentId: row.parent_id,
    members: {
      userIds: members.filter((m) => m.member_type === 'user').map((m) => m.member_id),
      deviceIds: members.filter((m) => m.member_type === 'device').map((m) => m.member_id),
    },
    createdAt: row.created_at,
  };
}

/** A device may not connect while its tenant is suspended or it is disabled. */
function refuseUnusable(device: { id: string; disabled: number }, tenant: { status: string; slug: string }): void {
  if (tenant.status !== 'active') throw new AppError('tenant_suspended', `tenant ${tenant.slug} is suspended`);
  if (device.disabled) throw new AppError('forbidden', `device ${device.id} is disabled`);
}
