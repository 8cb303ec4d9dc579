/** The operator API under /api/v1: REST routes, the live stream and the OpenAPI document. */
import type { HttpServer } from '../http/server.js';
import type { ApiDeps } from './deps.js';
import { LiveHub, liveRoutes } from './live.js';
import { registerOpenApi } from './openapi.js';
import { fenceRoutes } from './routes/fences.js';
import { messagingRoutes } from './routes/messaging.js';
import { notificationSettingsRoutes } from './routes/notification-settings.js';
import { ruleRoutes } from './routes/rules.js';
import { sosAlarmRoutes } from './routes/sos-alarms.js';
import { webhookRoutes } from './routes/webhooks.js';
import { peopleRoutes } from './routes/people.js';
import { tenantRoutes } from './routes/tenants.js';
import { trackingRoutes } from './routes/tracking.js';
import { sharingRoutes } from './routes/sharing.js';
import { platformRoutes } from './routes/platform.js';
import { auditHook } from './audit.js';
import { sharePage } from './share-page.js';
import { invitePage } from './invite-page.js';
import { platformPage } from './platform-page.js';

export type { ApiDeps } from './deps.js';

export const API_PREFIX = '/api/v1';

export interface Api {
  close(): Promise<void>;
}

/** Registers the API on the listener; call before the listener starts. */
export async function registerApi(app: HttpServer, deps: ApiDeps): Promise<Api> {
  await registerOpenApi(app);
  const hub = new LiveHub();
  await hub.start(deps.bus);
  await app.register(
    async (api) => {
      const scoped = api as unknown as HttpServer;
      tenantRoutes(scoped, deps);
      peopleRoutes(scoped, deps);
      trackingRoutes(scoped, deps);
      fenceRoutes(scoped, deps);
      messagingRoutes(scoped, deps);
      ruleRoutes(scoped, deps);
      notificationSettingsRoutes(scoped, deps);
      sosAlarmRoutes(scoped, deps);
      webhookRoutes(scoped, deps);
      liveRoutes(scoped, deps, hub);
      sharingRoutes(scoped, deps, hub);
      platformRoutes(scoped, deps);
      scoped.addHook('onResponse', auditHook(deps));
    },
    { prefix: API_PREFIX },
  );
  sharePage(app);
  invitePage(app);
  platformPage(app);
  app.get(`${API_PREFIX}/openapi.json`, { schema: { hide: true } }, async () => app.swagger());
  return { close: () => hub.close() };
}
