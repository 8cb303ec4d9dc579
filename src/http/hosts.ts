/**
 * Custom domains: each request's Host names either the platform itself, a tenant (through the
 * tenant's domains), or nothing we know. Pages asked for on an unknown host get a neutral page,
 * so a stray DNS record shows nobody's brand; the API and the device endpoints authenticate by
 * token on any host.
 */
import type { FastifyRequest } from 'fastify';
import type { HttpServer } from './server.js';

export interface HostTenant {
  id: string;
  slug: string;
  name: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant whose custom domain this request came to, if any. */
    hostTenant?: HostTenant;
  }
}

/** Paths that answer on any host: the API, device protocols, health and metrics, share links. */
const ANY_HOST = /^\/(api|device|owntracks|healthz|readyz|metrics|s|invite)(\/|$|\?)/;
const CACHE_MS = 10_000;

const NEUTRAL_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Not found</title>
<style>body{font:16px/1.5 system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;color:#333}</style></head>
<body><main><h1>Nothing here</h1><p>This address is not set up.</p></main></body></html>`;

export function hostName(request: FastifyRequest): string {
  const raw = (request.headers[':authority'] as string | undefined) ?? request.headers.host ?? '';
  return raw.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

/**
 * Resolves every request's host. `platformHosts` are the platform's own names (answering as the
 * platform); `lookup` finds the tenant of a custom domain.
 */
export function registerHosts(app: HttpServer, platformHosts: string[], lookup: (host: string) => Promise<HostTenant | undefined>): void {
  const platform = new Set(platformHosts.map((h) => h.toLowerCase()));
  const cache = new Map<string, { tenant: HostTenant | undefined; until: number }>();
  app.addHook('onRequest', async (request, reply) => {
    const host = hostName(request);
    if (host === '' || platform.has(host)) return;
    let hit = cache.get(host);
    if (!hit || hit.until < Date.now()) {
      hit = { tenant: await lookup(host), until: Date.now() + CACHE_MS };
      cache.set(host, hit);
      if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
    }
    if (hit.tenant) request.hostTenant = hit.tenant;
    else if (!ANY_HOST.test(request.url)) return reply.status(404).type('text/html; charset=utf-8').send(NEUTRAL_PAGE);
  });
}
