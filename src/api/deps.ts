import type { Logger } from '../core/log.js';
import type { Provisioning } from '../provisioning/index.js';
import type { Bus } from '../ports/bus.js';
import type { ClientService } from '../services/client/index.js';
import type { GeofenceService } from '../services/geofence/index.js';
import type { NotificationService } from '../services/notification/index.js';
import type { Sharing, TrackerService } from '../services/tracker/index.js';

/** The services the API serves, through their public surfaces. */
export interface ApiDeps {
  client: ClientService;
  tracker: TrackerService;
  sharing: Sharing;
  geofence: GeofenceService;
  notification: NotificationService;
  provisioning: Provisioning;
  bus: Bus;
  logger: Logger;
}
