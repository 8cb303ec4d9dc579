/** The API's resources as the web front uses them (the OpenAPI document at /api/v1/openapi.json is the reference). */
export type LonLat = [number, number];

export interface Tenant { id: string; name: string; slug: string; status: string; timeZone?: string | null }
export interface User { id: string; tenantId: string; email: string; name: string; role: 'owner' | 'admin' | 'operator' | 'member'; createdAt: number }
export interface Device { id: string; tenantId: string; name: string; userId: string | null; uniqueId: string | null; disabled: boolean; createdAt: number }
export interface Group { id: string; name: string; parentId: string | null; members: { userIds: string[]; deviceIds: string[] } }
export interface Position { deviceId: string; time: number; lon: number; lat: number; accuracy?: number; speed?: number; heading?: number; battery?: number; charging?: boolean; late?: boolean }
export interface DeviceStatus { deviceId: string; connection: 'online' | 'offline' | 'unknown'; motion: 'moving' | 'stopped' | 'unknown'; lastFixAt: number | null; battery: number | null; charging: boolean | null }
export interface Geometry { type: 'Point' | 'LineString' | 'Polygon' | 'MultiPolygon'; coordinates: unknown }
export type Day = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const DAYS: Day[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
/** A weekly window: open on each of `days` from `from` to `to` (HH:MM, local time; `to` before `from` runs past midnight). */
export interface WeeklyWindow { days: Day[]; from: string; to: string }
export interface Schedule { timeZone: string; windows: WeeklyWindow[] }
export interface AppliesTo { groupIds?: string[]; deviceIds?: string[] }
export interface Hysteresis { exitMargin: number; useAccuracy: boolean }
export interface Fence { id: string; name: string; geometry: Geometry; radius?: number; width?: number; tags: string[]; enabled: boolean; dwellMinutes: number | null; schedule: Schedule | null; appliesTo: AppliesTo | null; hysteresis: Hysteresis }
/** Quiet hours and rule schedules (the notification service's time window). */
export interface TimeWindow { from: string; to: string; days?: Day[]; timeZone?: string }
export interface Template { id: string; name: string; title: string; body: string; createdAt: number }
export interface NotificationSettings { webhookUrl: string | null; webhookSecret?: string; responders: Target | null; quietHours: TimeWindow | null; recipientHourlyLimit: number | null }
export interface Named { id: string; name: string }
export interface Directory { people: Named[]; groups: Named[] }
export interface FenceEvent { id: string; deviceId: string; fenceId: string; fenceName: string; type: string; time: number; lon: number; lat: number; distance: number }
export interface Sos { id: string; deviceId: string; at: number; lon?: number; lat?: number; text?: string }
/** An SOS alarm (GET …/sos-alarms): open until a responder acknowledges, then resolved by an operator. */
export interface SosAlarm {
  id: string; sosId: string; deviceId: string; deviceName: string; userId: string | null; personName: string | null; raisedAt: number;
  position: { lon: number; lat: number; accuracy: number | null } | null; text: string | null; state: 'open' | 'acknowledged' | 'resolved';
  message: { id: string; title: string; body: string } | null; responders: { deviceId: string; name: string; state: DeliveryState | null; acknowledgedAt: number | null }[];
  acknowledgedBy: { deviceId: string; name: string } | null; acknowledgedAt: number | null; resolvedBy: { userId: string | null; name: string } | null; resolvedAt: number | null; resolution: string | null;
}
export interface Target {
  deviceIds?: string[]; userIds?: string[]; groupIds?: string[]; fenceIds?: string[];
  /** An area drawn for the message: the server resolves it against last known positions. */
  area?: { geometry: Geometry; radius?: number }; maxAgeMinutes?: number;
}
/** POST …/messages/preview: whom a target reaches now. */
export interface Preview { devices: number; deviceIds: string[]; people: number; persons: Named[] }
export type DeliveryState = 'queued' | 'sent' | 'delivered' | 'read' | 'acknowledged' | 'expired' | 'failed' | 'unknown';
export interface Message { id: string; title: string; body: string; priority: 'normal' | 'high' | 'critical'; ackRequired: boolean; options: string[] | null; target: Target; createdAt: number; expiresAt: number | null; recipients: number; counts: Record<string, number> }
/** GET …/messages/{id}/deliveries: in the app per device (channel `app`), or per channel and recipient. */
export interface Delivery {
  id: string; messageId: string; channel: string; recipient: string; deviceId: string | null; state: DeliveryState; response: string | null; respondedBy: string | null;
  attempts: number | null; lastError: string | null; queuedAt: number; sentAt: number | null; deliveredAt: number | null; readAt: number | null; acknowledgedAt: number | null; unknownAt: number | null;
  settled: { by: string; name: string; at: number; note: string | null } | null;
}
/** One delivery's new state, in a `deliveries` event. */
export interface DeliveryUpdate { deliveryId: string; channel: string; deviceId?: string; recipient?: string; state: DeliveryState; response?: string; error?: string; at: number }
/** A `deliveries` event on the live stream: deliveries of one message that moved, up to 500. */
export interface DeliveryBatch { tenantId: string; messageId: string; updates: DeliveryUpdate[] }
export interface Rule { id: string; name: string; on: 'enter' | 'exit'; fenceId: string; target: Target; title: string; body: string; priority: string; enabled: boolean; schedule: TimeWindow | null }
export interface Trip { start: number; end: number; from: { lon: number; lat: number }; to: { lon: number; lat: number }; distanceMetres: number; durationSeconds: number; averageSpeed: number; maxSpeed: number; positions: number }
export interface Stop { start: number; end: number; lon: number; lat: number; durationSeconds: number; positions: number }
export type TrackingSettings = Record<string, number>;
export interface VisibilityPolicy { operatorVisibility: 'always' | 'working-hours' | 'while-sharing'; workingHours: { days: number[]; from: string; to: string; timeZone: string } }
