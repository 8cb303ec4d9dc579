/**
 * Fences, proximity rules and their events: CRUD, GeoJSON import/export, and the queries (who is
 * inside now, which fences contain a point, which devices are near a point, who was inside when).
 */
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { positionView } from '../visibility.js';
import { FeatureCollection, Fence, FenceBody, FenceEvent, Problem, ProximityBody, ProximityRule, TenantItemParams, TenantParams } from '../schemas.js';

export function fenceRoutes(app: HttpServer, deps: ApiDeps): void {
  const { client, geofence } = deps;
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];
  const operator = (request: FastifyRequest, tenantId: string) => contextOf(request, auth, tenantId, 'operator');
  const Point = { lon: Type.Number({ minimum: -180, maximum: 180 }), lat: Type.Number({ minimum: -90, maximum: 90 }) };

  app.post('/tenants/:tenantId/fences', {
    schema: { tags: ['fences'], summary: 'Create a fence from GeoJSON', security, params: TenantParams, body: FenceBody, response: { 201: Fence, 400: Problem } },
  }, async (request, reply) => reply.status(201).send(await geofence.createFence(await operator(request, request.params.tenantId), request.body)));

  app.get('/tenants/:tenantId/fences', {
    schema: { tags: ['fences'], summary: 'List fences', security, params: TenantParams, querystring: Type.Object({ tag: Type.Optional(Type.String({ description: 'only fences with this tag' })) }), response: { 200: Type.Array(Fence) } },
  }, async (request) => geofence.listFences(await operator(request, request.params.tenantId), request.query));

  app.post('/tenants/:tenantId/fences/import', {
    schema: {
      tags: ['fences'], summary: 'Import a GeoJSON FeatureCollection of fences, all or nothing', security, params: TenantParams, body: FeatureCollection,
      response: { 201: Type.Object({ imported: Type.Integer(), fences: Type.Array(Fence) }), 400: Problem },
    },
  }, async (request, reply) => {
    const fences = await geofence.importFences(await operator(request, request.params.tenantId), request.body);
    return reply.status(201).send({ imported: fences.length, fences });
  });

  app.get('/tenants/:tenantId/fences/export', {
    schema: { tags: ['fences'], summary: "The tenant's fences as a GeoJSON FeatureCollection", security, params: TenantParams, response: { 200: Type.Any() } },
  }, async (request, reply) => reply.type('application/geo+json').send(await geofence.exportFences(await operator(request, request.params.tenantId))));

  app.get('/tenants/:tenantId/fences/containing', {
    schema: { tags: ['fences'], summary: 'The enabled fences that contain a point', security, params: TenantParams, querystring: Type.Object(Point), response: { 200: Type.Array(Fence), 400: Problem } },
  }, async (request) => geofence.containing(await operator(request, request.params.tenantId), request.query.lon, request.query.lat));

  app.get('/tenants/:tenantId/fences/:id', { schema: { tags: ['fences'], summary: 'One fence', security, params: TenantItemParams, response: { 200: Fence } } },
    async (request) => geofence.getFence(await operator(request, request.params.tenantId), request.params.id));

  app.patch('/tenants/:tenantId/fences/:id', {
    schema: { tags: ['fences'], summary: 'Change a fence', security, params: TenantItemParams, body: Type.Partial(FenceBody), response: { 200: Fence, 400: Problem } },
  }, async (request) => geofence.updateFence(await operator(request, request.params.tenantId), request.params.id, request.body));

  app.delete('/tenants/:tenantId/fences/:id', { schema: { tags: ['fences'], summary: 'Delete a fence', security, params: TenantItemParams } }, async (request, reply) => {
    await geofence.deleteFence(await operator(request, request.params.tenantId), request.params.id);
    return reply.status(204).send();
  });

  app.get('/tenants/:tenantId/fences/:id/devices', {
    schema: {
      tags: ['fences'], summary: 'The devices inside the fence now', security, params: TenantItemParams,
      response: { 200: Type.Object({ deviceIds: Type.Array(Type.String()), presence: Type.Array(Type.Object({ deviceId: Type.String(), since: Type.Number(), dwelled: Type.Boolean() })) }) },
    },
  }, async (request) => {
    const ctx = await operator(request, request.params.tenantId);
    const view = await positionView(deps, ctx);
    const now = Date.now();
    const presence = (await geofence.presenceIn(ctx, request.params.id)).filter((p) => view.allows(p.deviceId, now));
    return { deviceIds: presence.map((p) => p.deviceId), presence };
  });

  app.get('/tenants/:tenantId/fences/:id/stays', {
    schema: {
      tags: ['fences'], summary: 'Who was inside the fence at some moment between from and to (stays overlapping the range)', security, params: TenantItemParams,
      querystring: Type.Object({ from: Type.Number({ description: 'epoch ms' }), to: Type.Number({ description: 'epoch ms' }) }),
      response: { 200: Type.Array(Type.Object({ deviceId: Type.String(), enteredAt: Type.Number(), exitedAt: Type.Union([Type.Number(), Type.Null()]) })), 400: Problem },
    },
  }, async (request) => {
    const ctx = await operator(request, request.params.tenantId);
    const view = await positionView(deps, ctx);
    return (await geofence.staysIn(ctx, request.params.id, request.query.from, request.query.to)).filter((s) => view.allows(s.deviceId, s.enteredAt));
  });

  app.get('/tenants/:tenantId/devices/nearby', {
    schema: {
      tags: ['fences'], summary: 'Devices whose last position is within radius metres of a point, nearest first', security, params: TenantParams,
      querystring: Type.Object({ ...Point, radius: Type.Number({ exclusiveMinimum: 0, maximum: 1_000_000, description: 'metres' }), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })) }),
      response: {
        200: Type.Array(Type.Object({ deviceId: Type.String(), distance: Type.Number(), time: Type.Number(), lon: Type.Number(), lat: Type.Number(), accuracy: Type.Union([Type.Number(), Type.Null()]) })),
        400: Problem,
      },
    },
  }, async (request) => {
    const ctx = await operator(request, request.params.tenantId);
    return (await positionView(deps, ctx)).filter(await geofence.devicesNear(ctx, request.query.lon, request.query.lat, request.query.radius, request.query.limit));
  });

  app.post('/tenants/:tenantId/proximity-rules', {
    schema: { tags: ['fences'], summary: 'Watch a device coming within a distance of another device or of a group', security, params: TenantParams, body: ProximityBody, response: { 201: ProximityRule, 400: Problem } },
  }, async (request, reply) => reply.status(201).send(await geofence.createProximityRule(await operator(request, request.params.tenantId), request.body)));
  app.get('/tenants/:tenantId/proximity-rules', { schema: { tags: ['fences'], summary: 'List proximity rules', security, params: TenantParams, response: { 200: Type.Array(ProximityRule) } } },
    async (request) => geofence.listProximityRules(await operator(request, request.params.tenantId)));
  app.delete('/tenants/:tenantId/proximity-rules/:id', { schema: { tags: ['fences'], summary: 'Delete a proximity rule', security, params: TenantItemParams } }, async (request, reply) => {
    await geofence.deleteProximityRule(await operator(request, request.params.tenantId), request.params.id);
    return reply.status(204).send();
  });

  app.get('/tenants/:tenantId/events', {
    schema: {
      tags: ['fences'], summary: 'Fence and proximity events, newest first', security, params: TenantParams,
      querystring: Type.Object({
        fenceId: Type.Optional(Type.String({ description: 'a fence or proximity rule' })),
        deviceId: Type.Optional(Type.String()),
        type: Type.Optional(Type.String({ enum: ['enter', 'exit', 'dwell', 'within', 'apart', 'reported_enter', 'reported_exit'] })),
        from: Type.Optional(Type.Number()),
        to: Type.Optional(Type.Number()),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 100 })),
      }),
      response: { 200: Type.Array(FenceEvent) },
    },
  }, async (request) => {
    const ctx = await operator(request, request.params.tenantId);
    return (await positionView(deps, ctx)).filter(await geofence.listEvents(ctx, request.query as Parameters<typeof geofence.listEvents>[1]));
  });
}
