/** Where notifications go besides the app: the tenant's webhook and responders, people's phones, browsers' push subscriptions. */
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { AppError } from '../../core/errors.js';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { Id, NotificationSettings, NullableIntegerInput, Problem, Target, TenantParams, TimeWindow } from '../schemas.js';

const PushSubscription = Type.Object({
  endpoint: Type.String({ minLength: 1, maxLength: 2000 }),
  keys: Type.Object({ p256dh: Type.String(), auth: Type.String() }),
  expirationTime: Type.Optional(Type.Union([Type.Null(), Type.Number()])),
}, { description: "the browser's PushSubscription.toJSON()" });

export function notificationSettingsRoutes(app: HttpServer, { client, notification }: ApiDeps): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];

  // A person's own settings: members see and set theirs, admins anyone's.
  const selfOrAdmin = async (request: FastifyRequest, tenantId: string, userId: string) => {
    const ctx = await contextOf(request, auth, tenantId, 'member');
    if (!(ctx.principal.kind === 'user' && ctx.principal.userId === userId)) await contextOf(request, auth, tenantId, 'admin');
    return ctx;
  };

  app.get('/tenants/:tenantId/notification-settings', { schema: { tags: ['notification settings'], summary: "The tenant's webhook URL and SOS responders", security, params: TenantParams, response: { 200: NotificationSettings } } },
    async (request) => notification.getSettings(await contextOf(request, auth, request.params.tenantId, 'operator')));
  app.put('/tenants/:tenantId/notification-settings', {
    schema: {
      tags: ['notification settings'], summary: 'Set the webhook URL (the signing secret is answered once) and the responders an SOS goes to', security, params: TenantParams,
      body: Type.Object({
        webhookUrl: Type.Optional(Type.Union([Type.Null(), Type.String({ maxLength: 2000 })])),
        responders: Type.Optional(Type.Union([Type.Null(), Target])),
        quietHours: Type.Optional(Type.Union([Type.Null(), TimeWindow])),
        recipientHourlyLimit: Type.Optional(NullableIntegerInput({ minimum: 1 })),
      }, { additionalProperties: false }),
      response: { 200: NotificationSettings, 400: Problem },
    },
  }, async (request) => notification.updateSettings(await contextOf(request, auth, request.params.tenantId, 'admin'), request.body as Parameters<typeof notification.updateSettings>[1]));

  app.put('/tenants/:tenantId/users/:userId/phone', {
    schema: { tags: ['notification settings'], summary: "A person's mobile number for SMS (E.164), or null", security, params: Type.Object({ tenantId: Id('tenant id'), userId: Id('user id') }), body: Type.Object({ phone: Type.Union([Type.Null(), Type.String()]) }), response: { 200: Type.Object({ userId: Type.String(), phone: Type.Union([Type.String(), Type.Null()]) }), 400: Problem } },
  }, async (request) => notification.setPhone(await contextOf(request, auth, request.params.tenantId, 'admin'), request.params.userId, request.body.phone));

  app.get('/tenants/:tenantId/users/:userId/notification-profile', {
    schema: { tags: ['notification settings'], summary: "A person's phone number for SMS and quiet hours (the person, or an admin)", security, params: Type.Object({ tenantId: Id('tenant id'), userId: Id('user id') }), response: { 200: Type.Object({ userId: Type.String(), phone: Type.Union([Type.String(), Type.Null()]), quietHours: Type.Any() }), 404: Problem } },
  }, async (request) => notification.getProfile(await selfOrAdmin(request, request.params.tenantId, request.params.userId), request.params.userId));

  app.put('/tenants/:tenantId/users/:userId/quiet-hours', {
    schema: { tags: ['notification settings'], summary: "A person's quiet hours, or null: rule alerts below critical leave them out meanwhile", security, params: Type.Object({ tenantId: Id('tenant id'), userId: Id('user id') }), body: Type.Object({ quietHours: Type.Union([Type.Null(), TimeWindow]) }), response: { 200: Type.Object({ userId: Type.String(), quietHours: Type.Any() }), 400: Problem } },
  }, async (request) => {
    return notification.setQuietHours(await selfOrAdmin(request, request.params.tenantId, request.params.userId), request.params.userId, request.body.quietHours);
  });

  app.get('/tenants/:tenantId/push/vapid-public-key', { schema: { tags: ['notification settings'], summary: 'The VAPID public key to subscribe with (PushManager.subscribe applicationServerKey)', security, params: TenantParams, response: { 200: Type.Object({ publicKey: Type.String() }) } } },
    async (request) => {
      await contextOf(request, auth, request.params.tenantId, 'member');
      return { publicKey: await notification.vapidPublicKey() };
    });
  app.post('/tenants/:tenantId/me/push-subscriptions', {
    schema: { tags: ['notification settings'], summary: "Register this browser's push subscription for the calling member", security, params: TenantParams, body: PushSubscription, response: { 201: Type.Object({ id: Type.String(), endpoint: Type.String(), createdAt: Type.Number() }), 400: Problem } },
  }, async (request, reply) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'member');
    if (ctx.principal.kind !== 'user') throw new AppError('forbidden', 'push subscriptions belong to a person: call this with a user token');
    return reply.status(201).send(await notification.addPushSubscription(ctx, ctx.principal.userId, request.body));
  });
  app.delete('/tenants/:tenantId/me/push-subscriptions/:id', { schema: { tags: ['notification settings'], summary: 'Remove one of your push subscriptions', security, params: Type.Object({ tenantId: Id('tenant id'), id: Id('subscription id') }) } }, async (request, reply) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'member');
    if (ctx.principal.kind !== 'user') throw new AppError('forbidden', 'push subscriptions belong to a person: call this with a user token');
    await notification.deletePushSubscription(ctx, ctx.principal.userId, request.params.id);
    return reply.status(204).send();
  });
}
