/**
 * Provisioning: the platform owner's operations on whole customers. It spans the services, so it
 * sits above them (like the api) and uses only their public surfaces: a new tenant with its owner,
 * plan, settings and starter content in one call; bulk provisioning from a file with a dry run;
 * a tenant's complete export, its deletion (export first, then purge everywhere) and its import
 * into another deployment.
 */
import { AppError, invalid } from '../core/errors.js';
import { systemContext } from '../core/tenancy.js';
import type { ClientService, ProvisionInput, Provisioned, Tenant } from '../services/client/index.js';
import type { GeofenceService } from '../services/geofence/index.js';
import type { NotificationService } from '../services/notification/index.js';
import type { TrackerService } from '../services/tracker/index.js';

export { parseCsv } from './csv.js';

/**
 * What provisioning needs of each service: a part of its public surface, so that the services may
 * be the objects themselves (embedded) or proxies to other processes (a cluster: src/cluster/surfaces.ts
 * serves every method named here).
 */
export interface Services {
  client: Pick<
    ClientService,
    | 'provisionTenant' | 'getTenant' | 'setTenantStatus' | 'exportTenant' | 'purgeTenant' | 'importTenant' | 'findTenantBySlug' | 'findTenantByExternalRef'
    | 'listUsers' | 'createUser' | 'listDevices' | 'createDevice' | 'listGroups' | 'createGroup'
  >;
  tracker: Pick<TrackerService, 'updateSettings' | TenantData>;
  geofence: Pick<GeofenceService, 'createFence' | TenantData>;
  notification: Pick<NotificationService, 'createTemplate' | TenantData>;
}

/** A service's operations on a tenant's data as a whole. */
type TenantData = 'exportTenant' | 'purgeTenant' | 'importTenant';

/** What the client service takes for a tenant and its owner, with starter content in place of a bare starter group. */
export interface ProvisionRequest extends Omit<ProvisionInput, 'starterGroup'> {
  /** Starter content: a default group, example fences around a centre ([lon, lat]), and message templates. */
  starter?: { group?: string | undefined; fencesAround?: [number, number] | undefined; templates?: boolean | undefined } | undefined;
}

export const EXPORT_FORMAT = 'followme-tenant-export/1';

/** Message templates a new customer starts with (starter.templates). */
const STARTER_TEMPLATES = [
  { name: 'Are you safe?', title: 'Are you safe?', body: 'Please confirm that you are safe. Sent {time}.' },
  { name: 'Arrived', title: '{person} arrived at {fence}', body: '{device} entered {fence} at {time}. Live map: {link}' },
  { name: 'Evacuate', title: 'Leave {fence} now', body: 'Leave the area by the nearest exit and confirm when you are out.' },
];

/** A tenant's complete data: every service's rows of it, by table (docs/provisioning.md). */
export interface TenantExport {
  format: typeof EXPORT_FORMAT;
  exportedAt: number;
  tenant: { id: string; slug: string; name: string };
  services: { client: Record<string, unknown[]>; tracker: Record<string, unknown[]>; geofence: Record<string, unknown[]>; notification: Record<string, unknown[]> };
}

export type BulkKind = 'tenant' | 'user' | 'device' | 'group';

export interface BulkResult {
  row: number;
  kind: string;
  key: string;
  status: 'created' | 'exists' | 'would-create' | 'refused';
  id?: string;
  /** A created device's token (shown this once), or a created owner's invitation token. */
  token?: string;
  error?: { code: string; field?: string | undefined; reason: string };
}

export class Provisioning {
  constructor(private readonly s: Services) {}

  /** A customer ready to accept devices, in one call; a retry with the same externalRef returns it again and makes nothing. */
  async provision(input: ProvisionRequest): Promise<Provisioned> {
    const group = input.starter?.group;
    const result = await this.s.client.provisionTenant({ name: input.name, slug: input.slug, externalRef: input.externalRef, owner: input.owner, plan: input.plan, branding: input.branding, starterGroup: group });
    if (!result.created) return result;
    const ctx = systemContext(result.tenant.id);
    await this.s.tracker.updateSettings(ctx, { retentionDays: result.tenant.plan.quotas.retentionDays });
    const centre = input.starter?.fencesAround;
    if (centre !== undefined) {
      if (!Array.isArray(centre) || centre.length !== 2) throw invalid('starter.fencesAround', 'must be [longitude, latitude]');
      await this.s.geofence.createFence(ctx, { name: 'Main site', geometry: { type: 'Point', coordinates: centre }, radius: 150 });
      await this.s.geofence.createFence(ctx, { name: 'Surroundings', geometry: { type: 'Point', coordinates: centre }, radius: 1000 });
    }
    if (input.starter?.templates) {
      for (const t of STARTER_TEMPLATES) await this.s.notification.createTemplate(ctx, t);
    }
    return result;
  }

  async exportTenant(id: string): Promise<TenantExport> {
    const tenant = await this.s.client.getTenant(id);
    return {
      format: EXPORT_FORMAT,
      exportedAt: Date.now(),
      tenant: { id: tenant.id, slug: tenant.slug, name: tenant.name },
      services: {
        client: await this.s.client.exportTenant(id),
        tracker: await this.s.tracker.exportTenant(id),
        geofence: await this.s.geofence.exportTenant(id),
        notification: await this.s.notification.exportTenant(id),
      },
    };
  }

  /** Exports the tenant, then deletes every row of it in every service; returns the export, the caller's to keep. */
  async deleteTenant(id: string): Promise<TenantExport> {
    const data = await this.exportTenant(id);
    await this.s.client.setTenantStatus(id, 'suspended'); // its devices and users are refused from here on
    await this.s.notification.purgeTenant(id);
    await this.s.geofence.purgeTenant(id);
    await this.s.tracker.purgeTenant(id);
    await this.s.client.purgeTenant(id);
    return data;
  }

  /** Recreates a tenant from an export; refused, changing nothing, when it exists here already. */
  async importTenant(doc: unknown): Promise<Tenant> {
    if (!doc || typeof doc !== 'object' || (doc as TenantExport).format !== EXPORT_FORMAT) throw invalid('format', `must be "${EXPORT_FORMAT}"`);
    const data = doc as TenantExport;
    for (const service of ['client', 'tracker', 'geofence', 'notification'] as const) {
      if (!data.services?.[service] || typeof data.services[service] !== 'object') throw invalid(`services.${service}`, 'must hold the rows of that service');
    }
    const tenant = await this.s.client.importTenant(data.services.client);
    try {
      await this.s.tracker.importTenant(tenant.id, data.services.tracker);
      await this.s.geofence.importTenant(tenant.id, data.services.geofence);
      await this.s.notification.importTenant(tenant.id, data.services.notification);
    } catch (err) {
      // Never half-imported: take back what went in, then report.
      await this.s.notification.purgeTenant(tenant.id);
      await this.s.geofence.purgeTenant(tenant.id);
      await this.s.tracker.purgeTenant(tenant.id);
      await this.s.client.purgeTenant(tenant.id);
      throw err instanceof AppError ? err : new AppError('validation_failed', `the export could not be imported: ${(err as Error).message}`);
    }
    return tenant;
  }

  /**
   * Bulk provisioning: rows of tenants, users, devices and groups (from JSON or CSV), in order. Each
   * row is reported: created, exists (so a file can be run again), would-create (dry run) or refused
   * with the reason. Rows that name a tenant may name one created by an earlier row.
   */
  async bulk(rows: Record<string, unknown>[], dryRun: boolean): Promise<BulkResult[]> {
    const report: BulkResult[] = [];
    const planned = new Set<string>(); // tenants a dry run would create, by slug and externalRef
    for (const [i, raw] of rows.entries()) {
      const row = i + 1;
      const kind = String(raw.kind ?? '');
      const key = String(raw.externalRef ?? raw.slug ?? raw.email ?? raw.name ?? '');
      try {
        report.push({ row, kind, key, ...(await this.bulkRow(kind, raw, dryRun, planned)) });
      } catch (err) {
        const e = err instanceof AppError ? err : new AppError('validation_failed', (err as Error).message);
        report.push({ row, kind, key, status: 'refused', error: { code: e.code, field: e.errors[0]?.field, reason: e.message } });
      }
    }
    return report;
  }

  private async bulkRow(kind: string, r: Record<string, unknown>, dryRun: boolean, planned: Set<string>): Promise<Omit<BulkResult, 'row' | 'kind' | 'key'>> {
    const text = (field: string): string | undefined => (r[field] === undefined || r[field] === '' ? undefined : String(r[field]));
    const need = (field: string): string => {
      const value = text(field);
      if (value === undefined) throw invalid(field, 'is required');
      return value;
    };
    const client = this.s.client;
    const tenantOf = async (): Promise<Tenant | undefined> => {
      const ref = need('tenant');
      const tenant = (await client.findTenantBySlug(ref)) ?? (await client.findTenantByExternalRef(ref));
      if (!tenant && !(dryRun && planned.has(ref))) throw invalid('tenant', `no tenant with the slug or externalRef "${ref}" (here or in an earlier row)`);
      return tenant;
    };
    switch (kind) {
      case 'tenant': {
        const ref = text('externalRef');
        const existing = ref ? await client.findTenantByExternalRef(ref) : undefined;
        if (existing) return { status: 'exists', id: existing.id };
        const quotas: Record<string, number> = {};
        for (const q of ['devices', 'users', 'messagesPerDay', 'retentionDays']) if (text(q) !== undefined) quotas[q] = Number(text(q));
        const request: ProvisionRequest = {
          name: need('name'),
          slug: text('slug'),
          externalRef: ref,
          owner: { email: need('ownerEmail'), name: text('ownerName') ?? need('ownerEmail'), password: text('ownerPassword') },
          plan: { name: text('plan') ?? 'standard', quotas },
          starter: text('starterGroup') ? { group: text('starterGroup') } : undefined,
        };
        if (dryRun) {
          const slug = request.slug ?? request.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
          if (await client.findTenantBySlug(slug)) throw new AppError('conflict', `a tenant with the slug "${slug}" exists already`, [{ field: 'slug', reason: 'already taken' }]);
          planned.add(slug);
          if (ref) planned.add(ref);
          return { status: 'would-create' };
        }
        const made = await this.provision(request);
        return { status: made.created ? 'created' : 'exists', id: made.tenant.id, ...(made.invitation ? { token: made.invitation.token } : {}) };
      }
      case 'user': {
        const tenant = await tenantOf();
        const email = need('email').toLowerCase();
        if (tenant) {
          const existing = (await client.listUsers(systemContext(tenant.id))).find((u) => u.email === email);
          if (existing) return { status: 'exists', id: existing.id };
        }
        if (dryRun) return { status: 'would-create' };
        const user = await client.createUser(systemContext(tenant!.id), { email, name: text('name') ?? email, role: text('role') ?? 'member', password: text('password') });
        return { status: 'created', id: user.id };
      }
      case 'device': {
        const tenant = await tenantOf();
        const name = need('name');
        const ctx = tenant && systemContext(tenant.id);
        if (ctx) {
          const existing = (await client.listDevices(ctx)).find((d) => (text('uniqueId') ? d.uniqueId === text('uniqueId') : d.name === name));
          if (existing) return { status: 'exists', id: existing.id };
        }
        const userEmail = text('userEmail')?.toLowerCase();
        const userId = userEmail && ctx ? (await client.listUsers(ctx)).find((u) => u.email === userEmail)?.id : undefined;
        if (userEmail && ctx && !userId && !dryRun) throw invalid('userEmail', `no user ${userEmail} in tenant ${tenant!.slug}`);
        if (dryRun) return { status: 'would-create' };
        const made = await client.createDevice(ctx!, { name, userId, uniqueId: text('uniqueId') });
        return { status: 'created', id: made.device.id, token: made.token };
      }
      case 'group': {
        const tenant = await tenantOf();
        const name = need('name');
        const ctx = tenant && systemContext(tenant.id);
        if (ctx) {
          const existing = (await client.listGroups(ctx)).find((g) => g.name === name);
          if (existing) return { status: 'exists', id: existing.id };
        }
        const emails = (text('userEmails') ?? '').split(';').map((e) => e.trim().toLowerCase()).filter(Boolean);
        if (dryRun) return { status: 'would-create' };
        const users = await client.listUsers(ctx!);
        const userIds = emails.map((e) => {
          const found = users.find((u) => u.email === e);
          if (!found) throw invalid('userEmails', `no user ${e} in tenant ${tenant!.slug}`);
          return found.id;
        });
        const group = await client.createGroup(ctx!, { name, userIds });
        return { status: 'created', id: group.id };
      }
      default:
        throw invalid('kind', `must be tenant, user, device or group, got ${JSON.stringify(kind)}`);
    }
  }
}
