/** Messages, their deliveries, and rules. */
import { Type } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Delivery, Message, Problem, Rule, Target, TenantItemParams, TenantParams } from '../schemas.js';

export function messagingRoutes(app: HttpServer, { client, notification }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];

  app.post('/tenants/:tenantId/messages', {
    schema: {
      tags: ['messages'], summary: 'Send a message to a target', security, params: TenantParams,
      body: Type.Object({
        target: Target,
        title: Type.String({ minLength: 1, maxLength: 200 }),
        body: Type.Optional(Type.String({ maxLength: 10_000 })),
        priority: Type.Optional(Type.String({ enum: ['normal', 'high', 'critical'] })),
        ackRequired: Type.Optional(Type.Boolean()),
        options: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 10 })),
        ttlSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
      }),
      response: { 201: Message, 400: Problem },
    },
  }, async (request, reply) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'operator');
    return reply.status(201).send(await notification.send(ctx, request.body as Parameters<typeof notification.send>[1]));
  });

  app.post('/tenants/:tenantId/messages/preview', {
    schema: { tags: ['messages'], summary: 'How many devices a target reaches now, and which', security, params: TenantParams, body: Type.Object({ target: Target }), response: { 200: Type.Object({ devices: Type.Number(), deviceIds: Type.Array(Type.String()) }) } },
  }, async (request) => notification.preview(await contextOf(request, auth, request.params.tenantId, 'operator'), request.body.target));

  app.get('/tenants/:tenantId/messages', {
    schema: { tags: ['messages'], summary: 'Recent messages with delivery counts', security, params: TenantParams, querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }), response: { 200: Type.Array(Message) } },
  }, async (request) => notification.listMessages(await contextOf(request, auth, request.params.tenantId, 'operator'), request.query.limit));
  app.get('/tenants/:tenantId/messages/:id', { schema: { tags: ['messages'], summary: 'One message with delivery counts', security, params: TenantItemParams, response: { 200: Message } } },
    async (request) => notification.getMessage(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id));
  app.get('/tenants/:tenantId/messages/:id/deliveries', { schema: { tags: ['messages'], summary: "Each recipient's delivery", security, params: TenantItemParams, response: { 200: Type.Array(Delivery) } } },
    async (request) => notification.listDeliveries(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id));
  app.post('/tenants/:tenantId/deliveries/:id/response', {
    schema: { tags: ['messages'], summary: "Record a response on the recipient's behalf", security, params: TenantItemParams, body: Type.Object({ response: Type.String({ minLength: 1, maxLength: 1000 }) }), response: { 200: Delivery, 400: Problem } },
  }, async (request) => notification.respondOnBehalf(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id, request.body.response));

  app.post('/tenants/:tenantId/rules', {
    schema: {
      tags: ['rules'], summary: 'Create a rule: on enter/exit of a fence, alert a target. Title and body may use {device}, {fence}, {event}, {time}', security, params: TenantParams,
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
  }, async (request, reply) => reply.status(201).send(await notification.createRule(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body)));
  app.get('/tenants/:tenantId/rules', { schema: { tags: ['rules'], summary: 'List rules', security, params: TenantParams, response: { 200: Type.Array(Rule) } } },
    async (request) => notification.listRules(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.delete('/tenants/:tenantId/rules/:id', { schema: { tags: ['rules'], summary: 'Delete a rule', security, params: TenantItemParams } }, async (request, reply) => {
    await notification.deleteRule(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.id);
    return reply.status(204).send();
  });
}
