/**
 * The audit log's one entry point: every API call that changes something and succeeded is
 * recorded — who (the principal), what (method and route), when, on which tenant and resource,
 * from where (the client address). Bodies are not recorded: they may hold passwords and tokens.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from './deps.js';

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Routes whose path parameters are secrets. */
const SECRET_PARAMS = new Set(['token']);

export function auditHook({ client, logger }: ApiDeps): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    if (!CHANGES.has(request.method) || reply.statusCode >= 400) return;
    const route = request.routeOptions.url ?? request.url.split('?')[0]!;
    if (route.endsWith('/auth/login') || route.endsWith('/messages/preview')) return; // reads, not changes
    const params = (request.params ?? {}) as Record<string, string>;
    // A deleted tenant's own log is gone with it; its deletion stays in the platform's log.
    const deletion = request.method === 'DELETE' && route.endsWith('/tenants/:tenantId');
    const target = deletion ? params.tenantId! : (Object.entries(params).find(([k]) => k !== 'tenantId' && !SECRET_PARAMS.has(k))?.[1] ?? null);
    try {
      await client.record({
        tenantId: deletion ? null : (params.tenantId ?? null),
        actor: request.principal ?? { kind: 'anonymous' },
        action: `${request.method} ${route.replace(/^\/api\/v1/, '')}`,
        target,
        detail: { status: reply.statusCode },
        ip: request.ip,
      });
    } catch (err) {
      logger.error({ err, route }, 'writing the audit log failed');
    }
  };
}
