/** The client service's public surface. */
export { ClientService } from './service.js';
export type { Tenant, User, Device, DeviceInput, Group, Audience } from './service.js';
export { clientMigrations } from './schema.js';
export type { ClientDB } from './schema.js';
export { clientChanged, type ClientChanged } from './events.js';
