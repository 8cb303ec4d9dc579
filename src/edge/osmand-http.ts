/**
 * The OsmAnd listener: an HTTP server on its own port (FOLLOWME_OSMAND_PORT, 5055 by default).
 * Any path, GET or POST; the request goes whole to the OsmAnd decoder, then through the shared
 * intake. Answers (docs/device-protocols.md):
 *
 * - 200 `{"status":"accepted"|"duplicate"|"rejected", …}`: the fix was judged. A rejected fix is
 *   answered 200 too, with code, field and reason in the body, because Traccar Client resends
 *   anything but a 200 forever, oldest first: one fix that can never be accepted (say older than
 *   the tracker keeps) would block every later one.
 * - 400 problem+json: not a position (no id, no coordinates, unreadable time, bad JSON).
 * - 404 problem+json: no device has this unique id. Traccar Client keeps the fix and retries, so
 *   its positions arrive once the device is registered.
 * - 413 problem+json: body larger than FOLLOWME_MAX_FRAME_BYTES.
 */
import type { AddressInfo } from 'node:net';
import { LISTEN_BACKLOG, createHttpServer, type HttpServer } from '../http/server.js';
import type { EdgeDeps } from './deps.js';
import type { Intake } from './intake.js';
import { OsmandDecoder, type SpeedUnit } from './osmand.js';

export interface OsmandListener {
  readonly port: number;
  close(): Promise<void>;
}

export async function startOsmand(deps: EdgeDeps, intake: Intake, options: { host: string; port: number; maxBodyBytes: number; speedUnit: SpeedUnit }): Promise<OsmandListener> {
  const decoder = new OsmandDecoder(options.speedUnit);
  const app: HttpServer = createHttpServer({ logger: deps.logger, bodyLimit: options.maxBodyBytes, ready: () => true });
  // Every body reaches the decoder as text: decoding (and refusing) it is the decoder's job alone.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  const handler = async (request: { url: string; body: unknown; headers: Record<string, string | string[] | undefined> }) => {
    const q = request.url.indexOf('?');
    const contentType = request.headers['content-type'];
    try {
      const decoded = decoder.decode({
        query: q < 0 ? '' : request.url.slice(q + 1),
        body: typeof request.body === 'string' ? request.body : '',
        contentType: Array.isArray(contentType) ? contentType[0] : contentType,
        receivedAt: Date.now(),
      });
      const device = await intake.identify(decoded.claim!);
      const results = await intake.accept(decoder.protocol, device, decoded);
      return results.length === 1 ? results[0] : { results };
    } catch (err) {
      intake.refused(decoder.protocol, err);
      throw err;
    }
  };
  app.route({ method: ['GET', 'POST'], url: '/*', handler: (request) => handler(request) });
  app.route({ method: ['GET', 'POST'], url: '/', handler: (request) => handler(request) });
  // Trackers reconnect in a burst after an outage: a long accept queue (capped by net.core.somaxconn) rather than dropped SYNs and retries of seconds.
  await app.listen({ host: options.host, port: options.port, backlog: LISTEN_BACKLOG });
  return {
    port: (app.server.address() as AddressInfo).port,
    close: () => app.close(),
  };
}
