/** The geofence service's public surface. */
export { GeofenceService, DEVICE_REGION_TAG } from './service.js';
export type { EventQuery, GeofenceOptions, DeviceRegion, ReportedEvent } from './service.js';
export type { Fence, FenceInput, AppliesTo } from './fences.js';
export type { Schedule, ScheduleWindow, Weekday } from './schedule.js';
export type { Hysteresis } from './engine.js';
export type { ProximityRule, ProximityInput } from './proximity.js';
export type { NearbyDevice } from './positions.js';
export type { Stay } from './queries.js';
export type { GroupsOf } from './support.js';
export type { PositionSource } from './catch-up.js';
export { geofenceMigrations } from './schema.js';
export type { GeofenceDB } from './schema.js';
export { fenceEvent, type FenceEvent, type FenceEventType, type ReportedEventType, type EventReason } from './events.js';
