/** The tracker service's public surface. */
export { TrackerService } from './service.js';
export type { DeviceRef, HistoryQuery } from './service.js';
export type { IngestResult } from './pipeline.js';
export { trackerMigrations } from './schema.js';
export type { TrackerDB } from './schema.js';
export { positionAccepted, deviceConnection, deviceStatusChanged, shareChanged, type DeviceConnection, type ShareChanged } from './events.js';
export type { DeviceStatus, Motion } from './status.js';
export { defaultSettings, type TrackingSettings } from './settings.js';
export { describeVisibility, withinWorkingHours, OPERATOR_VISIBILITY, type OperatorVisibility, type VisibilityPolicy, type WorkingHours } from './visibility.js';
export { simplify, exportTrack, tripsAndStops, EXPORT_FORMATS, type ExportFormat, type Trip, type Stop } from './history.js';
export { Sharing, type Share, type ShareLink, type Followed, type Follower, type People } from './shares.js';
export { reportingInterval, MIN_INTERVAL, MAX_INTERVAL } from './interval.js';
