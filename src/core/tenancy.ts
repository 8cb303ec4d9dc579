/**
 * Tenant context: the one place where a principal is bound to a tenant. Services take a
 * `TenantContext` for everything tenant-owned and reach their rows only through a TenantScope
 * built from it (src/ports/store.ts), so no handler can forget the tenant condition.
 */
import { AppError } from './errors.js';
import type { Principal, Role } from './types.js';
import { ROLES } from './types.js';

export interface TenantContext {
  readonly tenantId: string;
  readonly principal: Principal;
}

/** True when `role` carries at least the rights of `min` (owner > admin > operator > member). */
export function roleAtLeast(role: Role, min: Role): boolean {
  return ROLES.indexOf(role) <= ROLES.indexOf(min);
}

/**
 * Binds a principal to a tenant, or refuses: a platform admin may act in any tenant; a user only in
 * their own and with at least `min` role; a device only in its own tenant and only where `min` is
 * 'member'.
 */
export function tenantContext(principal: Principal, tenantId: string, min: Role): TenantContext {
  switch (principal.kind) {
    case 'admin':
      return { tenantId, principal };
    case 'user':
      if (principal.tenantId !== tenantId) throw new AppError('not_found', `tenant ${tenantId} does not exist`);
      if (!roleAtLeast(principal.role, min)) throw new AppError('forbidden', `this needs the role ${min} or higher; you are ${principal.role}`);
      return { tenantId, principal };
    case 'device':
      if (principal.tenantId !== tenantId) throw new AppError('not_found', `tenant ${tenantId} does not exist`);
      if (min !== 'member') throw new AppError('forbidden', 'devices may not do this');
      return { tenantId, principal };
  }
}

/** A context for the platform's own work (rules, simulators, background jobs) inside one tenant. */
export function systemContext(tenantId: string): TenantContext {
  return { tenantId, principal: { kind: 'admin' } };
}
