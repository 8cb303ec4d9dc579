/**
 * OwnTracks in MQTT mode. The app publishes to `owntracks/USER/DEVICE` (location, lwt) and its
 * subtopics `/event` (transition), `/waypoint`, `/waypoints`, `/info` (card), `/status`, …, and
 * listens on `owntracks/USER/DEVICE/cmd` for commands. Two ways in:
 *
 * - EmbeddedBroker (the default deployment): an aedes broker on FOLLOWME_MQTT_PORT. The app logs in
 *   with its OwnTracks user as username and the device token as password; it may publish only below
 *   `owntracks/<username>/`. A login whose token is rotated, or whose device or tenant stops being
 *   usable, is disconnected (revocation.ts); the app's reconnect is then refused. Positions are stored before the broker acknowledges (PUBACK) them, so
 *   the app keeps what was not stored. The broker relays nothing between devices: Follow Me decides
 *   what each app sees, and sends it to that app alone.
 * - ExternalBroker (a cluster): Follow Me subscribes to a broker such as Mosquitto with the shared
 *   subscription `$share/<FOLLOWME_MQTT_SHARE_GROUP>/owntracks/+/+` (and `…/+/+/+`), so several workers share the load.
 *   The broker authenticates the apps (its ACL must keep each user below its own topic); the topic's
 *   `USER/DEVICE` names the device by its unique id.
 *
 * Messages to a device go down its `/cmd` topic as `{"_type":"cmd","action":"action",…}` (see
 * cmdFor). OwnTracks sends no receipts, so a message counts as delivered once the broker took it for
 * the device.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { AppError } from '../core/errors.js';
import type { Bus, Subscription } from '../ports/bus.js';
import { dispatch, frameFor, recipientsOf, type MessageFrame } from '../services/notification/index.js';
import type { DeviceIdentity, EdgeDeps } from './deps.js';
import type { Intake } from './intake.js';
import type { ConnectionHolder, HeldConnection, Revocations } from './revocation.js';
import { looksEncrypted, OwntracksDecoder } from './owntracks.js';
import { EmbeddedFollow, ExternalFollow, filterMatches, type FollowerApp, type FriendPacket } from './owntracks-follow.js';

const decoder = new OwntracksDecoder();
const TOPIC = /^owntracks\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/;

/** The OwnTracks command that shows a Follow Me message in the app. */
export function cmdFor(frame: MessageFrame): object {
  const text = frame.body ? `${frame.title}\n\n${frame.body}` : frame.title;
  return {
    _type: 'cmd',
    action: 'action',
    // iOS shows `content` in a Featured Content tab and `notification` as a notification.
    content: text,
    notification: frame.body ? `${frame.title}: ${frame.body}` : frame.title,
    // Ignored by the apps; lets other clients relate it to the delivery.
    deliveryId: frame.deliveryId,
    messageId: frame.messageId,
    priority: frame.priority,
  };
}

/** Decodes and stores one OwnTracks MQTT message of a known device. Throws AppError for bad input. */
async function handleMessage(deps: EdgeDeps, intake: Intake, device: DeviceIdentity, subtopic: string | undefined, payload: Buffer): Promise<void> {
  // An empty payload clears a retained message; commands are for the device, not from it.
  if (payload.length === 0 || subtopic === 'cmd') return;
  const key = looksEncrypted(payload) ? await deps.owntracksKey(device) : undefined;
  const decoded = decoder.decode({ payload, key });
  const results = await intake.accept(decoder.protocol, device, decoded);
  const refused = results.find((r) => r.status === 'rejected');
  if (refused) throw new AppError('validation_failed', `${refused.field}: ${refused.reason}`);
}

interface Connected extends FollowerApp {
  client: Client;
  user: string;
  /** The device token it logged in with, and when its lookup began (revocation.ts). */
  token: string;
  lookupStartedAt: number;
  /** `owntracks/USER/DEVICE`, once the app has published or subscribed there. */
  base?: string;
}

export class EmbeddedBroker implements ConnectionHolder {
  private readonly aedes: Aedes;
  private readonly server: Server;
  private readonly clients = new WeakMap<Client, Connected>();
  /** The logged-in connections of each device (an app may hold more than one). */
  private readonly logins = new Map<string, Set<Connected>>();
  private readonly byDevice = new Map<string, { client: Client; state: Connected }>();
  /** Payloads Follow Me itself sends to one client: the only packets the broker forwards. */
  private readonly ours = new WeakSet<Buffer>();
  /** Friends' messages (follow me), forwarded only while the receiving app may see them. */
  private readonly friends = new WeakMap<Buffer, FriendPacket>();
  private readonly follow: EmbeddedFollow;
  private subscription: Subscription | undefined;

  private constructor(
    private readonly deps: EdgeDeps,
    private readonly intake: Intake,
    private readonly revocations: Revocations,
    maxPayloadBytes: number,
  ) {
    const log = deps.logger;
    this.aedes = new Aedes({
      authenticate: (client, username, password, done) => {
        const token = password?.toString('utf8') ?? '';
        const refuse = (returnCode: 4 | 5, why: string) => {
          log.debug({ clientId: client.id, why }, 'mqtt login refused');
          done(Object.assign(new Error(why), { returnCode }) as AuthenticateError, false);
        };
        if (!username || token === '') return refuse(4, 'username (OwnTracks user) and password (device token) are required');
        const lookupStartedAt = Date.now();
        this.intake.identify({ kind: 'token', token }).then(
          (device) => {
            this.clients.set(client, { client, device, user: username, token, lookupStartedAt, follows: new Map(), refreshedAt: 0 });
            done(null, true);
          },
          (err: unknown) => refuse(err instanceof AppError && err.code !== 'unauthenticated' ? 5 : 4, err instanceof Error ? err.message : 'refused'),
        );
      },
      authorizePublish: (client, packet, done) => {
        const state = client && this.clients.get(client);
        if (!state) return done(new Error('not authenticated'));
        const match = TOPIC.exec(packet.topic);
        if (!match || match[1] !== state.user) {
          log.debug({ deviceId: state.device.deviceId, topic: packet.topic }, 'mqtt publish outside owntracks/<user>/ refused');
          return done(new Error(`publish only below owntracks/${state.user}/`));
        }
        this.learnBase(client, state, `owntracks/${match[1]}/${match[2]}`);
        const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
        if (payload.length > maxPayloadBytes) {
          this.intake.refused(decoder.protocol, new AppError('payload_too_large', `payload of ${payload.length} bytes`));
          return done(null);
        }
        // Stored before the broker acknowledges: the app keeps (and resends) what failed to store.
        handleMessage(this.deps, this.intake, state.device, match[3], payload).then(
          () => done(null),
          (err: unknown) => {
            this.intake.refused(decoder.protocol, err);
            // Bad input is acknowledged and dropped (resending it would not help); a failure to store is not.
            if (err instanceof AppError) done(null);
            else done(err instanceof Error ? err : new Error(String(err)));
          },
        );
      },
      authorizeSubscribe: (client, subscription, done) => {
        const state = this.clients.get(client);
        const match = /^owntracks\/([^/]+)\/([^/]+)\/cmd$/.exec(subscription.topic);
        if (state && match && match[1] === state.user) this.learnBase(client, state, `owntracks/${match[1]}/${match[2]}`);
        done(null, subscription);
      },
      // Nothing is relayed between apps: only what Follow Me sends, and friends' messages only while the share lasts.
      authorizeForward: (client, packet) => {
        const payload = packet.payload as Buffer;
        if (this.ours.has(payload)) return packet;
        const about = this.friends.get(payload);
        const state = this.clients.get(client);
        return about && state && this.follow.mayForward(state, about) ? packet : null;
      },
    });
    this.follow = new EmbeddedFollow(deps, (app, topic, payload, about) => {
      this.friends.set(payload, about);
      const packet: PublishPacket = { cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false };
      return new Promise<void>((resolve) => (app as Connected).client.publish(packet, () => resolve()));
    });
    // An app that subscribes to friends' topics (by default owntracks/+/+) is shown the people who share with its user.
    this.aedes.on('subscribe', (subscriptions, client) => {
      const state = this.clients.get(client);
      if (state && subscriptions.some((sub) => filterMatches(sub.topic, 'owntracks/user/device'))) {
        this.follow.listen(state).catch((err: unknown) => log.error({ err, deviceId: state.device.deviceId }, 'follow me: showing friends to an OwnTracks app failed'));
      }
    });
    // Counted once connected (not at authenticate, which a connection may not get past), so that every login here ends with clientDisconnect.
    this.aedes.on('client', (client) => {
      const state = this.clients.get(client);
      if (!state) return;
      const logins = this.logins.get(state.device.deviceId) ?? new Set<Connected>();
      logins.add(state);
      this.logins.set(state.device.deviceId, logins);
      this.revocations.admitted(this.held(state), state.lookupStartedAt);
    });
    this.aedes.on('clientDisconnect', (client) => {
      const state = this.clients.get(client);
      if (!state) return;
      if (this.byDevice.get(state.device.deviceId)?.client === client) this.byDevice.delete(state.device.deviceId);
      const logins = this.logins.get(state.device.deviceId);
      if (logins?.delete(state) && logins.size === 0) this.logins.delete(state.device.deviceId);
      this.follow.forget(state);
    });
    this.aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'));
    this.server = createServer((socket) => this.aedes.handle(socket));
  }

  static async start(deps: EdgeDeps, intake: Intake, bus: Bus, revocations: Revocations, options: { host: string; port: number; maxPayloadBytes: number }): Promise<EmbeddedBroker> {
    const broker = new EmbeddedBroker(deps, intake, revocations, options.maxPayloadBytes);
    revocations.hold(broker);
    await broker.aedes.listen();
    await new Promise<void>((resolve, reject) => {
      broker.server.once('error', reject);
      broker.server.listen(options.port, options.host, () => resolve());
    });
    await broker.follow.start(bus);
    broker.subscription = await bus.subscribe(dispatch, async ({ data }) => {
      for (const { deviceId, deliveryId } of recipientsOf(data)) {
        const held = broker.byDevice.get(deviceId);
        if (!held || held.state.device.tenantId !== data.tenantId) continue;
        await broker.send(held.client, held.state, [frameFor(data, deliveryId)]);
      }
    });
    return broker;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  *connectionsOf(tenantId: string, deviceId: string | undefined): Iterable<HeldConnection> {
    const devices = deviceId === undefined ? this.logins.values() : [this.logins.get(deviceId) ?? new Set<Connected>()];
    for (const logins of devices) {
      for (const state of logins) if (state.device.tenantId === tenantId) yield this.held(state);
    }
  }

  private held(state: Connected): HeldConnection {
    return {
      tenantId: state.device.tenantId,
      deviceId: state.device.deviceId,
      token: state.token,
      // MQTT 3.1.1 has no reason on a disconnect: the app reconnects and its CONNACK says why (return code 4 or 5).
      revoke: (refusal) => {
        this.deps.logger.info({ deviceId: state.device.deviceId, code: refusal.code }, 'mqtt login revoked');
        state.client.close();
      },
    };
  }

  async close(): Promise<void> {
    await this.subscription?.close();
    await this.follow.close();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The first time a connection shows its topic, it becomes the device's way down, and what waits is sent. */
  private learnBase(client: Client, state: Connected, base: string): void {
    if (state.base === base && this.byDevice.get(state.device.deviceId)?.client === client) return;
    state.base = base;
    this.byDevice.set(state.device.deviceId, { client, state });
    this.deps.pendingFor(state.device).then(
      (pending) => this.send(client, state, pending),
      (err: unknown) => this.deps.logger.error({ err, deviceId: state.device.deviceId }, 'pending messages for an OwnTracks device failed'),
    );
  }

  private async send(client: Client, state: Connected, frames: MessageFrame[]): Promise<void> {
    if (frames.length === 0 || !state.base) return;
    for (const frame of frames) {
      const payload = Buffer.from(JSON.stringify(cmdFor(frame)));
      this.ours.add(payload);
      const packet: PublishPacket = { cmd: 'publish', topic: `${state.base}/cmd`, payload, qos: 1, retain: false, dup: false };
      await new Promise<void>((resolve, reject) => client.publish(packet, (err) => (err ? reject(err) : resolve())));
    }
    await markDelivered(this.deps, state.device, frames);
  }
}

async function markDelivered(deps: EdgeDeps, device: DeviceIdentity, frames: MessageFrame[]): Promise<void> {
  await deps.markSent(device, frames.map((f) => f.deliveryId));
  for (const frame of frames) await deps.receipt(device, frame.deliveryId, 'delivered');
}

export class ExternalBroker {
  private subscription: Subscription | undefined;
  private follow: ExternalFollow | undefined;
  /** When the messages waiting for a device were last looked up (they are sent when it reports). */
  private readonly pendingChecked = new Map<string, number>();

  private constructor(
    private readonly deps: EdgeDeps,
    private readonly intake: Intake,
    private readonly client: MqttClient,
  ) {}

  static async start(deps: EdgeDeps, intake: Intake, bus: Bus, options: { url: string; maxPayloadBytes: number; shareGroup?: string | undefined }): Promise<ExternalBroker> {
    // Messages may arrive before connectAsync resolves; they wait for the broker object.
    const ready: { broker?: ExternalBroker } = {};
    const client = await mqtt.connectAsync(options.url, {
      protocolVersion: 5,
      clientId: `followme-${randomBytes(6).toString('hex')}`,
      clean: true,
      reconnectPeriod: 2000,
      // Acknowledge a message only once it is stored (or refused for good).
      customHandleAcks: (topic, payload, _packet, done) => {
        if (!ready.broker) return done(0x80);
        ready.broker.receive(topic, payload, options.maxPayloadBytes).then(
          () => done(0),
          (err: unknown) => {
            // 0x80 "unspecified error": the broker drops it; logged and counted by receive.
            done(err instanceof AppError ? 0 : 0x80);
          },
        );
      },
    });
    const broker = new ExternalBroker(deps, intake, client);
    ready.broker = broker;
    client.on('error', (err) => deps.logger.warn({ err: err.message }, 'external MQTT broker error'));
    const group = options.shareGroup ?? 'followme';
    await client.subscribeAsync([`$share/${group}/owntracks/+/+`, `$share/${group}/owntracks/+/+/+`], { qos: 1 });
    // One worker of the cluster sends each message down (a durable consumer is shared, not copied).
    broker.subscription = await bus.consume(dispatch, 'edge-owntracks-mqtt', async ({ data }) => {
      for (const { deviceId, deliveryId } of recipientsOf(data)) await broker.sendTo({ tenantId: data.tenantId, deviceId }, [frameFor(data, deliveryId)]);
    });
    broker.follow = new ExternalFollow(deps, {
      publish: async (topic, payload, expirySeconds) => {
        await client.publishAsync(topic, payload, { qos: 1, retain: true, ...(expirySeconds === undefined ? {} : { properties: { messageExpiryInterval: expirySeconds } }) });
      },
    });
    await broker.follow.start(bus);
    return broker;
  }

  async close(): Promise<void> {
    await this.subscription?.close();
    await this.follow?.close();
    await this.client.endAsync();
  }

  private async receive(topic: string, payload: Buffer, maxPayloadBytes: number): Promise<void> {
    const match = TOPIC.exec(topic);
    if (!match || match[3] === 'cmd') return;
    try {
      if (payload.length > maxPayloadBytes) throw new AppError('payload_too_large', `payload of ${payload.length} bytes on ${topic}`);
      const device = await this.intake.identify({ kind: 'uniqueId', uniqueId: `${match[1]}/${match[2]}` });
      await handleMessage(this.deps, this.intake, device, match[3], payload);
      this.sendPendingSometimes(device);
    } catch (err) {
      this.intake.refused(decoder.protocol, err);
      throw err;
    }
  }

  /** Messages queued while Follow Me could not know the topic: looked up at most once a minute per device. */
  private sendPendingSometimes(device: DeviceIdentity): void {
    const now = Date.now();
    if ((this.pendingChecked.get(device.deviceId) ?? 0) > now - 60_000) return;
    this.pendingChecked.set(device.deviceId, now);
    this.deps.pendingFor(device).then(
      (frames) => this.sendTo(device, frames),
      (err: unknown) => this.deps.logger.error({ err, deviceId: device.deviceId }, 'pending messages for an OwnTracks device failed'),
    );
  }

  private async sendTo(device: DeviceIdentity, frames: MessageFrame[]): Promise<void> {
    if (frames.length === 0) return;
    const uniqueId = await this.deps.uniqueIdOf(device);
    if (!uniqueId || !/^[^/]+\/[^/]+$/.test(uniqueId)) return; // not an OwnTracks device on this broker
    for (const frame of frames) await this.client.publishAsync(`owntracks/${uniqueId}/cmd`, JSON.stringify(cmdFor(frame)), { qos: 1 });
    await markDelivered(this.deps, device, frames);
  }
}

