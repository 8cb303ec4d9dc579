/** Messages, their deliveries, responses and reminders. */
import { Type } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Delivery, Message, Preview, Problem, Responses, SendMessage, Target, TenantItemParams, TenantParams } from '../schemas.js';

const CAP_TYPES = ['application/cap+xml', 'application/xml', 'text/xml'];

export function messagingRoutes(app: HttpServer, { client, notification }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];

  app.post('/tenants/:tenantId/messages', {
    schema: { tags: ['messages'], summary: 'Send a message to a target, on one or more channels', security, params: TenantParams, body: SendMessage, response: { 201: Message, 400: Problem } },
  }, async (request, reply) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'operator');
    return reply.status(201).send(await notification.send(ctx, request.body as Parameters<typeof notification.send>[1]));
  });

  // CAP alerts arrive as XML; the body reaches the route as text and cap.ts reads it
  app.addContentTypeParser(CAP_TYPES, { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.post('/tenants/:tenantId/messages/cap', {
    schema: {
      tags: ['messages'], security, params: TenantParams,
      summary: 'Import a CAP 1.2 alert (body: the <alert> XML): it goes to everyone whose last known position is inside its polygons or circle',
      querystring: Type.Object({
        channels: Type.Optional(Type.String({ description: 'comma-separated channels, default app' })),
        maxAgeMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
        liveMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10_080 })),
      }),
      body: Type.String({ description: 'CAP 1.2 XML', contentMediaType: 'application/cap+xml' }),
      response: { 201: Message, 400: Problem },
    },
  }, async (request, reply) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'operator');
    const channels = request.query.channels?.split(',').map((c) => c.trim()) as Parameters<typeof notification.importCap>[2]['channels'];
    return reply.status(201).send(await notification.importCap(ctx, request.body, { channels, maxAgeMinutes: request.query.maxAgeMinutes, liveMinutes: request.query.liveMinutes }));
  });
  app.get('/tenants/:tenantId/messages/:id/cap', {
    schema: { tags: ['messages'], summary: 'The message as a CAP 1.2 alert', security, params: TenantItemParams, produces: ['application/cap+xml'] },
  }, async (request, reply) => {
    const xml = await notification.exportCap(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id);
    return reply.type('application/cap+xml; charset=utf-8').send(xml);
  });

  app.post('/tenants/:tenantId/messages/preview', {
    schema: { tags: ['messages'], summary: 'How many devices and people a target reaches now, and which', security, params: TenantParams, body: Type.Object({ target: Target }), response: { 200: Preview, 400: Problem } },
  }, async (request) => notification.preview(await contextOf(request, auth, request.params.tenantId, 'operator'), request.body.target as Parameters<typeof notification.preview>[1]));

  app.get('/tenants/:tenantId/messages', {
    schema: { tags: ['messages'], summary: 'Recent messages with delivery counts', security, params: TenantParams, querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }), response: { 200: Type.Array(Message) } },
  }, async (request) => notification.listMessages(await contextOf(request, auth, request.params.tenantId, 'operator'), request.query.limit));
  app.get('/tenants/:tenantId/messages/:id', { schema: { tags: ['messages'], summary: 'One message with delivery counts', security, params: TenantItemParams, response: { 200: Message } } },
    async (request) => notification.getMessage(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id));
  app.get('/tenants/:tenantId/messages/:id/deliveries', { schema: { tags: ['messages'], summary: "Each recipient's delivery, per channel", security, params: TenantItemParams, response: { 200: Type.Array(Delivery) } } },
    async (request) => notification.listDeliveries(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id));
  app.get('/tenants/:tenantId/messages/:id/responses', { schema: { tags: ['messages'], summary: 'Tallies per answer and per target group, and who has not answered', security, params: TenantItemParams, response: { 200: Responses } } },
    async (request) => notification.responses(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id));
  app.post('/tenants/:tenantId/messages/:id/remind', { schema: { tags: ['messages'], summary: 'Remind everyone who has not answered (a reminder message; answering it answers the original)', security, params: TenantItemParams, response: { 201: Message, 400: Problem } } },
    async (request, reply) => reply.status(201).send(await notification.remind(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id)));
  app.post('/tenants/:tenantId/deliveries/:id/response', {
    schema: { tags: ['messages'], summary: "Record a response on the recipient's behalf", security, params: TenantItemParams, body: Type.Object({ response: Type.String({ minLength: 1, maxLength: 1000 }) }), response: { 200: Delivery, 400: Problem } },
  }, async (request) => notification.respondOnBehalf(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id, request.body.response));
  app.post('/tenants/:tenantId/deliveries/:id/settle', {
    schema: {
      tags: ['messages'], summary: 'Record whether a channel delivery given up as unknown arrived after all (sent or failed), with a note; only an unknown one, once', security, params: TenantItemParams,
      body: Type.Object({ outcome: Type.String({ description: 'sent or failed' }), note: Type.Optional(Type.String({ maxLength: 1000 })) }, { additionalProperties: false }),
      response: { 200: Delivery, 400: Problem, 404: Problem, 409: Problem },
    },
  }, async (request) => notification.settleDelivery(await contextOf(request, auth, request.params.tenantId, 'operator'), request.params.id, request.body.outcome, request.body.note));
}
