/**
 * OwnTracks in HTTP mode: `POST /owntracks` on the main listener, HTTP Basic auth with the OwnTracks
 * user as username and the device token as password (X-Limit-U / X-Limit-D name user and device,
 * and are only logged). Answers (docs/device-protocols.md):
 *
 * - 200 with a JSON array: the `location` (and `card`) of every person this user follows, `[]` when
 *   none. That is how the app shows friends on its map.
 * - 400 problem+json: not an OwnTracks message, or a location the tracker refused (the reason names
 *   the field). The app counts any answer as delivered and does not resend, so refusing costs no
 *   retry loop here.
 * - 401 problem+json with WWW-Authenticate: missing or wrong credentials, or an encrypted payload
 *   that does not decrypt with the device's key.
 */
import { AppError } from '../core/errors.js';
import type { HttpServer } from '../http/server.js';
import type { Position } from '../core/types.js';
import type { DeviceIdentity, EdgeDeps, FollowedPerson } from './deps.js';
import type { Intake } from './intake.js';
import { friendCard, friendLocation, looksEncrypted, OwntracksDecoder, toFriend } from './owntracks.js';

export const OWNTRACKS_HTTP_PATH = '/owntracks';
const REALM = 'Basic realm="Follow Me OwnTracks", charset="UTF-8"';

export function registerOwntracksHttp(app: HttpServer, deps: EdgeDeps, intake: Intake): void {
  const decoder = new OwntracksDecoder();
  // Encapsulated: the raw-text body parser applies to this route only.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
    scope.post(OWNTRACKS_HTTP_PATH, { schema: { tags: ['device'], summary: 'OwnTracks HTTP mode: one app message; answers the followed people\'s locations', security: [{ basic: [] }] } }, async (request, reply) => {
      let device: DeviceIdentity;
      try {
        device = await authenticate(request.headers.authorization, intake);
      } catch (err) {
        intake.refused(decoder.protocol, err);
        if (err instanceof AppError && err.code === 'unauthenticated') void reply.header('www-authenticate', REALM);
        throw err;
      }
      const body = typeof request.body === 'string' ? request.body : '';
      try {
        const key = looksEncrypted(body) ? await deps.owntracksKey(device) : undefined;
        const decoded = decoder.decode({ payload: body, key });
        const results = await intake.accept(decoder.protocol, device, decoded);
        const refused = results.find((r) => r.status === 'rejected');
        if (refused) throw new AppError('validation_failed', `${refused.field}: ${refused.reason}`, [{ field: refused.field ?? 'location', reason: refused.reason ?? 'refused' }]);
      } catch (err) {
        intake.refused(decoder.protocol, err);
        if (err instanceof AppError && err.code === 'unauthenticated') void reply.header('www-authenticate', REALM);
        throw err;
      }
      deps.logger.debug({ deviceId: device.deviceId, user: request.headers['x-limit-u'], device: request.headers['x-limit-d'] }, 'owntracks message');
      return reply.type('application/json').send(friendMessages(await deps.following(device)));
    });
  });
}

async function authenticate(header: string | undefined, intake: Intake): Promise<DeviceIdentity> {
  const encoded = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '')?.[1];
  if (!encoded) throw new AppError('unauthenticated', 'send HTTP Basic auth: the OwnTracks user as username, the device token as password');
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const token = colon < 0 ? '' : decoded.slice(colon + 1);
  if (token === '') throw new AppError('unauthenticated', 'the Basic auth password must be the device token');
  return intake.identify({ kind: 'token', token });
}

/** The app's view of friends: per person, the newest position of their devices as a `location` (tid on the map) and a `card` with the name. */
export function friendMessages(people: FollowedPerson[]): object[] {
  const out: object[] = [];
  for (const person of people) {
    const newest = person.devices.reduce<Position | undefined>((best, d) => (d.position && (!best || d.position.time > best.time) ? d.position : best), undefined);
    if (!newest) continue;
    const friend = toFriend(person.name, newest);
    out.push(friendLocation(friend), friendCard(friend));
  }
  return out;
}
