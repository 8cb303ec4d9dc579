/**
 * The live stream for the Control Center: Server-Sent Events of positions, fence events and
 * delivery updates (batched per message) of one tenant. One bus subscription per topic per process,
 * held while streams are open, fans out to every open stream; a stream that cannot keep up is closed
 * rather than allowed to buffer without bound.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { Gauge } from 'prom-client';
import { registry } from '../core/metrics.js';
import type { Bus, Subscription, Topic } from '../ports/bus.js';
import type { HttpServer } from '../http/server.js';
import { deviceStatusChanged, positionAccepted, shareChanged } from '../services/tracker/index.js';
import { fenceEvent } from '../services/geofence/index.js';
import { deliveryUpdated, sosAlarmChanged, sosRaised, updatesOf } from '../services/notification/index.js';
import { contextOf } from './auth.js';
import type { ApiDeps } from './deps.js';
import { TenantParams } from './schemas.js';
import { positionView } from './visibility.js';

const MAX_BUFFERED = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;
const VIEW_REFRESH_MS = 15_000;
const streams = new Gauge({ name: 'followme_api_live_streams', help: 'Open live (SSE) streams', registers: [registry] });

type Listener = (event: string, data: unknown) => void;

/** How long the hub keeps its bus subscriptions after the last stream closed (a reload comes back sooner). */
const IDLE_MS = 60_000;

/**
 * The bus topics a stream shows, each subscribed once per process and fanned out to the open
 * streams of the event's tenant. Subscribed only while a stream is open (and IDLE_MS after): every
 * position, fence event and delivery update of every tenant would otherwise cross the bus to each
 * api process, and be copied there, for nobody.
 */
export class LiveHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private listening = 0;
  private subscriptions: Subscription[] = [];
  private subscribed: Promise<void> | undefined;
  private idle: NodeJS.Timeout | undefined;
  private bus: Bus | undefined;

  constructor(private readonly idleMs = IDLE_MS) {}

  async start(bus: Bus): Promise<void> {
    this.bus = bus;
  }

  /** Resolves once the bus subscriptions are in place: a stream says hello after this, and misses nothing published after its hello. */
  ready(): Promise<void> {
    clearTimeout(this.idle);
    this.idle = undefined;
    if (!this.subscribed) {
      const subscribing = this.subscribe();
      this.subscribed = subscribing;
      subscribing.catch(() => {
        if (this.subscribed === subscribing) this.subscribed = undefined;
      });
    }
    return this.subscribed;
  }

  listen(tenantId: string, listener: Listener): () => void {
    let set = this.listeners.get(tenantId);
    if (!set) this.listeners.set(tenantId, (set = new Set()));
    set.add(listener);
    this.listening++;
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(tenantId);
      if (--this.listening === 0) this.idle = setTimeout(() => void this.release(), this.idleMs).unref();
    };
  }

  async close(): Promise<void> {
    clearTimeout(this.idle);
    this.subscribed = undefined;
    const subscriptions = this.subscriptions;
    this.subscriptions = [];
    for (const s of subscriptions) await s.close();
  }

  private async subscribe(): Promise<void> {
    const bus = this.bus;
    if (!bus) throw new Error('the live hub has not been started');
    const add = async <T>(t: Topic<T>, handler: (data: T) => void) => {
      this.subscriptions.push(await bus.subscribe(t, ({ data }) => handler(data)));
    };
    const forward = <T extends { tenantId: string }>(t: Topic<T>, event: string) => add(t, (data) => this.emit(data.tenantId, event, data));
    await forward(positionAccepted, 'position');
    await forward(fenceEvent, 'fence');
    // One event per bus batch (a message's deliveries, up to UPDATE_BATCH), so a browser following a
    // send to 10,000 devices parses 20 events, not 10,000.
    await add(deliveryUpdated, (data) => this.emit(data.tenantId, 'deliveries', { tenantId: data.tenantId, messageId: data.messageId, updates: updatesOf(data) }));
    await forward(deviceStatusChanged, 'status');
    // Not sent to streams: tells them that what a viewer may see has changed.
    await forward(shareChanged, 'share');
    // without `kept`, which tells the notification consumer only (embedded: kept before the ack)
    await add(sosRaised, (data) => this.emit(data.tenantId, 'sos', { ...data, kept: undefined }));
    await forward(sosAlarmChanged, 'sos-alarm');
  }

  /** Drops the subscriptions once no stream has been open for idleMs. */
  private async release(): Promise<void> {
    this.idle = undefined;
    if (this.listening > 0 || !this.subscribed) return;
    await this.subscribed.catch(() => undefined);
    if (this.listening > 0 || this.idle !== undefined) return; // a stream came meanwhile
    await this.close();
  }

  private emit(tenantId: string, event: string, data: unknown): void {
    for (const listener of this.listeners.get(tenantId) ?? []) listener(event, data);
  }
}

/**
 * Turns a reply into an event stream of one tenant's hub events that pass `filter`, each shown
 * through `project`. The stream ends by itself at `until` (epoch ms) with an `expired` event, if given.
 */
export async function openStream(reply: FastifyReply, hub: LiveHub, tenantId: string, hello: object, filter: (event: string, data: unknown) => boolean, until?: number, project: (data: unknown) => unknown = (d) => d): Promise<void> {
  await hub.ready();
  const res: ServerResponse = reply.raw;
  if (res.destroyed || res.socket?.destroyed !== false) return; // gone while the hub subscribed: nothing to stream to
  reply.hijack();
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write(`event: hello\ndata: ${JSON.stringify({ ...hello, serverTime: Date.now() })}\n\n`);
  streams.inc();
  const stop = hub.listen(tenantId, (event, data) => {
    if (!filter(event, data)) return;
    if (res.writableLength > MAX_BUFFERED) {
      res.destroy();
      return;
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(project(data))}\n\n`);
  });
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const expiry = until === undefined ? undefined : setTimeout(() => res.end('event: expired\ndata: {}\n\n'), Math.max(0, until - Date.now()));
  res.on('close', () => {
    clearInterval(heartbeat);
    clearTimeout(expiry);
    stop();
    streams.dec();
  });
}

export function liveRoutes(app: HttpServer, deps: ApiDeps, hub: LiveHub): void {
  const auth = (token: string) => deps.client.authenticate(token);
  app.get('/tenants/:tenantId/live', {
    schema: {
      tags: ['live'],
      summary: 'Live stream (text/event-stream) of `position`, `fence`, `deliveries`, `status`, `sos` and `sos-alarm` events. Pass the token as Authorization header or ?access_token=',
      security: [{ bearer: [] }],
      params: TenantParams,
      querystring: Type.Object({ access_token: Type.Optional(Type.String()) }),
    },
  }, async (request, reply) => {
    const ctx = await contextOf(request, auth, request.params.tenantId, 'operator');
    // Positions and fence events say where a device is: they pass the tenant's visibility policy, refreshed as shares change.
    let view = await positionView(deps, ctx);
    const refresh = () => void positionView(deps, ctx).then((v) => (view = v), (err: unknown) => deps.logger.error({ err }, 'live stream: visibility refresh failed'));
    const timer = setInterval(refresh, VIEW_REFRESH_MS);
    const stop = hub.listen(ctx.tenantId, (event) => event === 'share' && refresh());
    request.raw.on('close', () => {
      clearInterval(timer);
      stop();
    });
    await openStream(reply, hub, ctx.tenantId, { tenantId: ctx.tenantId, operatorVisibility: view.policy.operatorVisibility }, (event, data) => {
      if (event === 'share') return false;
      if (event !== 'position' && event !== 'fence') return true;
      const { deviceId, time } = data as { deviceId: string; time: number };
      return view.allows(deviceId, time);
    });
  });
}
