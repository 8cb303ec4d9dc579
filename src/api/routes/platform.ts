/** The platform owner's console: provisioning, plans and usage, white-label, export/delete/import, the audit log. */
import { Type } from 'typebox';
import { AppError } from '../../core/errors.js';
import type { HttpServer } from '../../http/server.js';
import { parseCsv } from '../../provisioning/index.js';
import { defaultBranding } from '../../services/client/index.js';
import '../../http/hosts.js';
import { contextOf, requireAdmin } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Problem, Tenant, TenantParams, User } from '../schemas.js';

const Quotas = Type.Object({ devices: Type.Integer(), users: Type.Integer(), messagesPerDay: Type.Integer(), retentionDays: Type.Integer() }, { description: '0 means no limit (except retentionDays)' });
const Plan = Type.Object({ name: Type.String(), quotas: Quotas });
const Branding = Type.Object({
  productName: Type.String(),
  logoUrl: Type.Union([Type.String(), Type.Null()]),
  primaryColor: Type.String(),
  accentColor: Type.String(),
  emailFrom: Type.Union([Type.String(), Type.Null()]),
  appName: Type.String(),
  appIconUrl: Type.Union([Type.String(), Type.Null()]),
});
const TenantWithPlan = Type.Object({ ...Tenant.properties, externalRef: Type.Union([Type.String(), Type.Null()]), plan: Plan });
const Usage = Type.Object({ tenantId: Type.String(), slug: Type.String(), status: Type.String(), plan: Plan, devices: Type.Number(), users: Type.Number(), groups: Type.Number() });
const AuditEntry = Type.Object({ id: Type.String(), tenantId: Type.Union([Type.String(), Type.Null()]), at: Type.Number(), actor: Type.Any(), action: Type.String(), target: Type.Union([Type.String(), Type.Null()]), detail: Type.Any(), ip: Type.Union([Type.String(), Type.Null()]) });

export function platformRoutes(app: HttpServer, { client, provisioning }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];
  const tags = ['platform'];

  app.post('/provisioning/tenants', {
    schema: {
      tags, summary: 'Provision a customer: tenant, first owner (password or invitation), plan and quotas, branding, starter content. Idempotent by externalRef (200 with the existing tenant).', security,
      body: Type.Object({
        name: Type.String(),
        slug: Type.Optional(Type.String()),
        externalRef: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        owner: Type.Object({ email: Type.String(), name: Type.String(), password: Type.Optional(Type.String()) }),
        plan: Type.Optional(Type.Object({ name: Type.Optional(Type.String()), quotas: Type.Optional(Type.Partial(Quotas)) })),
        branding: Type.Optional(Type.Partial(Branding)),
        starter: Type.Optional(Type.Object({ group: Type.Optional(Type.String()), fencesAround: Type.Optional(Type.Tuple([Type.Number(), Type.Number()])), templates: Type.Optional(Type.Boolean()) })),
      }),
      response: {
        200: Type.Object({ tenant: TenantWithPlan, owner: User, invitation: Type.Null(), created: Type.Boolean() }),
        201: Type.Object({ tenant: TenantWithPlan, owner: User, invitation: Type.Union([Type.Object({ token: Type.String(), expiresAt: Type.Number(), url: Type.String() }), Type.Null()]), created: Type.Boolean() }),
        400: Problem,
        409: Problem,
      },
    },
  }, async (request, reply) => {
    await requireAdmin(request, auth);
    const result = await provisioning.provision(request.body);
    const invitation = result.invitation && { ...result.invitation, url: `/invite/${result.invitation.token}` };
    return reply.status(result.created ? 201 : 200).send({ ...result, invitation });
  });

  app.register(async (bulk) => {
    bulk.addContentTypeParser('text/csv', { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, { rows: parseCsv(body as string) });
      } catch (err) {
        done(new AppError('validation_failed', `the CSV is not valid: ${(err as Error).message}`), undefined);
      }
    });
    (bulk as unknown as HttpServer).post('/provisioning/bulk', {
      schema: {
        tags, summary: 'Provision tenants, users, devices and groups from rows (JSON {rows} or text/csv with a header row); dryRun reports what would change', security,
        querystring: Type.Object({ dryRun: Type.Optional(Type.Boolean({ default: false })) }),
        body: Type.Object({ rows: Type.Array(Type.Record(Type.String(), Type.Any()), { maxItems: 10_000 }) }),
      },
    }, async (request) => {
      await requireAdmin(request, auth);
      const results = await provisioning.bulk(request.body.rows, request.query.dryRun ?? false);
      const summary: Record<string, number> = {};
      for (const r of results) summary[r.status] = (summary[r.status] ?? 0) + 1;
      return { dryRun: request.query.dryRun ?? false, summary, results };
    });
  });

  app.post('/invitations/:token/accept', {
    schema: { tags, summary: 'Set the password of an invited user (the link from provisioning), once, within 7 days', params: Type.Object({ token: Type.String() }), body: Type.Object({ password: Type.String({ minLength: 8 }) }), response: { 200: Type.Object({ user: User, tenant: TenantWithPlan }), 404: Problem } },
  }, async (request) => client.acceptInvitation(request.params.token, request.body.password));

  app.get('/provisioning/usage', { schema: { tags, summary: "Every tenant's usage against its plan", security, response: { 200: Type.Array(Usage) } } }, async (request) => {
    await requireAdmin(request, auth);
    const out = [];
    for (const t of await client.listTenants()) out.push({ tenantId: t.id, slug: t.slug, status: t.status, ...(await client.usage(t.id)) });
    return out;
  });

  app.get('/tenants/:tenantId/usage', { schema: { tags, summary: "The tenant's usage against its plan", security, params: TenantParams, response: { 200: Usage } } }, async (request) => {
    await contextOf(request, auth, request.params.tenantId, 'admin');
    const t = await client.getTenant(request.params.tenantId);
    return { tenantId: t.id, slug: t.slug, status: t.status, ...(await client.usage(t.id)) };
  });

  app.patch('/tenants/:tenantId/plan', {
    schema: { tags, summary: "Change a tenant's plan and quotas (platform admin)", security, params: TenantParams, body: Type.Object({ name: Type.Optional(Type.String()), quotas: Type.Optional(Type.Partial(Quotas)) }), response: { 200: TenantWithPlan, 400: Problem } },
  }, async (request) => {
    await requireAdmin(request, auth);
    return client.setPlan(request.params.tenantId, request.body);
  });

  app.get('/tenants/:tenantId/branding', { schema: { tags, summary: "The tenant's white-label settings", security, params: TenantParams, response: { 200: Branding } } }, async (request) => {
    await contextOf(request, auth, request.params.tenantId, 'member');
    return client.getBranding(request.params.tenantId);
  });
  app.patch('/tenants/:tenantId/branding', {
    schema: { tags, summary: 'Change white-label settings: product name, logo, colours, e-mail sender, member app name and icon', security, params: TenantParams, body: Type.Partial(Branding), response: { 200: Branding, 400: Problem } },
  }, async (request) => client.setBranding((await contextOf(request, auth, request.params.tenantId, 'admin')).tenantId, request.body));

  app.get('/tenants/:tenantId/domains', { schema: { tags, summary: "The tenant's custom domains", security, params: TenantParams, response: { 200: Type.Array(Type.String()) } } }, async (request) => {
    await contextOf(request, auth, request.params.tenantId, 'admin');
    return client.listDomains(request.params.tenantId);
  });
  app.post('/tenants/:tenantId/domains', {
    schema: { tags, summary: 'Map a custom domain to the tenant (platform admin): its Control Center, member app and device endpoints answer there', security, params: TenantParams, body: Type.Object({ host: Type.String() }), response: { 201: Type.Array(Type.String()), 400: Problem, 409: Problem } },
  }, async (request, reply) => {
    await requireAdmin(request, auth);
    return reply.status(201).send(await client.addDomain(request.params.tenantId, request.body.host));
  });
  app.delete('/tenants/:tenantId/domains/:host', {
    schema: { tags, summary: 'Remove a custom domain (platform admin)', security, params: Type.Object({ tenantId: Type.String(), host: Type.String() }), response: { 200: Type.Array(Type.String()) } },
  }, async (request) => {
    await requireAdmin(request, auth);
    return client.removeDomain(request.params.tenantId, request.params.host);
  });

  app.get('/tenants/:tenantId/export', { schema: { tags, summary: "A tenant's complete data (docs/provisioning.md: format followme-tenant-export/1)", security, params: TenantParams } }, async (request, reply) => {
    await requireAdmin(request, auth);
    const data = await provisioning.exportTenant(request.params.tenantId);
    return reply.header('content-disposition', `attachment; filename="${data.tenant.slug}.followme.json"`).send(data);
  });
  app.delete('/tenants/:tenantId', {
    schema: { tags, summary: 'Delete a tenant: export first (the answer is the export), then purge every row of it in every service', security, params: TenantParams },
  }, async (request) => {
    await requireAdmin(request, auth);
    return provisioning.deleteTenant(request.params.tenantId);
  });
  app.post('/tenants/import', {
    schema: { tags, summary: "Recreate a tenant from an export (another deployment's); refused when it exists here", security, body: Type.Object({ format: Type.String() }, { additionalProperties: true }), response: { 201: TenantWithPlan, 400: Problem, 409: Problem } },
  }, async (request, reply) => {
    await requireAdmin(request, auth);
    return reply.status(201).send(await provisioning.importTenant(request.body));
  });

  app.get('/branding', {
    schema: { tags, summary: "White-label settings for the host this request came to: a tenant's own on its custom domain, the platform's otherwise (no token needed)", response: { 200: Type.Object({ tenant: Type.Union([Type.Object({ slug: Type.String(), name: Type.String() }), Type.Null()]), branding: Branding }) } },
  }, async (request) => {
    const tenant = request.hostTenant;
    return { tenant: tenant ? { slug: tenant.slug, name: tenant.name } : null, branding: tenant ? await client.getBranding(tenant.id) : defaultBranding };
  });

  const AuditQuery = Type.Object({ before: Type.Optional(Type.Number()), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) });
  app.get('/audit', {
    schema: { tags, summary: 'The audit log of the whole platform, newest first (platform admin)', security, querystring: Type.Object({ ...AuditQuery.properties, tenantId: Type.Optional(Type.String()) }), response: { 200: Type.Array(AuditEntry) } },
  }, async (request) => {
    await requireAdmin(request, auth);
    return client.auditLog(request.query);
  });
  app.get('/tenants/:tenantId/audit', {
    schema: { tags, summary: "The tenant's audit log, newest first (tenant admins)", security, params: TenantParams, querystring: AuditQuery, response: { 200: Type.Array(AuditEntry) } },
  }, async (request) => client.auditLog({ ...request.query, tenantId: (await contextOf(request, auth, request.params.tenantId, 'admin')).tenantId }));
}
