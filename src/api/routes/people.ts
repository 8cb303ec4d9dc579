/** Users, devices and groups of a tenant. */
import { Type } from 'typebox';
import { AppError } from '../../core/errors.js';
import type { HttpServer } from '../../http/server.js';
import { parseCsv } from '../../provisioning/index.js';
import { MAX_BULK_DEVICES } from '../../services/client/index.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Device, DeviceCreate, DeviceUpdate, DeviceWithToken, Group, Problem, TenantItemParams, TenantParams, User } from '../schemas.js';

const Ids = Type.Array(Type.String(), { maxItems: 10_000 });

export function peopleRoutes(app: HttpServer, { client }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];

  // users
  app.post('/tenants/:tenantId/users', {
    schema: {
      tags: ['users'], summary: 'Create a user', security, params: TenantParams,
      body: Type.Object({ email: Type.String(), name: Type.String(), role: Type.String({ enum: ['owner', 'admin', 'operator', 'member'] }), password: Type.Optional(Type.String({ minLength: 8 })) }),
      response: { 201: User, 400: Problem, 409: Problem },
    },
  }, async (request, reply) => reply.status(201).send(await client.createUser(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body)));
  app.get('/tenants/:tenantId/users', { schema: { tags: ['users'], summary: 'List users', security, params: TenantParams, response: { 200: Type.Array(User) } } },
    async (request) => client.listUsers(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.get('/tenants/:tenantId/users/:id', { schema: { tags: ['users'], summary: 'One user', security, params: TenantItemParams, response: { 200: User } } },
    async (request) => client.getUser(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id));
  app.delete('/tenants/:tenantId/users/:id', { schema: { tags: ['users'], summary: 'Delete a user', security, params: TenantItemParams } }, async (request, reply) => {
    await client.deleteUser(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id);
    return reply.status(204).send();
  });

  // devices
  app.post('/tenants/:tenantId/devices', {
    schema: {
      tags: ['devices'], summary: 'Create a device; the answer carries its token, shown this once', security, params: TenantParams,
      body: DeviceCreate,
      response: { 201: DeviceWithToken, 400: Problem, 409: Problem },
    },
  }, async (request, reply) => reply.status(201).send(await client.createDevice(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body)));
  app.register(async (bulk) => {
    // a CSV body: a header row naming the fields (name, userId, uniqueId, owntracksKey), one device per row
    bulk.addContentTypeParser('text/csv', { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, parseCsv(body as string));
      } catch (err) {
        done(new AppError('validation_failed', `the CSV is not valid: ${(err as Error).message}`), undefined);
      }
    });
    (bulk as unknown as HttpServer).post('/tenants/:tenantId/devices/bulk', {
      schema: {
        tags: ['devices'], security, params: TenantParams,
        summary: `Create up to ${MAX_BULK_DEVICES} devices at once (JSON array, or text/csv with a header row), all or none, within the plan's quota; the answer carries their tokens, shown this once`,
        body: Type.Array(DeviceCreate, { minItems: 1, maxItems: MAX_BULK_DEVICES }),
        response: { 201: Type.Array(DeviceWithToken), 400: Problem, 409: Problem },
      },
    }, async (request, reply) => reply.status(201).send(await client.createDevices(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body)));
  });
  app.get('/tenants/:tenantId/devices', { schema: { tags: ['devices'], summary: 'List devices', security, params: TenantParams, response: { 200: Type.Array(Device) } } },
    async (request) => client.listDevices(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.get('/tenants/:tenantId/devices/:id', { schema: { tags: ['devices'], summary: 'One device', security, params: TenantItemParams, response: { 200: Device } } },
    async (request) => client.getDevice(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id));
  app.patch('/tenants/:tenantId/devices/:id', {
    schema: { tags: ['devices'], summary: 'Change a device: name, user, unique id (OsmAnd/OwnTracks), OwnTracks encryption key, disabled; null clears', security, params: TenantItemParams, body: DeviceUpdate, response: { 200: Device, 400: Problem, 409: Problem } },
  }, async (request) => client.updateDevice(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id, request.body));
  app.post('/tenants/:tenantId/devices/:id/token', { schema: { tags: ['devices'], summary: 'Replace the device token (the old one stops working)', security, params: TenantItemParams, response: { 200: DeviceWithToken } } },
    async (request) => client.rotateDeviceToken(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id));
  app.delete('/tenants/:tenantId/devices/:id', { schema: { tags: ['devices'], summary: 'Delete a device', security, params: TenantItemParams } }, async (request, reply) => {
    await client.deleteDevice(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id);
    return reply.status(204).send();
  });

  // groups
  app.post('/tenants/:tenantId/groups', {
    schema: {
      tags: ['groups'], summary: 'Create a group or team', security, params: TenantParams,
      body: Type.Object({ name: Type.String(), parentId: Type.Optional(Type.String()), userIds: Type.Optional(Ids), deviceIds: Type.Optional(Ids) }),
      response: { 201: Group, 400: Problem },
    },
  }, async (request, reply) => reply.status(201).send(await client.createGroup(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body)));
  app.get('/tenants/:tenantId/groups', { schema: { tags: ['groups'], summary: 'List groups', security, params: TenantParams, response: { 200: Type.Array(Group) } } },
    async (request) => client.listGroups(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.get('/tenants/:tenantId/groups/:id', { schema: { tags: ['groups'], summary: 'One group', security, params: TenantItemParams, response: { 200: Group } } },
    async (request) => client.getGroup(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id));
  app.post('/tenants/:tenantId/groups/:id/members', {
    schema: { tags: ['groups'], summary: 'Add members', security, params: TenantItemParams, body: Type.Object({ userIds: Type.Optional(Ids), deviceIds: Type.Optional(Ids) }), response: { 200: Group } },
  }, async (request) => client.addGroupMembers(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id, request.body));
  app.delete('/tenants/:tenantId/groups/:id/members/:memberId', {
    schema: { tags: ['groups'], summary: 'Remove a member', security, params: Type.Object({ tenantId: Type.String(), id: Type.String(), memberId: Type.String() }), response: { 200: Group } },
  }, async (request) => client.removeGroupMember(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id, request.params.memberId));
  app.delete('/tenants/:tenantId/groups/:id', { schema: { tags: ['groups'], summary: 'Delete a group', security, params: TenantItemParams } }, async (request, reply) => {
    await client.deleteGroup(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id);
    return reply.status(204).send();
  });
}
