/** Platform admin: tenants. Anyone: log in, and who am I. */
import { Type } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { invalid } from '../../core/errors.js';
import { principalOf, requireAdmin, contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Tenant, TenantParams, User, Problem } from '../schemas.js';

export function tenantRoutes(app: HttpServer, { client }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);

  app.post('/auth/login', {
    schema: {
      tags: ['auth'],
      summary: "Log in with e-mail and password; returns a bearer token for the API. On a tenant's custom domain the tenant may be left out",
      body: Type.Object({ tenant: Type.Optional(Type.String({ description: 'tenant slug or id' })), email: Type.String(), password: Type.String() }),
      response: { 200: Type.Object({ token: Type.String(), user: User, tenant: Tenant }), 400: Problem, 401: Problem },
    },
  }, async (request) => {
    const tenant = request.body.tenant ?? request.hostTenant?.slug;
    if (!tenant) throw invalid('tenant', 'is required (the slug of your organisation), except on its own domain');
    return client.login({ ...request.body, tenant });
  });

  app.get('/me', { schema: { tags: ['auth'], summary: 'The principal of the token', security: [{ bearer: [] }] } }, async (request) => principalOf(request, auth));

  app.post('/tenants', {
    schema: {
      tags: ['tenants'],
      summary: 'Create a tenant (platform admin)',
      security: [{ bearer: [] }],
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }), slug: Type.Optional(Type.String()) }),
      response: { 201: Tenant, 400: Problem, 409: Problem },
    },
  }, async (request, reply) => {
    await requireAdmin(request, auth);
    return reply.status(201).send(await client.createTenant(request.body));
  });

  app.get('/tenants', { schema: { tags: ['tenants'], summary: 'List tenants (platform admin)', security: [{ bearer: [] }], response: { 200: Type.Array(Tenant) } } }, async (request) => {
    await requireAdmin(request, auth);
    return client.listTenants();
  });

  app.get('/tenants/:tenantId', { schema: { tags: ['tenants'], summary: 'One tenant', security: [{ bearer: [] }], params: TenantParams, response: { 200: Tenant } } }, async (request) => {
    await contextOf(request, auth, request.params.tenantId, 'member');
    return client.getTenant(request.params.tenantId);
  });

  app.patch('/tenants/:tenantId', {
    schema: {
      tags: ['tenants'], summary: "Change the tenant's name or time zone (admin)", security: [{ bearer: [] }], params: TenantParams,
      body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), timeZone: Type.Optional(Type.Union([Type.Null(), Type.String({ maxLength: 64, description: 'IANA time zone, e.g. Europe/Berlin; null unsets it' })])) }, { additionalProperties: false }),
      response: { 200: Tenant, 400: Problem },
    },
  }, async (request) => client.updateTenant(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body));

  for (const [action, status] of [['suspend', 'suspended'], ['resume', 'active']] as const) {
    app.post(`/tenants/:tenantId/${action}`, {
      schema: { tags: ['tenants'], summary: `${action === 'suspend' ? 'Suspend' : 'Resume'} a tenant (platform admin)`, security: [{ bearer: [] }], params: TenantParams, response: { 200: Tenant } },
    }, async (request) => {
      await requireAdmin(request, auth);
      return client.setTenantStatus(request.params.tenantId, status);
    });
  }
}
