/** Positions of a tenant: last known and history. Fences live in fences.ts. */
import { Type } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import { EXPORT_FORMATS, exportTrack, simplify, tripsAndStops, type ExportFormat } from '../../services/tracker/index.js';
import type { ApiDeps } from '../deps.js';
import { positionView, visibleHistory } from '../visibility.js';
import { DeviceStatus, Position, Problem, TenantItemParams, TenantParams, TrackingSettings, VisibilityPolicy, WorkingHours } from '../schemas.js';
import { describeVisibility } from '../../services/tracker/index.js';

export function trackingRoutes(app: HttpServer, deps: ApiDeps): void {
  const { client, tracker } = deps;
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];

  app.get('/tenants/:tenantId/positions', {
    schema: { tags: ['positions'], summary: 'Last known position of every device', security, params: TenantParams, response: { 200: Type.Array(Position) } },
  }, async (request) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'operator');
    return (await positionView(deps, ctx)).filter(await tracker.lastKnownPositions(ctx));
  });

  app.get('/tenants/:tenantId/devices/:id/positions', {
    schema: {
      tags: ['positions'], summary: "A device's positions in a time range, oldest first; page with `after`", security, params: TenantItemParams,
      querystring: Type.Object({
        from: Type.Optional(Type.Number({ description: 'epoch ms, inclusive' })),
        to: Type.Optional(Type.Number({ description: 'epoch ms, inclusive' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
        after: Type.Optional(Type.Number({ description: 'the time of the last position of the previous page' })),
        simplify: Type.Optional(Type.Number({ minimum: 0, maximum: 10_000, description: 'metres: drop positions the track can do without and stay within this distance (Douglas–Peucker), for drawing on a map' })),
      }),
      response: { 200: Type.Array(Position), 400: Problem },
    },
  }, async (request) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'operator');
    await client.getDevice(ctx, request.params.id);
    const page = await visibleHistory(tracker, ctx, request.params.id, request.query, await positionView(deps, ctx));
    return request.query.simplify ? simplify(page, request.query.simplify) : page;
  });

  const Range = Type.Object({ from: Type.Optional(Type.Number({ description: 'epoch ms' })), to: Type.Optional(Type.Number({ description: 'epoch ms' })) });
  const Place = Type.Object({ lon: Type.Number(), lat: Type.Number() });
  app.get('/tenants/:tenantId/devices/:id/trips', {
    schema: {
      tags: ['positions'], summary: "A device's trips and stops in a time range (stop detection from the tracking settings)", security, params: TenantItemParams, querystring: Range,
      response: {
        200: Type.Object({
          trips: Type.Array(Type.Object({ start: Type.Number(), end: Type.Number(), from: Place, to: Place, distanceMetres: Type.Number(), durationSeconds: Type.Number(), averageSpeed: Type.Number(), maxSpeed: Type.Number(), positions: Type.Number() })),
          stops: Type.Array(Type.Object({ start: Type.Number(), end: Type.Number(), lon: Type.Number(), lat: Type.Number(), durationSeconds: Type.Number(), positions: Type.Number() })),
        }),
      },
    },
  }, async (request) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'operator');
    await client.getDevice(ctx, request.params.id);
    const view = await positionView(deps, ctx);
    if (view.policy.operatorVisibility === 'always') return tracker.trips(ctx, request.params.id, request.query.from, request.query.to);
    const settings = await tracker.getSettings(ctx);
    return tripsAndStops(view.filter(await tracker.track(ctx, request.params.id, request.query.from, request.query.to)), settings.stopRadius, settings.stopMinutes);
  });

  app.get('/tenants/:tenantId/devices/:id/export', {
    schema: {
      tags: ['positions'], summary: "Export a device's track as GPX, KML, GeoJSON or CSV", security, params: TenantItemParams,
      querystring: Type.Object({ format: Type.String({ enum: Object.keys(EXPORT_FORMATS) }), from: Type.Optional(Type.Number()), to: Type.Optional(Type.Number()) }),
    },
  }, async (request, reply) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'operator');
    const device = await client.getDevice(ctx, request.params.id);
    const format = request.query.format as ExportFormat;
    const track = (await positionView(deps, ctx)).filter(await tracker.track(ctx, device.id, request.query.from, request.query.to));
    const body = exportTrack(track, format, device.name);
    return reply
      .type(EXPORT_FORMATS[format])
      .header('content-disposition', `attachment; filename="${device.id}.${format}"`)
      .send(body);
  });

  app.get('/tenants/:tenantId/status', {
    schema: { tags: ['positions'], summary: 'Status of every device seen: connection (online/offline/unknown), motion (moving/stopped/unknown), battery', security, params: TenantParams, response: { 200: Type.Array(DeviceStatus) } },
  }, async (request) => tracker.statuses(await contextOf(request, auth, request.params.tenantId, 'operator')));

  app.get('/tenants/:tenantId/settings/tracking', {
    schema: { tags: ['settings'], summary: "The tenant's tracking settings: filters, stop detection, offline threshold, retention", security, params: TenantParams, response: { 200: TrackingSettings } },
  }, async (request) => tracker.getSettings(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.get('/tenants/:tenantId/settings/visibility', {
    schema: { tags: ['settings'], summary: "What the tenant's operators may see of people's positions (docs/follow-me.md)", security, params: TenantParams, response: { 200: VisibilityPolicy } },
  }, async (request) => tracker.getVisibility(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.patch('/tenants/:tenantId/settings/visibility', {
    schema: {
      tags: ['settings'], summary: 'Change the operator visibility policy (tenant admins)', security, params: TenantParams,
      body: Type.Object({ operatorVisibility: Type.Optional(Type.String()), workingHours: Type.Optional(Type.Partial(WorkingHours)) }, { additionalProperties: false }),
      response: { 200: VisibilityPolicy, 400: Problem },
    },
  }, async (request) => tracker.updateVisibility(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body));
  app.get('/tenants/:tenantId/me/visibility', {
    schema: {
      tags: ['settings'], summary: "What my organisation's operators can see of my positions (every member may read it)", security, params: TenantParams,
      response: { 200: Type.Object({ ...VisibilityPolicy.properties, description: Type.String() }) },
    },
  }, async (request) => {
    const policy = await tracker.getVisibility(await contextOf(request, auth, request.params.tenantId, 'member'));
    return { ...policy, description: describeVisibility(policy) };
  });

  app.patch('/tenants/:tenantId/settings/tracking', {
    schema: { tags: ['settings'], summary: 'Change some tracking settings', security, params: TenantParams, body: Type.Partial(TrackingSettings, { additionalProperties: false }), response: { 200: TrackingSettings, 400: Problem } },
  }, async (request) => tracker.updateSettings(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body));
}
