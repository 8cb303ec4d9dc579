import type { Logger } from '../core/log.js';
import type { Provisioning } from '../provisioning/index.js';
import type { Bus } from '../ports/bus.js';
import type { ClientApi, GeofenceApi, NotificationApi, SharingApi, TrackerApi, WebhooksApi } from '../cluster/surfaces.js';

/** The services the API serves, through their public surfaces: the services themselves, or proxies of them in another process. */
export interface ApiDeps {
  client: ClientApi;
  tracker: TrackerApi;
  sharing: SharingApi;
  geofence: GeofenceApi;
  notification: NotificationApi;
  webhooks: WebhooksApi;
  provisioning: Provisioning;
  bus: Bus;
  logger: Logger;
}
