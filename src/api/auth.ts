/** Who is calling: the principal from the bearer token, resolved once per request. */
import type { FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.js';
import { tenantContext, type TenantContext } from '../core/tenancy.js';
import type { Principal, Role } from '../core/types.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export type Authenticate = (token: string) => Promise<Principal | undefined>;

/** The bearer token from the Authorization header, or from ?access_token= (for EventSource, which cannot set headers). */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
  if (header) return header;
  const query = request.query as Record<string, unknown> | undefined;
  return typeof query?.access_token === 'string' ? query.access_token : undefined;
}

export async function principalOf(request: FastifyRequest, authenticate: Authenticate): Promise<Principal> {
  if (request.principal) return request.principal;
  const token = bearerToken(request);
  if (!token) throw new AppError('unauthenticated', 'send a token as Authorization: Bearer <token> (log in at POST /api/v1/auth/login)');
  const principal = await authenticate(token);
  if (!principal) throw new AppError('unauthenticated', 'the token is not valid or has expired');
  request.principal = principal;
  return principal;
}

/** The tenant context for a request on /tenants/{tenantId}/…, refused unless the principal may act there with `min` role. */
export async function contextOf(request: FastifyRequest, authenticate: Authenticate, tenantId: string, min: Role): Promise<TenantContext> {
  return tenantContext(await principalOf(request, authenticate), tenantId, min);
}

export async function requireAdmin(request: FastifyRequest, authenticate: Authenticate): Promise<void> {
  const principal = await principalOf(request, authenticate);
  if (principal.kind !== 'admin') throw new AppError('forbidden', 'only the platform admin may do this');
}
