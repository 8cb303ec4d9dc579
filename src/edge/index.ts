/**
 * The edge: device connections and protocols. It turns frames into calls on the services
 * (EdgeDeps) and hands deliveries from the bus to the devices connected here.
 */
import type { Bus, Subscription } from '../ports/bus.js';
import type { HttpServer } from '../http/server.js';
import { dispatch } from '../services/notification/index.js';
import { deviceConnection } from '../services/tracker/index.js';
import type { EdgeDeps } from './deps.js';
import { registerHttpBatch } from './http-batch.js';
import { NativeProtocol } from './native-ws.js';
import { Sessions } from './sessions.js';

export type { EdgeDeps, DeviceIdentity } from './deps.js';
export { parseTime } from './fix.js';

export const DEVICE_WS_PATH = '/device/v1';

export interface Edge {
  readonly sessions: Sessions;
  close(): Promise<void>;
}

export async function startEdge(app: HttpServer, bus: Bus, deps: EdgeDeps, options: { maxFrameBytes: number }): Promise<Edge> {
  const sessions = new Sessions((session, connected) => {
    bus.publish(deviceConnection, session.deviceId, { tenantId: session.tenantId, deviceId: session.deviceId, connected, at: Date.now() }).catch((err: unknown) => deps.logger.error({ err }, 'publishing a connection event failed'));
  });
  const native = new NativeProtocol(deps, sessions, options.maxFrameBytes);
  app.server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === DEVICE_WS_PATH) native.handleUpgrade(request, socket, head);
    else socket.destroy();
  });
  registerHttpBatch(app, deps);
  // Deliveries go to whichever edge holds the device's connection; a device that is not connected
  // anywhere gets them from pendingFor when it next says hello.
  const subscription: Subscription = await bus.subscribe(dispatch, async ({ data }) => {
    const session = sessions.get(data.deviceId);
    if (!session || session.tenantId !== data.tenantId) return;
    if (session.send(data.frame)) await deps.markSent({ tenantId: data.tenantId, deviceId: data.deviceId }, [data.frame.deliveryId]);
  });
  return {
    sessions,
    async close() {
      await subscription.close();
      await native.close();
    },
  };
}
