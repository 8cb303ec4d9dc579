/** "Follow me": a member's shares, the people they follow, and public share links. */
import { Type } from 'typebox';
import { AppError } from '../../core/errors.js';
import type { HttpServer } from '../../http/server.js';
import { contextOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { openStream, type LiveHub } from '../live.js';
import { Position, Problem, TenantItemParams, TenantParams } from '../schemas.js';

const Share = Type.Object({
  id: Type.String(),
  ownerUserId: Type.String(),
  followers: Type.Object({ userIds: Type.Array(Type.String()), groupIds: Type.Array(Type.String()) }),
  createdAt: Type.Number(),
  expiresAt: Type.Union([Type.Number(), Type.Null()]),
});
const ShareLink = Type.Object({ id: Type.String(), ownerUserId: Type.String(), createdAt: Type.Number(), expiresAt: Type.Number() });
const FOLLOWED_REFRESH_MS = 15_000;

export function sharingRoutes(app: HttpServer, { client, sharing }: ApiDeps, hub: LiveHub): void {
  const auth = (token: string) => client.authenticate(token);
  const security = [{ bearer: [] }];
  const tags = ['follow me'];

  app.post('/tenants/:tenantId/me/shares', {
    schema: {
      tags, summary: 'Share my live location with people or groups, for some minutes or until revoked', security, params: TenantParams,
      body: Type.Object({ userIds: Type.Optional(Type.Array(Type.String())), groupIds: Type.Optional(Type.Array(Type.String())), minutes: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
      response: { 201: Share, 400: Problem },
    },
  }, async (request, reply) => reply.status(201).send(await sharing.share(await contextOf(request, auth, request.params.tenantId, 'member'), request.body)));

  app.get('/tenants/:tenantId/me/shares', {
    schema: { tags, summary: 'Who can follow me now: my shares and share links in force', security, params: TenantParams, response: { 200: Type.Object({ shares: Type.Array(Share), links: Type.Array(ShareLink) }) } },
  }, async (request) => sharing.myShares(await contextOf(request, auth, request.params.tenantId, 'member')));

  app.delete('/tenants/:tenantId/me/shares/:id', { schema: { tags, summary: 'Stop a share or a share link at once', security, params: TenantItemParams } }, async (request, reply) => {
    await sharing.revoke(await contextOf(request, auth, request.params.tenantId, 'member'), request.params.id);
    return reply.status(204).send();
  });

  const Named = Type.Object({ id: Type.String(), name: Type.String() });
  app.get('/tenants/:tenantId/me/directory', {
    schema: { tags, summary: 'Whom I can share with: the names of the people and groups of my tenant (no contact details, no positions)', security, params: TenantParams, response: { 200: Type.Object({ people: Type.Array(Named), groups: Type.Array(Named) }) } },
  }, async (request) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'member');
    if (ctx.principal.kind === 'device') throw new AppError('forbidden', 'the directory is for people: call this with a user token');
    return client.directory(ctx);
  });

  app.post('/tenants/:tenantId/me/share-links', {
    schema: {
      tags, summary: 'A link that shows my live position to anyone who has it, until it expires (at most a week). The token is shown this once.', security, params: TenantParams,
      body: Type.Object({ minutes: Type.Integer({ minimum: 1, maximum: 10_080 }) }),
      response: { 201: Type.Object({ id: Type.String(), ownerUserId: Type.String(), createdAt: Type.Number(), expiresAt: Type.Number(), token: Type.String(), url: Type.String() }) },
    },
  }, async (request, reply) => {
    const link = await sharing.createLink(await contextOf(request, auth, request.params.tenantId, 'member'), request.body.minutes);
    return reply.status(201).send({ ...link, url: `/s/${link.token}` });
  });

  const Followed = Type.Object({ shareId: Type.String(), userId: Type.String(), name: Type.String(), expiresAt: Type.Union([Type.Number(), Type.Null()]), since: Type.Number({ description: 'when the earliest of their shares with me began' }), positions: Type.Array(Position) });
  app.get('/tenants/:tenantId/me/following', {
    schema: { tags, summary: 'The people who share their location with me, where they are', security, params: TenantParams, response: { 200: Type.Array(Followed) } },
  }, async (request) => sharing.following(await contextOf(request, auth, request.params.tenantId, 'member')));

  app.get('/tenants/:tenantId/me/following/live', {
    schema: { tags, summary: 'Live positions (text/event-stream) of the people who share with me', security, params: TenantParams, querystring: Type.Object({ access_token: Type.Optional(Type.String()) }) },
  }, async (request, reply) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'member');
    let allowed = await sharing.followedDevices(ctx);
    const refresh = setInterval(() => void sharing.followedDevices(ctx).then((d) => (allowed = d), () => (allowed = new Set())), FOLLOWED_REFRESH_MS);
    request.raw.on('close', () => clearInterval(refresh));
    await openStream(reply, hub, ctx.tenantId, { following: allowed.size }, (event, data) => event === 'position' && allowed.has((data as { deviceId: string }).deviceId));
  });

  // A link is for people outside the tenant: it shows where, not internal ids.
  const PublicPosition = Type.Object({ time: Type.Number(), lon: Type.Number(), lat: Type.Number(), accuracy: Type.Optional(Type.Number()), speed: Type.Optional(Type.Number()), heading: Type.Optional(Type.Number()) });
  const SharedView = Type.Object({ name: Type.String(), expiresAt: Type.Number(), position: Type.Union([PublicPosition, Type.Null()]) });
  app.get('/shared/:token', {
    schema: { tags, summary: 'What a share link shows (no account needed): a name and the newest position; 404 once expired or revoked', params: Type.Object({ token: Type.String() }), response: { 200: SharedView, 404: Problem } },
  }, async (request) => {
    const { name, expiresAt, position } = await sharing.openLink(request.params.token);
    return { name, expiresAt, position };
  });

  app.get('/shared/:token/live', {
    schema: { tags, summary: "A share link's live positions (text/event-stream), ending with `expired` when the link does", params: Type.Object({ token: Type.String() }) },
  }, async (request, reply) => {
    const link = await sharing.openLink(request.params.token);
    const devices = new Set(link.deviceIds);
    await openStream(reply, hub, link.tenantId, { name: link.name, expiresAt: link.expiresAt }, (event, data) => event === 'position' && devices.has((data as { deviceId: string }).deviceId), link.expiresAt, publicPosition);
  });
}

/** The fields of a position a share link may show. */
function publicPosition(data: unknown): unknown {
  const { time, lon, lat, accuracy, speed, heading } = data as Record<string, unknown>;
  return { time, lon, lat, accuracy, speed, heading };
}
