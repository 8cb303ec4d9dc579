import { topic } from '../../ports/bus.js';

/** Published when a tenant, device or group changes, so that caches elsewhere can drop it. */
export interface ClientChanged {
  tenantId: string;
  kind: 'tenant' | 'device' | 'group' | 'user';
  id: string;
}

export const clientChanged = topic<ClientChanged>('client.changed');
