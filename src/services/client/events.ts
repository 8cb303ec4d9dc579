import { topic } from '../../ports/bus.js';

/**
 * Why a device (kind `device`) or every device of a tenant (kind `tenant`) may have lost the right
 * to stay connected. Edges re-check the sessions it names and close those refused now.
 */
export type Revocation = 'token_rotated' | 'device_deleted' | 'device_disabled' | 'tenant_suspended' | 'tenant_deleted';

/** Published when a tenant, device or group changes, so that caches elsewhere can drop it. */
export interface ClientChanged {
  tenantId: string;
  kind: 'tenant' | 'device' | 'group' | 'user';
  id: string;
  /** Set when the change may take access away from connected devices; absent for every other change (readers that do not know it ignore it). */
  revoked?: Revocation;
}

export const clientChanged = topic<ClientChanged>('client.changed');
