/** TypeBox schemas of the API's resources: they validate requests and document the API (OpenAPI). */
import { Type, type TSchema } from 'typebox';

export const Id = (description: string) => Type.String({ minLength: 1, maxLength: 80, description });
export const Millis = (description: string) => Type.Number({ description: `${description} (epoch milliseconds)` });
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/**
 * A number in a request body that may be null (clears it). Not `Nullable(Type.Integer())`: requests
 * are validated with type coercion (for query strings), and in a union ajv coerces a JSON null to 0
 * in the number branch before the null branch is tried. One schema with both types is not coerced.
 */
export const NullableIntegerInput = (options: { minimum?: number; description?: string } = {}) => Type.Unsafe<number | null>({ type: ['integer', 'null'], ...options });

export const TenantParams = Type.Object({ tenantId: Id('tenant id') });
export const TenantItemParams = Type.Object({ tenantId: Id('tenant id'), id: Id('resource id') });

export const Tenant = Type.Object({
  id: Type.String(),
  name: Type.String(),
  slug: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('suspended')]),
  createdAt: Type.Number(),
  timeZone: Type.Optional(Nullable(Type.String({ description: 'IANA time zone the Control Center shows times in and its forms start from (null: not set; the browser\'s is used)' }))),
});

export const User = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: Type.String({ enum: ['owner', 'admin', 'operator', 'member'] }),
  createdAt: Type.Number(),
});

export const Device = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  name: Type.String(),
  userId: Nullable(Type.String()),
  uniqueId: Nullable(Type.String({ description: 'how an OsmAnd tracker (`id`) or an OwnTracks topic (`USER/DEVICE`) names the device; unique per deployment' })),
  owntracksEncryption: Type.Boolean({ description: 'whether an OwnTracks encryption key is set (the key is never shown)' }),
  disabled: Type.Boolean(),
  createdAt: Type.Number(),
});

const UniqueId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: 'OsmAnd `id` / OwnTracks `USER/DEVICE`: 1 to 128 printable characters without spaces, unique per deployment' });
const OwntracksKey = Type.String({ maxLength: 256, description: 'the OwnTracks app\'s encryption key (a shared secret, kept readable on the server to decrypt; empty clears it)' });

export const DeviceCreate = Type.Object({
  name: Type.String(),
  userId: Type.Optional(Type.String({ description: 'the user who carries it' })),
  uniqueId: Type.Optional(UniqueId),
  owntracksKey: Type.Optional(OwntracksKey),
});

export const DeviceUpdate = Type.Object(
  {
    name: Type.Optional(Type.String()),
    userId: Type.Optional(Nullable(Type.String())),
    uniqueId: Type.Optional(Nullable(UniqueId)),
    owntracksKey: Type.Optional(Nullable(OwntracksKey)),
    disabled: Type.Optional(Type.Boolean({ description: 'true refuses the device at hello and closes its open connections at once; false readmits it' })),
  },
  { additionalProperties: false },
);

export const DeviceWithToken = Type.Object({
  device: Device,
  token: Type.String({ description: 'The device token. Shown this once; only its hash is kept.' }),
});

export const Group = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  name: Type.String(),
  parentId: Nullable(Type.String()),
  members: Type.Object({ userIds: Type.Array(Type.String()), deviceIds: Type.Array(Type.String()) }),
  createdAt: Type.Number(),
});

export const Position = Type.Object({
  tenantId: Type.String(),
  deviceId: Type.String(),
  time: Millis('fix time'),
  lon: Type.Number(),
  lat: Type.Number(),
  accuracy: Type.Optional(Type.Number()),
  altitude: Type.Optional(Type.Number()),
  speed: Type.Optional(Type.Number({ description: 'm/s' })),
  heading: Type.Optional(Type.Number()),
  battery: Type.Optional(Type.Number()),
  charging: Type.Optional(Type.Boolean()),
  receivedAt: Millis('arrival time'),
  late: Type.Boolean(),
});

export const Geometry = Type.Object(
  { type: Type.String({ enum: ['Point', 'LineString', 'Polygon', 'MultiPolygon'] }), coordinates: Type.Array(Type.Any()) },
  { description: 'GeoJSON geometry (RFC 7946), [longitude, latitude]: a Point (with radius: a circle), LineString (with width: a corridor), Polygon or MultiPolygon' },
);

const Hysteresis = Type.Object(
  {
    exitMargin: Type.Number({ description: 'metres beyond the boundary, on top of the accuracy, before an exit (default 10)' }),
    useAccuracy: Type.Boolean({ description: "whether the fix's accuracy widens the band in which the state is kept (default true)" }),
  },
  { description: 'docs/geofencing.md, "Hysteresis"' },
);

const Schedule = Type.Object(
  {
    timeZone: Type.String({ description: 'IANA time zone, e.g. Europe/Berlin' }),
    windows: Type.Array(
      Type.Object({
        days: Type.Array(Type.String({ enum: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] })),
        from: Type.String({ description: 'HH:MM local time, inclusive' }),
        to: Type.String({ description: 'HH:MM local time, exclusive; 24:00 = end of day; earlier than from = past midnight' }),
      }),
    ),
  },
  { description: 'When the fence is active; null: always' },
);

const AppliesTo = Type.Object(
  { groupIds: Type.Array(Type.String()), deviceIds: Type.Array(Type.String()) },
  { description: 'The devices the fence applies to; null: every device of the tenant' },
);

export const Fence = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  name: Type.String(),
  geometry: Type.Any({ description: 'GeoJSON geometry' }),
  radius: Type.Optional(Type.Number({ description: 'metres, for a circle (Point geometry)' })),
  width: Type.Optional(Type.Number({ description: 'metres, for a corridor (LineString geometry): width / 2 to each side' })),
  tags: Type.Array(Type.String()),
  metadata: Type.Record(Type.String(), Type.Any()),
  appliesTo: Nullable(AppliesTo),
  schedule: Nullable(Schedule),
  enabled: Type.Boolean(),
  hysteresis: Hysteresis,
  dwellMinutes: Nullable(Type.Integer({ description: 'a dwell event fires after this many minutes inside' })),
  createdAt: Type.Number(),
  updatedAt: Type.Number(),
});

/** A fence as sent by an operator; the service validates the details and names the field at fault. */
export const FenceBody = Type.Object({
  name: Type.String(),
  geometry: Geometry,
  radius: Type.Optional(Type.Number({ description: 'metres; required with a Point geometry' })),
  width: Type.Optional(Type.Number({ description: 'metres; required with a LineString geometry' })),
  tags: Type.Optional(Type.Array(Type.String())),
  metadata: Type.Optional(Type.Record(Type.String(), Type.Any(), { description: 'any JSON object up to 8 KiB' })),
  appliesTo: Type.Optional(Nullable(Type.Object({ groupIds: Type.Optional(Type.Array(Type.String())), deviceIds: Type.Optional(Type.Array(Type.String())) }))),
  schedule: Type.Optional(Nullable(Type.Any({ description: 'Schedule (see Fence.schedule)' }))),
  enabled: Type.Optional(Type.Boolean()),
  hysteresis: Type.Optional(Type.Object({ exitMargin: Type.Optional(Type.Number()), useAccuracy: Type.Optional(Type.Boolean()) })),
  dwellMinutes: Type.Optional(NullableIntegerInput({ description: 'a dwell event fires after this many minutes inside; null clears it' })),
});

export const FeatureCollection = Type.Object(
  { type: Type.Literal('FeatureCollection'), features: Type.Array(Type.Any()) },
  { description: 'GeoJSON FeatureCollection: one fence per Feature, attributes under properties (name, tags, metadata, radius/width, appliesTo, schedule, enabled, hysteresis, dwellMinutes)' },
);

const EventReason = Type.Object({
  distance: Type.Number({ description: 'fences: signed distance to the boundary in metres (negative inside); proximity: metres between the devices' }),
  accuracy: Type.Number({ description: 'the accuracy allowed for, metres' }),
  previous: Type.String({ enum: ['outside', 'inside', 'apart', 'within'] }),
  exitMargin: Type.Optional(Type.Number()),
  since: Type.Optional(Type.Number({ description: 'dwell: when the stay began' })),
  dwellMinutes: Type.Optional(Type.Number()),
  threshold: Type.Optional(Type.Number({ description: "proximity: the rule's distance" })),
  trigger: Type.Optional(Type.String({ enum: ['fix', 'timer'] })),
});

export const FenceEvent = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  deviceId: Type.String(),
  fenceId: Type.String({ description: 'the fence, or for within/apart the proximity rule' }),
  fenceName: Type.String(),
  type: Type.String({ enum: ['enter', 'exit', 'dwell', 'within', 'apart', 'reported_enter', 'reported_exit'] }),
  time: Type.Number(),
  lon: Type.Number(),
  lat: Type.Number(),
  accuracy: Type.Optional(Type.Number()),
  distance: Type.Number({ description: 'signed distance to the boundary in metres, negative inside (proximity: between the devices)' }),
  otherDeviceId: Type.Optional(Type.String()),
  reason: EventReason,
  source: Type.Optional(Type.String({ enum: ['device'], description: 'only on reported_enter / reported_exit: the device reported it (an OwnTracks transition); Follow Me did not compute it' })),
});

export const ProximityRule = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  name: Type.String(),
  deviceId: Type.String(),
  otherDeviceId: Nullable(Type.String()),
  otherGroupId: Nullable(Type.String()),
  distance: Type.Number({ description: 'metres' }),
  hysteresis: Hysteresis,
  enabled: Type.Boolean(),
  createdAt: Type.Number(),
});

export const ProximityBody = Type.Object({
  name: Type.String(),
  deviceId: Type.String(),
  otherDeviceId: Type.Optional(Type.String()),
  otherGroupId: Type.Optional(Type.String()),
  distance: Type.Number({ description: 'metres' }),
  hysteresis: Type.Optional(Type.Object({ exitMargin: Type.Optional(Type.Number()), useAccuracy: Type.Optional(Type.Boolean()) })),
  enabled: Type.Optional(Type.Boolean()),
});

const TargetFields = {
  deviceIds: Type.Optional(Type.Array(Type.String(), { maxItems: 100_000 })),
  userIds: Type.Optional(Type.Array(Type.String(), { maxItems: 100_000 })),
  groupIds: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  fenceIds: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  area: Type.Optional(
    Type.Object(
      { geometry: Geometry, radius: Type.Optional(Type.Number({ description: 'metres, with a Point geometry' })), width: Type.Optional(Type.Number({ description: 'metres, with a LineString geometry (a corridor)' })) },
      { description: 'An area drawn for this message: everyone whose last known position is inside it' },
    ),
  ),
  maxAgeMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'with area: only last known positions fresher than this many minutes count' })),
  responders: Type.Optional(Type.Boolean({ description: "the tenant's responders (notification settings)" })),
};

export const Target = Type.Object(TargetFields, {
  additionalProperties: false,
  description: 'Whom to reach: the union of devices, users (their devices), groups (with sub-groups), everyone inside the fences now, and everyone whose last known position is inside the area',
});

const DeliveryState = Type.String({ enum: ['queued', 'sent', 'delivered', 'read', 'acknowledged', 'expired', 'failed', 'unknown'] });
export const ChannelName = Type.String({ enum: ['app', 'email', 'sms', 'push', 'webhook'] });

export const Escalation = Type.Object(
  {
    minConfirmations: Type.Integer({ minimum: 1 }),
    withinMinutes: Type.Number({ exclusiveMinimum: 0 }),
    target: Target,
  },
  { description: 'If fewer than minConfirmations recipients acknowledged within withinMinutes, the message goes to target as well' },
);

export const SendMessage = Type.Object({
  target: Target,
  title: Type.String({ minLength: 1, maxLength: 200 }),
  body: Type.Optional(Type.String({ maxLength: 10_000 })),
  priority: Type.Optional(Type.String({ enum: ['normal', 'high', 'critical'] })),
  ackRequired: Type.Optional(Type.Boolean()),
  options: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 10 })),
  ttlSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  channels: Type.Optional(Type.Array(ChannelName, { minItems: 1, maxItems: 5, description: 'default ["app"]' })),
  escalation: Type.Optional(Escalation),
  liveMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10_080, description: 'live zone: for this long the message also reaches everyone who enters the target fence or area, once each' })),
});

export const Message = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  title: Type.String(),
  body: Type.String(),
  priority: Type.String({ enum: ['normal', 'high', 'critical'] }),
  ackRequired: Type.Boolean(),
  options: Nullable(Type.Array(Type.String())),
  target: Type.Any(),
  sender: Type.Any(),
  channels: Type.Array(ChannelName),
  createdAt: Type.Number(),
  expiresAt: Nullable(Type.Number()),
  escalation: Type.Any({ description: 'the escalation asked for, when it is due, and when it ran (null: none)' }),
  liveUntil: Nullable(Type.Number({ description: 'end of the live-zone window' })),
  parentId: Nullable(Type.String({ description: 'for a reminder: the message it reminds of' })),
  recipients: Type.Number({ description: 'in-app recipients (devices)' }),
  counts: Type.Record(Type.String(), Type.Number(), { description: 'in-app deliveries by state' }),
  channelCounts: Type.Record(Type.String(), Type.Record(Type.String(), Type.Number()), { description: 'e-mail, SMS, push and webhook deliveries by channel and state' }),
});

export const Delivery = Type.Object({
  id: Type.String(),
  messageId: Type.String(),
  channel: ChannelName,
  recipient: Type.String({ description: 'the device (app), user (email, sms), push subscription (push) or "tenant" (webhook)' }),
  deviceId: Nullable(Type.String()),
  state: DeliveryState,
  response: Nullable(Type.String()),
  respondedBy: Nullable(Type.String({ description: 'who recorded the response when it was not the recipient' })),
  attempts: Nullable(Type.Number()),
  lastError: Nullable(Type.String()),
  queuedAt: Type.Number(),
  sentAt: Nullable(Type.Number()),
  deliveredAt: Nullable(Type.Number()),
  readAt: Nullable(Type.Number()),
  acknowledgedAt: Nullable(Type.Number()),
  expiredAt: Nullable(Type.Number()),
  failedAt: Nullable(Type.Number()),
  unknownAt: Nullable(Type.Number()),
  settled: Nullable(Type.Object({ by: Type.String(), name: Type.String(), at: Type.Number(), note: Nullable(Type.String()) }, { description: 'an unknown delivery an operator settled as sent or failed afterwards: who, when, their note' })),
});

const Tally = Type.Record(Type.String(), Type.Number());
export const Responses = Type.Object({
  messageId: Type.String(),
  options: Nullable(Type.Array(Type.String())),
  recipients: Type.Number(),
  answered: Type.Number(),
  tally: Tally,
  byGroup: Type.Array(Type.Object({ groupId: Type.String(), recipients: Type.Number(), answered: Type.Number(), tally: Tally })),
  notAnswered: Type.Array(Type.Object({ deviceId: Type.String(), deliveryId: Type.String(), state: DeliveryState })),
});

export const Preview = Type.Object({
  devices: Type.Number(),
  deviceIds: Type.Array(Type.String()),
  people: Type.Number(),
  persons: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })),
});

export const NotificationSettings = Type.Object({
  webhookUrl: Nullable(Type.String()),
  webhookSecret: Type.Optional(Type.String({ description: 'shown when the webhook URL is set: verify X-FollowMe-Signature with it' })),
  responders: Type.Any({ description: 'the target an SOS goes to (null: none)' }),
  quietHours: Type.Any({ description: 'the tenant\'s quiet hours (null: none): rule alerts below critical leave everyone out meanwhile' }),
  recipientHourlyLimit: Nullable(Type.Number({ description: 'most rule alerts one device gets per hour; critical always passes' })),
});

export const TimeWindow = Type.Object(
  {
    from: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: 'HH:MM, 24-hour' }),
    to: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: 'HH:MM; not after from: the window runs across midnight' }),
    days: Type.Optional(Type.Array(Type.String({ enum: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] }), { minItems: 1, description: 'days the window starts on; all when absent' })),
    timeZone: Type.Optional(Type.String({ description: 'IANA time zone, e.g. Europe/Berlin; UTC when absent' })),
  },
  { additionalProperties: false },
);

const RuleTrigger = Type.String({ enum: ['enter', 'exit', 'dwell', 'within', 'apart', 'sos', 'offline', 'low_battery'] });

export const RuleInput = Type.Object({
  name: Type.String(),
  on: RuleTrigger,
  fenceId: Type.Optional(Type.String({ description: 'the fence (enter, exit, dwell) or proximity rule (within, apart)' })),
  target: Target,
  title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  body: Type.Optional(Type.String({ maxLength: 10_000 })),
  templateId: Type.Optional(Type.String({ description: 'use a stored template instead of title and body' })),
  priority: Type.Optional(Type.String({ enum: ['normal', 'high', 'critical'] })),
  channels: Type.Optional(Type.Array(ChannelName, { minItems: 1, maxItems: 5 })),
  enabled: Type.Optional(Type.Boolean()),
  batteryBelow: Type.Optional(Type.Integer({ minimum: 1, maximum: 99, description: 'low_battery: fire at or below this percentage (default 20)' })),
  schedule: Type.Optional(Type.Union([Type.Null(), TimeWindow], { description: 'when the rule runs; always when absent' })),
  cooldownSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 604_800, description: 'the rule alerts about one device at most once per this many seconds (default 300; low_battery 3600; sos 0)' })),
  maxPerHour: Type.Optional(Type.Integer({ minimum: 1, description: 'the rule sends at most this many alerts per hour' })),
});

export const Rule = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  name: Type.String(),
  on: RuleTrigger,
  fenceId: Nullable(Type.String()),
  target: Type.Any(),
  title: Type.String(),
  body: Type.String(),
  templateId: Nullable(Type.String()),
  priority: Type.String(),
  channels: Type.Array(ChannelName),
  enabled: Type.Boolean(),
  batteryBelow: Nullable(Type.Number()),
  schedule: Type.Any(),
  cooldownSeconds: Type.Number(),
  maxPerHour: Nullable(Type.Number()),
  createdAt: Type.Number(),
});

export const Template = Type.Object({ id: Type.String(), name: Type.String(), title: Type.String(), body: Type.String(), createdAt: Type.Number() });

export const Suppression = Type.Object({
  ruleId: Nullable(Type.String()),
  messageId: Nullable(Type.String()),
  subject: Nullable(Type.String({ description: 'the device the alert was about' })),
  recipient: Nullable(Type.String({ description: 'the device left out (null: the whole alert was)' })),
  reason: Type.String({ enum: ['outside_schedule', 'duplicate', 'rule_rate_limit', 'quiet_hours', 'recipient_rate_limit'] }),
  detail: Type.String(),
  at: Type.Number(),
});

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Number(),
    code: Type.String(),
    detail: Type.String(),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), reason: Type.String() }))),
  },
  { description: 'RFC 9457 problem details; `code` is from the error catalog (docs/errors.md)' },
);

export const DeviceStatus = Type.Object({
  deviceId: Type.String(),
  connection: Type.String({ enum: ['online', 'offline', 'unknown'] }),
  connectionAt: Nullable(Type.Number()),
  motion: Type.String({ enum: ['moving', 'stopped', 'unknown'] }),
  motionSince: Nullable(Type.Number()),
  lastFixAt: Nullable(Type.Number()),
  battery: Nullable(Type.Number()),
  charging: Nullable(Type.Boolean()),
  offlineSince: Nullable(Type.Number({ description: 'when the device went offline (no sign of life for offlineAfterSeconds, or disconnected); null while online' })),
});

const setting = (description: string) => Type.Number({ description });
export const TrackingSettings = Type.Object({
  maxAccuracy: setting('fixes with a worse accuracy (metres) are filtered; 0 off'),
  maxSpeed: setting('fixes implying a higher speed (m/s) from the previous one are filtered; 0 off'),
  jitterDistance: setting('stationary fixes within this many metres (or their accuracy) of the previous are filtered; 0 off'),
  jitterKeepAliveSeconds: setting('a stationary device still gets one fix stored per this many seconds'),
  maxAgeDays: setting('oldest fix accepted, days'),
  maxFutureSeconds: setting('furthest a fix may be in the future, seconds'),
  stopRadius: setting('stop detection: radius in metres …'),
  stopMinutes: setting('… to stay within for this many minutes'),
  offlineAfterSeconds: setting('a device is offline after this long without a report (a connection that carries no reports does not keep it online)'),
  retentionDays: setting('positions older than this are deleted; 0 keeps them'),
});

export const WorkingHours = Type.Object({
  days: Type.Array(Type.Integer({ minimum: 1, maximum: 7 }), { description: 'ISO weekdays: 1 Monday … 7 Sunday' }),
  from: Type.String({ description: 'HH:MM local time' }),
  to: Type.String({ description: 'HH:MM local time; before from: the window runs past midnight' }),
  timeZone: Type.String({ description: 'IANA time zone, e.g. Europe/Berlin' }),
});

export const VisibilityPolicy = Type.Object({
  operatorVisibility: Type.String({ enum: ['always', 'working-hours', 'while-sharing'], description: "what operators see of people's positions: always; only fixes within workingHours; only through the person's own share, from its start" }),
  workingHours: WorkingHours,
});

export const SosAlarm = Type.Object({
  id: Type.String(),
  tenantId: Type.String(),
  sosId: Type.String({ description: "the device's own id for the SOS (a resent SOS keeps it)" }),
  deviceId: Type.String(),
  deviceName: Type.String(),
  userId: Nullable(Type.String({ description: 'the person who carries the device' })),
  personName: Nullable(Type.String()),
  raisedAt: Millis('when the server received the SOS'),
  position: Nullable(Type.Object({ lon: Type.Number(), lat: Type.Number(), accuracy: Nullable(Type.Number({ description: 'metres' })) }, { description: 'where the device was, when it sent a position' })),
  text: Nullable(Type.String({ description: "the person's own words" })),
  state: Type.String({ enum: ['open', 'acknowledged', 'resolved'] }),
  message: Nullable(Type.Object({ id: Type.String(), title: Type.String(), body: Type.String() }, { description: 'the critical alert sent to the responders (null: the tenant had none set)' })),
  responders: Type.Array(Type.Object({ deviceId: Type.String(), name: Type.String(), state: Nullable(DeliveryState), acknowledgedAt: Nullable(Type.Number()) })),
  acknowledgedBy: Nullable(Type.Object({ deviceId: Type.String(), name: Type.String() }, { description: 'the first responder who acknowledged the alert' })),
  acknowledgedAt: Nullable(Type.Number()),
  resolvedBy: Nullable(Type.Object({ userId: Nullable(Type.String()), name: Type.String() })),
  resolvedAt: Nullable(Type.Number()),
  resolution: Nullable(Type.String({ description: "the operator's note on resolving" })),
});
