/** SOS alarms: what devices raised, who acknowledged, and an operator resolving them. */
import { Type } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { SOS_FILTERS, type SosFilter } from '../../services/notification/index.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Id, Problem, SosAlarm, TenantItemParams, TenantParams } from '../schemas.js';

export function sosAlarmRoutes(app: HttpServer, { client, notification }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];
  const tags = ['sos alarms'];

  app.get('/tenants/:tenantId/sos-alarms', {
    schema: {
      tags, security, params: TenantParams,
      summary: "SOS alarms, newest first. Operators see the tenant's; a device token its own; a member those of the devices they carry. Page with before=<last id>",
      querystring: Type.Object({
        state: Type.Optional(Type.String({ enum: [...SOS_FILTERS], default: 'unresolved', description: 'unresolved (open or acknowledged), open, acknowledged, resolved or all' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
        before: Type.Optional(Id('the id of the last alarm of the previous page')),
      }),
      response: { 200: Type.Array(SosAlarm), 400: Problem },
    },
  }, async (request) => notification.listSosAlarms(await contextOf(request, auth, request.params.tenantId, 'member'), { state: request.query.state as SosFilter | undefined, limit: request.query.limit, before: request.query.before }));

  app.get('/tenants/:tenantId/sos-alarms/:id', { schema: { tags, security, params: TenantItemParams, summary: 'One SOS alarm (a device or member: only their own)', response: { 200: SosAlarm, 404: Problem } } },
    async (request) => notification.getSosAlarm(await contextOf(request, auth, request.params.tenantId, 'member'), request.params.id));

  app.post('/tenants/:tenantId/sos-alarms/:id/resolve', {
    schema: {
      tags, security, params: TenantItemParams, summary: 'Mark an SOS alarm resolved (operators), with an optional note',
      body: Type.Optional(Type.Object({ resolution: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false })),
      response: { 200: SosAlarm, 400: Problem, 404: Problem, 409: Problem },
    },
  }, async (request) => notification.resolveSosAlarm(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id, request.body?.resolution));
}
