/**
 * Geofence event subscriptions (webhooks) and their deliveries: CRUD, the signing secret, a test
 * event, and the dead-letter list with replay. Admin only: a webhook sends the tenant's movements
 * to a URL outside it.
 */
import type { FastifyRequest } from 'fastify';
import { Type, type TSchema } from 'typebox';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Id, Millis, Problem, TenantItemParams, TenantParams } from '../schemas.js';
import { WEBHOOK_EVENTS } from '../../services/notification/index.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Ids = (what: string) => Nullable(Type.Array(Type.String({ minLength: 1, maxLength: 80 }), { minItems: 1, maxItems: 1000, description: `only events about these ${what}; null or absent: any` }));
const EventType = Type.String({ enum: [...WEBHOOK_EVENTS] });

const WebhookFields = {
  url: Type.String({ minLength: 1, maxLength: 2000, description: 'absolute http(s) URL the events are POSTed to' }),
  description: Type.Optional(Type.String({ maxLength: 500 })),
  events: Type.Array(EventType, { minItems: 1, description: 'which events: enter, exit, dwell (fences), within, apart (proximity)' }),
  fenceIds: Type.Optional(Ids('fences (enter, exit, dwell)')),
  deviceIds: Type.Optional(Ids('devices (for proximity: either device)')),
  groupIds: Type.Optional(Ids('groups, with their sub-groups')),
  enabled: Type.Optional(Type.Boolean()),
};

const WebhookBody = Type.Object(WebhookFields, { additionalProperties: false });
const WebhookPatch = Type.Object(
  { ...WebhookFields, url: Type.Optional(WebhookFields.url), events: Type.Optional(WebhookFields.events) },
  { additionalProperties: false },
);

const Webhook = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  url: Type.String(),
  description: Type.String(),
  events: Type.Array(Type.String()),
  fenceIds: Nullable(Type.Array(Type.String())),
  deviceIds: Nullable(Type.Array(Type.String())),
  groupIds: Nullable(Type.Array(Type.String())),
  enabled: Type.Boolean(),
  createdAt: Type.Number(),
  updatedAt: Type.Number(),
  secret: Type.Optional(Type.String({ description: 'the signing secret (whsec_…): answered by create; later GET …/secret (admin)' })),
});

const Secret = Type.Object({ id: Type.String(), secret: Type.String() });

const Delivery = Type.Object({
  id: Type.String({ description: 'X-FollowMe-Delivery: the same on every retry and replay' }),
  webhookId: Type.String(),
  eventId: Type.String({ description: 'X-FollowMe-Event: the geofence event id, for deduplication' }),
  eventType: Type.String(),
  state: Type.String({ enum: ['queued', 'delivered', 'dead'] }),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(Type.Number()),
  createdAt: Millis('taken in'),
  queuedAt: Millis('queued last (taken in or replayed)'),
  lastAttemptAt: Nullable(Type.Number()),
  lastStatus: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  deliveredAt: Nullable(Type.Number()),
  deadAt: Nullable(Type.Number()),
  replays: Type.Integer(),
  attemptLog: Type.Optional(Type.Array(Type.Object({ at: Type.Number(), durationMs: Type.Number(), status: Nullable(Type.Integer()), error: Nullable(Type.String()) }))),
  body: Type.Optional(Type.Unknown({ description: 'the JSON body as sent' })),
});

const HookParams = Type.Object({ tenantId: Id('tenant id'), id: Id('webhook id') });
const DeliveryParams = Type.Object({ tenantId: Id('tenant id'), id: Id('webhook id'), deliveryId: Id('delivery id') });

export function webhookRoutes(app: HttpServer, { client, webhooks }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];
  const tags = ['webhooks'];
  const admin = (request: FastifyRequest, tenantId: string) => contextOf(request, auth, tenantId, 'admin');

  app.post('/tenants/:tenantId/webhooks', {
    schema: { tags, summary: 'Subscribe a URL to geofence events; the answer carries the signing secret', security, params: TenantParams, body: WebhookBody, response: { 201: Webhook, 400: Problem } },
  }, async (request, reply) => reply.status(201).send(await webhooks.create(await admin(request, request.params.tenantId), request.body)));
  app.get('/tenants/:tenantId/webhooks', { schema: { tags, summary: 'List webhook subscriptions (without secrets)', security, params: TenantParams, response: { 200: Type.Array(Webhook) } } },
    async (request) => webhooks.list(await admin(request, request.params.tenantId)));
  app.get('/tenants/:tenantId/webhooks/:id', { schema: { tags, summary: 'One webhook subscription', security, params: TenantItemParams, response: { 200: Webhook } } },
    async (request) => webhooks.get(await admin(request, request.params.tenantId), request.params.id));
  app.patch('/tenants/:tenantId/webhooks/:id', { schema: { tags, summary: 'Change a webhook subscription (URL, events, filters, enabled); the secret stays', security, params: TenantItemParams, body: WebhookPatch, response: { 200: Webhook, 400: Problem } } },
    async (request) => webhooks.update(await admin(request, request.params.tenantId), request.params.id, request.body));
  app.delete('/tenants/:tenantId/webhooks/:id', { schema: { tags, summary: 'Delete a webhook subscription with its deliveries and dead letters', security, params: TenantItemParams } }, async (request, reply) => {
    await webhooks.remove(await admin(request, request.params.tenantId), request.params.id);
    return reply.status(204).send();
  });
  app.get('/tenants/:tenantId/webhooks/:id/secret', { schema: { tags, summary: "The subscription's signing secret", security, params: TenantItemParams, response: { 200: Secret } } },
    async (request) => webhooks.secret(await admin(request, request.params.tenantId), request.params.id));
  app.post('/tenants/:tenantId/webhooks/:id/secret', { schema: { tags, summary: 'Replace the signing secret; the old one stops signing at once', security, params: TenantItemParams, response: { 200: Secret } } },
    async (request) => webhooks.rotateSecret(await admin(request, request.params.tenantId), request.params.id));
  app.post('/tenants/:tenantId/webhooks/:id/test', { schema: { tags, summary: 'Queue a signed `ping` event to the subscription', security, params: TenantItemParams, response: { 202: Delivery } } },
    async (request, reply) => reply.status(202).send(await webhooks.test(await admin(request, request.params.tenantId), request.params.id)));

  app.get('/tenants/:tenantId/webhooks/:id/deliveries', {
    schema: {
      tags, summary: "The subscription's deliveries, newest first; state=dead lists the dead letters. Page with after=<last id>", security, params: HookParams,
      querystring: Type.Object({ state: Type.Optional(Type.String({ enum: ['queued', 'delivered', 'dead'] })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })), after: Type.Optional(Type.String({ maxLength: 80 })) }),
      response: { 200: Type.Array(Delivery), 400: Problem },
    },
  }, async (request) => webhooks.deliveries(await admin(request, request.params.tenantId), request.params.id, request.query as Parameters<typeof webhooks.deliveries>[2]));
  app.get('/tenants/:tenantId/webhooks/:id/deliveries/:deliveryId', { schema: { tags, summary: 'One delivery with its body and every attempt (time, duration, status, error)', security, params: DeliveryParams, response: { 200: Delivery } } },
    async (request) => webhooks.delivery(await admin(request, request.params.tenantId), request.params.id, request.params.deliveryId));
  app.post('/tenants/:tenantId/webhooks/:id/deliveries/:deliveryId/replay', { schema: { tags, summary: 'Queue a dead delivery again (same delivery and event id)', security, params: DeliveryParams, response: { 202: Delivery, 409: Problem } } },
    async (request, reply) => reply.status(202).send(await webhooks.replay(await admin(request, request.params.tenantId), request.params.id, request.params.deliveryId)));
  app.post('/tenants/:tenantId/webhooks/:id/replay', { schema: { tags, summary: 'Queue every dead delivery of the subscription again', security, params: HookParams, response: { 202: Type.Object({ replayed: Type.Integer() }) } } },
    async (request, reply) => reply.status(202).send(await webhooks.replayDead(await admin(request, request.params.tenantId), request.params.id)));
  app.delete('/tenants/:tenantId/webhooks/:id/deliveries/:deliveryId', { schema: { tags, summary: 'Delete a dead (or delivered) delivery; 409 while it is queued', security, params: DeliveryParams } }, async (request, reply) => {
    await webhooks.removeDelivery(await admin(request, request.params.tenantId), request.params.id, request.params.deliveryId);
    return reply.status(204).send();
  });
}
