/** Rules: events that send alerts. */
import { Type } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Problem, Rule, Target, TenantItemParams, TenantParams } from '../schemas.js';

export function ruleRoutes(app: HttpServer, { client, notification }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];
  app.post('/tenants/:tenantId/rules', {
    schema: {
      tags: ['rules'], summary: 'Create a rule: on enter/exit of a fence, alert a target. Title and body may use {device}, {fence}, {event}, {time}, {link}', security, params: TenantParams,
      body: Type.Object({
        name: Type.String(),
        on: Type.String({ enum: ['enter', 'exit'] }),
        fenceId: Type.String(),
        target: Target,
        title: Type.String({ minLength: 1, maxLength: 200 }),
        body: Type.Optional(Type.String()),
        priority: Type.Optional(Type.String({ enum: ['normal', 'high', 'critical'] })),
        enabled: Type.Optional(Type.Boolean()),
      }),
      response: { 201: Rule, 400: Problem },
    },
  }, async (request, reply) => reply.status(201).send(await notification.createRule(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body as Parameters<typeof notification.createRule>[1])));
  app.get('/tenants/:tenantId/rules', { schema: { tags: ['rules'], summary: 'List rules', security, params: TenantParams, response: { 200: Type.Array(Rule) } } },
    async (request) => notification.listRules(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.delete('/tenants/:tenantId/rules/:id', { schema: { tags: ['rules'], summary: 'Delete a rule', security, params: TenantItemParams } }, async (request, reply) => {
    await notification.deleteRule(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id);
    return reply.status(204).send();
  });
}
