/**
 * What each service answers to other processes: the methods of its public surface that the edge,
 * the api and the other services call. `ApiDeps` and the composition root take these types, so a
 * process gets either the service itself (embedded, or the role runs here) or a `remote` proxy of it,
 * and the compiler refuses a caller that uses a method not listed here.
 */
import type { ClientService } from '../services/client/index.js';
import type { GeofenceService } from '../services/geofence/index.js';
import type { NotificationService, Webhooks } from '../services/notification/index.js';
import type { Sharing, TrackerService } from '../services/tracker/index.js';
import type { Surface } from './rpc.js';

/** A tenant's data as a whole (provisioning: export, delete, import), served by every service. */
const tenantData = ['exportTenant', 'purgeTenant', 'importTenant'] as const;

export const clientMethods = [
  'createTenant', 'listTenants', 'getTenant', 'updateTenant', 'findTenantBySlug', 'setTenantStatus',
  'createUser', 'listUsers', 'getUser', 'deleteUser', 'login',
  'createDevice', 'createDevices', 'updateDevice', 'listDevices', 'getDevice', 'rotateDeviceToken', 'deleteDevice',
  'createGroup', 'addGroupMembers', 'removeGroupMember', 'listGroups', 'getGroup', 'deleteGroup', 'directory',
  'resolveDevices', 'peopleOf', 'groupsOfUser', 'devicesOfUser', 'authenticate', 'authenticateDevice', 'authenticateByUniqueId', 'owntracksKey',
  'record', 'acceptInvitation', 'usage', 'setPlan', 'getBranding', 'setBranding', 'listDomains', 'addDomain', 'removeDomain', 'auditLog', 'tenantByHost',
  ...tenantData, 'provisionTenant', 'findTenantByExternalRef',
] as const satisfies readonly (keyof ClientService)[];

/** `ingest` and `isStopped` read and change a device's state: they go to the owner of the device's partition. */
export const trackerMethods = [
  'ingest', 'isStopped', 'getSettings', 'updateSettings', 'getVisibility', 'updateVisibility', 'statuses', 'lastKnownPositions', 'history', 'track', 'trips', 'lastKnownOf', ...tenantData,
] as const satisfies readonly (keyof TrackerService)[];
export const trackerByKey = ['ingest', 'isStopped'] as const satisfies readonly (typeof trackerMethods)[number][];

export const sharingMethods = ['share', 'myShares', 'revoke', 'following', 'followedDevices', 'followersOf', 'createLink', 'openLink'] as const satisfies readonly (keyof Sharing)[];

export const geofenceMethods = [
  'createFence', 'updateFence', 'deleteFence', 'getFence', 'listFences', 'importFences', 'exportFences',
  'createProximityRule', 'listProximityRules', 'getProximityRule', 'deleteProximityRule',
  'insideNow', 'presenceIn', 'fencesOf', 'containing', 'devicesNear', 'staysIn', 'nearestBoundary', 'listEvents', 'eventsAfter',
  'saveDeviceRegion', 'recordReportedEvent', ...tenantData,
] as const satisfies readonly (keyof GeofenceService)[];

export const notificationMethods = [
  'send', 'preview', 'getMessage', 'listMessages', 'listDeliveries', 'pendingFor', 'markSent', 'receipt', 'respondOnBehalf', 'settleDelivery', 'createRule', 'listRules', 'deleteRule',
  'importCap', 'exportCap', 'responses', 'remind', 'suppressed', 'createTemplate', 'listTemplates', 'updateTemplate', 'deleteTemplate',
  'getSettings', 'updateSettings', 'setPhone', 'setQuietHours', 'getProfile', 'vapidPublicKey', 'addPushSubscription', 'deletePushSubscription', 'settled', 'listSosAlarms', 'getSosAlarm', 'resolveSosAlarm', ...tenantData,
] as const satisfies readonly (keyof NotificationService)[];

/** Geofence event subscriptions (webhooks), part of the notification service, served as `webhooks`. */
export const webhookMethods = [
  'create', 'list', 'get', 'update', 'remove', 'secret', 'rotateSecret', 'test',
  'deliveries', 'delivery', 'replay', 'replayDead', 'removeDelivery', 'settled',
] as const satisfies readonly (keyof Webhooks)[];

export type ClientApi = Surface<ClientService, (typeof clientMethods)[number]>;
export type TrackerApi = Surface<TrackerService, (typeof trackerMethods)[number]>;
export type SharingApi = Surface<Sharing, (typeof sharingMethods)[number]>;
export type GeofenceApi = Surface<GeofenceService, (typeof geofenceMethods)[number]>;
export type NotificationApi = Surface<NotificationService, (typeof notificationMethods)[number]>;
export type WebhooksApi = Surface<Webhooks, (typeof webhookMethods)[number]>;
