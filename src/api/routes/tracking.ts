/** Positions of a tenant: last known and history. Fences live in fences.ts. */
import { Type } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Position, Problem, TenantItemParams, TenantParams } from '../schemas.js';

export function trackingRoutes(app: HttpServer, { client, tracker }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];

  app.get('/tenants/:tenantId/positions', {
    schema: { tags: ['positions'], summary: 'Last known position of every device', security, params: TenantParams, response: { 200: Type.Array(Position) } },
  }, async (request) => tracker.lastKnownPositions(await contextOf(request, auth, request.params.tenantId, 'operator')));

  app.get('/tenants/:tenantId/devices/:id/positions', {
    schema: {
      tags: ['positions'], summary: "A device's positions in a time range, oldest first; page with `after`", security, params: TenantItemParams,
      querystring: Type.Object({
        from: Type.Optional(Type.Number({ description: 'epoch ms, inclusive' })),
        to: Type.Optional(Type.Number({ description: 'epoch ms, inclusive' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
        after: Type.Optional(Type.Number({ description: 'the time of the last position of the previous page' })),
      }),
      response: { 200: Type.Array(Position), 400: Problem },
    },
  }, async (request) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'operator');
    await client.getDevice(ctx, request.params.id);
    return tracker.history(ctx, request.params.id, request.query);
  });
}
