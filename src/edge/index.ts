/**
 * The edge: device connections and protocols. It turns frames into calls on the services
 * (EdgeDeps) and hands deliveries from the bus to the devices connected here.
 */
import type { Bus, Subscription } from '../ports/bus.js';
import type { HttpServer } from '../http/server.js';
import { dispatch, frameFor, recipientsOf } from '../services/notification/index.js';
import { deviceConnection } from '../services/tracker/index.js';
import type { EdgeDeps } from './deps.js';
import { registerHttpBatch } from './http-batch.js';
import { Intake } from './intake.js';
import { NativeProtocol } from './native-ws.js';
import { startOsmand, type OsmandListener } from './osmand-http.js';
import type { SpeedUnit } from './osmand.js';
import { registerOwntracksHttp } from './owntracks-http.js';
import { EmbeddedBroker, ExternalBroker } from './owntracks-mqtt.js';
import { Revocations } from './revocation.js';
import { Sessions } from './sessions.js';

export type { EdgeDeps, DeviceIdentity, Friend } from './deps.js';
export { parseTime } from './fix.js';

export const DEVICE_WS_PATH = '/device/v1';

export interface Edge {
  readonly sessions: Sessions;
  /** The OsmAnd listener's port, undefined when it is off. */
  readonly osmandPort: number | undefined;
  /** The embedded MQTT broker's port, undefined when it is off. */
  readonly mqttPort: number | undefined;
  close(): Promise<void>;
}

export interface EdgeOptions {
  maxFrameBytes: number;
  /** Address the OsmAnd listener and the embedded MQTT broker bind to (the main listener's HOST). */
  host?: string;
  osmandPort?: number | 'off';
  osmandSpeedUnit?: SpeedUnit;
  mqttPort?: number | 'off';
  /** An external broker to subscribe to ('' for none). */
  mqttUrl?: string;
  /** Shared subscription group on the external broker (default followme). */
  mqttShareGroup?: string;
}

/** The protocols, in the order they start: native (WebSocket and HTTP batch), OwnTracks HTTP, OsmAnd, OwnTracks MQTT. */
export async function startEdge(app: HttpServer, bus: Bus, deps: EdgeDeps, options: EdgeOptions): Promise<Edge> {
  const host = options.host ?? '127.0.0.1';
  const intake = new Intake(deps);
  const sessions = new Sessions((session, connected) => {
    bus.publish(deviceConnection, session.deviceId, { tenantId: session.tenantId, deviceId: session.deviceId, connected, at: Date.now() }).catch((err: unknown) => deps.logger.error({ err }, 'publishing a connection event failed'));
  });
  // A rotated token, a deleted or disabled device, a suspended or deleted tenant: the connections held here close now, not at their next hello.
  const revocations = new Revocations(deps, [intake]);
  revocations.hold(sessions);
  const native = new NativeProtocol(deps, sessions, revocations, options.maxFrameBytes);
  app.server.on('upgrade', (request, socket, head) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === DEVICE_WS_PATH) native.handleUpgrade(request, socket, head);
    else socket.destroy();
  });
  registerHttpBatch(app, deps);
  registerOwntracksHttp(app, deps, intake);
  const stops: (() => Promise<void>)[] = [];
  let osmand: OsmandListener | undefined;
  let embedded: EmbeddedBroker | undefined;
  try {
    if (options.osmandPort !== undefined && options.osmandPort !== 'off') {
      osmand = await startOsmand(deps, intake, { host, port: options.osmandPort, maxBodyBytes: options.maxFrameBytes, speedUnit: options.osmandSpeedUnit ?? 'knots' });
      stops.push(() => osmand!.close());
    }
    if (options.mqttPort !== undefined && options.mqttPort !== 'off') {
      embedded = await EmbeddedBroker.start(deps, intake, bus, revocations, { host, port: options.mqttPort, maxPayloadBytes: options.maxFrameBytes });
      stops.push(() => embedded!.close());
    }
    if (options.mqttUrl) {
      const external = await ExternalBroker.start(deps, intake, bus, { url: options.mqttUrl, maxPayloadBytes: options.maxFrameBytes, shareGroup: options.mqttShareGroup });
      stops.push(() => external.close());
    }
  } catch (err) {
    for (const stop of stops.reverse()) await stop();
    throw err;
  }
  // Deliveries go to whichever edge holds the device's connection; a device that is not connected
  // anywhere gets them from pendingFor when it next says hello.
  // A dispatch names up to DISPATCH_BATCH devices; what this edge handed over is reported in one call.
  const subscription: Subscription = await bus.subscribe(dispatch, async ({ data }) => {
    const sent: string[] = [];
    let someone: { tenantId: string; deviceId: string } | undefined;
    for (const { deviceId, deliveryId } of recipientsOf(data)) {
      const session = sessions.get(deviceId);
      if (!session || session.tenantId !== data.tenantId) continue;
      if (session.send(frameFor(data, deliveryId))) {
        sent.push(deliveryId);
        someone ??= { tenantId: data.tenantId, deviceId };
      }
    }
    if (someone) await deps.markSent(someone, sent);
  });
  const revocationNotices = await revocations.watch(bus);
  return {
    sessions,
    osmandPort: osmand?.port,
    mqttPort: embedded?.port,
    async close() {
      await subscription.close();
      await revocationNotices.close();
      for (const stop of stops.reverse()) await stop();
      await native.close();
    },
  };
}
