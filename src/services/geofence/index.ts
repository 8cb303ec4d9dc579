/** The geofence service's public surface. */
export { GeofenceService } from './service.js';
export type { Fence, FenceInput, EventQuery } from './service.js';
export { geofenceMigrations } from './schema.js';
export type { GeofenceDB } from './schema.js';
export { fenceEvent, type FenceEvent } from './events.js';
