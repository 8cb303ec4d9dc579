/** The client service's public surface. */
export { ClientService, MAX_BULK_DEVICES } from './service.js';
export type { Tenant, User, Device, DeviceInput, Group, Directory, PeopleOf, Audience, AuditEntry, ProvisionInput, Provisioned } from './service.js';
export { defaultPlan, parsePlan, type Plan, type Quotas } from './plans.js';
export { defaultBranding, type Branding } from './branding.js';
export { clientMigrations } from './schema.js';
export type { ClientDB } from './schema.js';
export { clientChanged, type ClientChanged, type Revocation } from './events.js';
