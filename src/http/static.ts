/**
 * Serves the built web front (web/dist): the Control Center at /, the member app at /app/.
 * Hashed assets are cached for a year; HTML, the service worker and the manifest are revalidated
 * on every load so a deploy shows at once. Paths of the API, the device protocols, share pages and
 * operations are never answered with the app: an unknown /api/… stays a problem+json 404.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../core/errors.js';
import type { HttpServer } from './server.js';

/** Where `npm run build` puts the web front, relative to this file compiled into dist/src/http/. */
export const WEB_DIST = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

/** Prefixes that belong to the server, never to the single-page apps. */
const RESERVED = ['/api', '/device', '/owntracks', '/s', '/invite', '/platform', '/healthz', '/readyz', '/metrics'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

export interface StaticOptions {
  /** The folder of the built app (default: web/dist). */
  root?: string;
  /** MapLibre style URL handed to the apps in /config.json; empty: the bundled offline background. */
  mapStyleUrl: string;
}

/** Registers the web front: /config.json, files of web/dist, and the SPA fallbacks. */
export function registerStatic(app: HttpServer, options: StaticOptions): void {
  const root = options.root ?? WEB_DIST;
  app.get('/config.json', { schema: { hide: true } }, async (_request, reply) => {
    void reply.header('cache-control', 'no-cache');
    return { mapStyleUrl: options.mapStyleUrl || null };
  });
  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    const path = decodeURIComponent(request.url.split('?')[0]!);
    if (RESERVED.some((p) => path === p || path.startsWith(`${p}/`))) throw new AppError('not_found', `no route GET ${path}`);
    const file = resolveFile(root, path);
    if (!file) {
      if (!existsSync(join(root, 'index.html'))) throw new AppError('not_found', `the web front is not built (no ${join(root, 'index.html')}); run npm run build`);
      throw new AppError('not_found', `no file ${path}`);
    }
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const immutable = file.startsWith(join(root, 'assets') + sep);
    void reply
      .type(type)
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('x-content-type-options', 'nosniff');
    if (file.endsWith('sw.js')) void reply.header('service-worker-allowed', '/app/');
    return reply.send(createReadStream(file));
  });
}

/** The file for a path: the file itself, or the app's index.html for a client-side route. */
function resolveFile(root: string, path: string): string | undefined {
  const clean = normalize(path).replace(/^(\.\.(\/|\\|$))+/, '');
  const candidate = join(root, clean);
  if (!candidate.startsWith(root)) return undefined;
  if (isFile(candidate)) return candidate;
  if (isFile(join(candidate, 'index.html'))) return join(candidate, 'index.html');
  // Client-side routes: a path without an extension gets its app's shell; a missing asset stays 404.
  if (extname(clean) !== '') return undefined;
  const app = clean === '/app' || clean.startsWith('/app/') ? join(root, 'app', 'index.html') : join(root, 'index.html');
  return isFile(app) ? app : undefined;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
