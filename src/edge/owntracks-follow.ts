/**
 * "Follow me" for OwnTracks apps in MQTT mode: the people who share their location with an app's
 * user appear on its map as OwnTracks friends: a `location` on the friend's topic, a `card` (name and
 * tid) on the topic's `/info`, and an empty message on both when the share ends, which makes the apps
 * drop the friend. Friends' topics carry Follow Me's ids, `…/<ownerUserId>/<deviceId>`.
 *
 * - EmbeddedFollow (the built-in broker): the friend topics are `owntracks/<userId>/<deviceId>`, which
 *   the app's default subscription `owntracks/+/+` covers. Follow Me keeps, per connected app, the set
 *   of devices it may see now and sends their messages to that app alone; the broker's
 *   authorizeForward hook lets a friend message through only while that set holds the device and the
 *   share has not expired.
 * - ExternalFollow (Mosquitto in a cluster): the broker cannot ask Follow Me per message, so every
 *   follower gets a topic tree of their own, `followme/<login>/<userId>/<deviceId>`, where `login` is
 *   the first part of the follower device's unique id (its broker login). The broker's ACL lets each
 *   login read only `followme/<login>/#`, and the app's subTopic is `followme/<login>/+/+`. Messages
 *   are retained (an app that subscribes later gets the newest at once) with an MQTT 5 message expiry
 *   at the share's end, so the broker forgets them then. Which trees show a device is kept in the
 *   bus's key-value store (bucket `owntracks_shown`, shared by every edge), so that whatever ends a
 *   follower's right clears that follower's tree at once: a revocation, a share running out (a sweep
 *   every SHOWN_SWEEP_MS), or a change of people, devices or groups (`client.changed`, e.g. the
 *   follower left the group a share names).
 */
import type { Position } from '../core/types.js';
import type { Bus, KeyValue, Subscription } from '../ports/bus.js';
import { clientChanged } from '../services/client/index.js';
import { positionAccepted, shareChanged, type ShareChanged } from '../services/tracker/index.js';
import type { DeviceIdentity, EdgeDeps, FollowedPerson, Watchers } from './deps.js';
import { friendCard, friendLocation, toFriend } from './owntracks.js';

/** One device an app may see, until when (null: until revoked), and under which name. */
interface Follow {
  base: string;
  name: string;
  expiresAt: number | null;
}

/** A connected app that listens for friends. */
export interface FollowerApp {
  readonly device: DeviceIdentity;
  /** The devices it may see now, by device id. */
  follows: Map<string, Follow>;
  refreshedAt: number;
}

/** What a friend message is about: a device (forwarded only while followed), or a removal (always). */
export type FriendPacket = { kind: 'friend'; deviceId: string } | { kind: 'clear' };

const SWEEP_MS = 5_000;
/** Shares and group changes refresh at once through the bus; this only bounds how stale a missed event can leave an app. */
const REFRESH_MS = 60_000;
const WATCHERS_TTL_MS = 300_000;
const TENANT_REFRESH_DELAY_MS = 100;
const WATCHERS_CACHE_MAX = 100_000;
/** How often an external broker's trees are checked for shares that ran out. */
const SHOWN_SWEEP_MS = 15_000;

/** Which followers' trees show a device now (broker login → the share's end, null: until revoked). */
interface Shown {
  ownerUserId: string;
  logins: Record<string, number | null>;
}

const live = (follow: { expiresAt: number | null } | undefined, now = Date.now()): boolean => !!follow && (follow.expiresAt === null || follow.expiresAt > now);

/** The messages that show one friend's device: the card first, so the app knows the name when the location arrives. */
function friendPayloads(name: string, position: Position): { card: Buffer; location: Buffer } {
  const friend = toFriend(name, position);
  return { card: Buffer.from(JSON.stringify(friendCard(friend))), location: Buffer.from(JSON.stringify(friendLocation(friend))) };
}

/** Whether an MQTT topic filter covers a topic (`+` one level, `#` the rest). */
export function filterMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

export class EmbeddedFollow {
  private readonly apps = new Set<FollowerApp>();
  /** Owner device id → the apps that may see it. */
  private readonly watching = new Map<string, Set<FollowerApp>>();
  private readonly subscriptions: Subscription[] = [];
  private readonly pendingTenants = new Map<string, NodeJS.Timeout>();
  /** One refresh at a time per app, so that two never both send a new friend. */
  private readonly refreshing = new WeakMap<FollowerApp, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: EdgeDeps,
    /** Sends one message to one app; `about` is what authorizeForward checks. */
    private readonly send: (app: FollowerApp, topic: string, payload: Buffer, about: FriendPacket) => Promise<void>,
  ) {}

  async start(bus: Bus): Promise<void> {
    this.subscriptions.push(await bus.subscribe(positionAccepted, ({ data }) => this.onPosition(data)));
    this.subscriptions.push(await bus.subscribe(shareChanged, ({ data }) => this.refreshTenant(data.tenantId)));
    this.subscriptions.push(await bus.subscribe(clientChanged, ({ data }) => this.refreshTenant(data.tenantId)));
    this.timer = setInterval(() => void this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const t of this.pendingTenants.values()) clearTimeout(t);
    for (const s of this.subscriptions) await s.close();
  }

  /** The app subscribed to friends' topics: from now on it gets the people who share with its user. */
  async listen(app: FollowerApp): Promise<void> {
    if (this.apps.has(app)) return;
    this.apps.add(app);
    await this.refresh(app);
  }

  forget(app: FollowerApp): void {
    this.apps.delete(app);
    for (const deviceId of app.follows.keys()) this.watching.get(deviceId)?.delete(app);
    app.follows.clear();
  }

  /** The privacy check of authorizeForward: may this app see this device now? */
  mayForward(app: FollowerApp, about: FriendPacket): boolean {
    return about.kind === 'clear' || live(app.follows.get(about.deviceId));
  }

  private async onPosition(position: Position): Promise<void> {
    const apps = this.watching.get(position.deviceId);
    if (!apps || position.late) return;
    for (const app of apps) {
      const follow = app.follows.get(position.deviceId);
      if (!follow || !live(follow)) continue;
      await this.send(app, follow.base, friendPayloads(follow.name, position).location, { kind: 'friend', deviceId: position.deviceId });
    }
  }

  /** Refreshes the tenant's apps shortly, once for a burst of changes (a bulk import changes hundreds of devices). */
  private refreshTenant(tenantId: string): void {
    if (this.pendingTenants.has(tenantId)) return;
    this.pendingTenants.set(tenantId, setTimeout(() => {
      this.pendingTenants.delete(tenantId);
      for (const app of this.apps) if (app.device.tenantId === tenantId) void this.refresh(app);
    }, TENANT_REFRESH_DELAY_MS));
  }

  /** Drops expired follows at once, and refreshes what has not been refreshed for a while. */
  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const app of this.apps) {
      const expired = [...app.follows.values()].some((f) => !live(f, now));
      if (expired || app.refreshedAt < now - REFRESH_MS) await this.refresh(app);
    }
  }

  private refresh(app: FollowerApp): Promise<void> {
    const next = (this.refreshing.get(app) ?? Promise.resolve())
      .then(() => this.recompute(app))
      .catch((err: unknown) => this.deps.logger.error({ err, deviceId: app.device.deviceId }, 'follow me: updating an OwnTracks app\'s friends failed'));
    this.refreshing.set(app, next);
    return next;
  }

  /** Recomputes what an app may see: new friends get their card and newest location, friends it lost are removed from its map. */
  private async recompute(app: FollowerApp): Promise<void> {
    let people: FollowedPerson[];
    try {
      people = await this.deps.following(app.device);
    } catch (err) {
      this.deps.logger.error({ err, deviceId: app.device.deviceId }, 'follow me: who an OwnTracks app follows could not be found');
      return;
    }
    if (!this.apps.has(app)) return;
    app.refreshedAt = Date.now();
    const next = new Map<string, Follow>();
    const added: { deviceId: string; follow: Follow; position: Position | undefined }[] = [];
    for (const person of people) {
      if (!live(person)) continue;
      for (const { deviceId, position } of person.devices) {
        const follow = { base: `owntracks/${person.userId}/${deviceId}`, name: person.name, expiresAt: person.expiresAt };
        next.set(deviceId, follow);
        if (!app.follows.has(deviceId)) added.push({ deviceId, follow, position });
      }
    }
    const removed = [...app.follows].filter(([deviceId]) => !next.has(deviceId));
    for (const [deviceId] of removed) this.watching.get(deviceId)?.delete(app);
    for (const deviceId of next.keys()) {
      let set = this.watching.get(deviceId);
      if (!set) this.watching.set(deviceId, (set = new Set()));
      set.add(app);
    }
    app.follows = next;
    for (const [, follow] of removed) {
      await this.send(app, `${follow.base}/info`, Buffer.alloc(0), { kind: 'clear' });
      await this.send(app, follow.base, Buffer.alloc(0), { kind: 'clear' });
    }
    for (const { deviceId, follow, position } of added) {
      if (!position) continue;
      const { card, location } = friendPayloads(follow.name, position);
      await this.send(app, `${follow.base}/info`, card, { kind: 'friend', deviceId });
      await this.send(app, follow.base, location, { kind: 'friend', deviceId });
    }
  }
}

/** What ExternalFollow needs of the broker connection. */
export interface RetainedPublisher {
  /** Publishes retained (QoS 1); `expirySeconds` becomes the MQTT 5 message expiry. */
  publish(topic: string, payload: string, expirySeconds?: number): Promise<void>;
}

/** The broker login that a device's unique id `LOGIN/DEVICE` names; undefined for other unique ids. */
export function loginOf(uniqueId: string | null): string | undefined {
  const match = uniqueId ? /^([^/+#]+)\/[^/+#]+$/.exec(uniqueId) : null;
  return match?.[1];
}

export class ExternalFollow {
  /** Who may follow each device, cached until a share or client change in its tenant (or the TTL). */
  private readonly watchers = new Map<string, { tenantId: string; at: number; value: Promise<Watchers | undefined> }>();
  /** Friend topics whose card this process has published (a card is retained: once is enough). */
  private readonly carded = new Set<string>();
  /** Friend topics this process has recorded in the ledger. */
  private readonly recorded = new Set<string>();
  private readonly subscriptions: Subscription[] = [];
  private ledger: KeyValue<Shown> | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly pendingTenants = new Map<string, NodeJS.Timeout>();
  private reconciling: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly deps: EdgeDeps,
    private readonly broker: RetainedPublisher,
  ) {}

  /** Positions and share changes are each handled by one edge of the cluster (shared durable consumers). */
  async start(bus: Bus): Promise<void> {
    this.subscriptions.push(await bus.subscribe(shareChanged, ({ data }) => this.invalidate(data.tenantId)));
    this.ledger = await bus.kv<Shown>('owntracks_shown');
    this.subscriptions.push(await bus.subscribe(clientChanged, ({ data }) => this.onClientChanged(data.tenantId)));
    this.subscriptions.push(await bus.consume(positionAccepted, 'edge-owntracks-friends', ({ data }) => this.onPosition(data)));
    this.subscriptions.push(await bus.consume(shareChanged, 'edge-owntracks-shares', ({ data }) => this.onShareChanged(data)));
    this.sweepTimer = setInterval(() => this.schedule(() => this.reconcileAll(true)), SHOWN_SWEEP_MS);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    for (const t of this.pendingTenants.values()) clearTimeout(t);
    for (const s of this.subscriptions) await s.close();
    await this.reconciling;
  }

  /** People, devices or groups changed: a follower may have lost the group a share names. Batched per tenant. */
  private onClientChanged(tenantId: string): void {
    this.invalidate(tenantId);
    if (this.pendingTenants.has(tenantId)) return;
    this.pendingTenants.set(tenantId, setTimeout(() => {
      this.pendingTenants.delete(tenantId);
      this.schedule(() => this.reconcileAll(false, tenantId));
    }, TENANT_REFRESH_DELAY_MS));
  }

  private schedule(work: () => Promise<void>): void {
    this.reconciling = this.reconciling.then(work).catch((err: unknown) => this.deps.logger.error({ err }, 'OwnTracks friends: could not clear trees that lost their right'));
  }

  /** Reconciles the devices in the ledger (of one tenant, or all; with `expiredOnly`, only those with a share that ran out). */
  private async reconcileAll(expiredOnly: boolean, tenantId?: string): Promise<void> {
    const ledger = this.ledger!;
    const now = Date.now();
    for (const key of await ledger.keys()) {
      const [keyTenant, deviceId] = key.split('.') as [string, string];
      if (tenantId !== undefined && keyTenant !== tenantId) continue;
      if (expiredOnly) {
        const entry = await ledger.get(key);
        if (!entry || !Object.values(entry.value.logins).some((end) => end !== null && end <= now)) continue;
      }
      await this.reconcile({ tenantId: keyTenant, deviceId });
    }
  }

  /** Clears the trees that show the device without a right to now, and forgets them. */
  private async reconcile(device: DeviceIdentity): Promise<void> {
    const ledger = this.ledger!;
    const key = `${device.tenantId}.${device.deviceId}`;
    const watchers = await this.watchersOf(device, true);
    const allowed = watchers ? followerLogins(watchers) : new Map<string, number | null>();
    for (;;) {
      const entry = await ledger.get(key);
      if (!entry) return;
      const gone = Object.keys(entry.value.logins).filter((login) => !allowed.has(login));
      // the kept ones take the end of the share in force now (a longer share replaced a shorter one), so the sweep stops finding them
      const logins = Object.fromEntries(Object.keys(entry.value.logins).filter((login) => allowed.has(login)).map((login) => [login, allowed.get(login)!]));
      if (gone.length === 0 && Object.entries(logins).every(([login, end]) => entry.value.logins[login] === end)) return;
      for (const login of gone) {
        const base = `followme/${login}/${entry.value.ownerUserId}/${device.deviceId}`;
        this.carded.delete(base);
        this.recorded.delete(base);
        await this.broker.publish(`${base}/info`, '');
        await this.broker.publish(base, '');
      }
      // a compare-and-set even when none is left (not a delete): another edge may have recorded a follower meanwhile
      if (await ledger.update(key, { ownerUserId: entry.value.ownerUserId, logins }, entry.revision)) return;
    }
  }

  /** Records that a follower's tree shows the device (before it is shown, so a crash cannot leave it unrecorded). */
  private async record(device: DeviceIdentity, ownerUserId: string, login: string, expiresAt: number | null): Promise<void> {
    const ledger = this.ledger!;
    const key = `${device.tenantId}.${device.deviceId}`;
    for (;;) {
      const entry = await ledger.get(key);
      const logins = { ...(entry?.value.logins ?? {}), [login]: expiresAt };
      if (await ledger.update(key, { ownerUserId, logins }, entry?.revision ?? 0)) return;
    }
  }

  private invalidate(tenantId: string): void {
    for (const [deviceId, cached] of this.watchers) if (cached.tenantId === tenantId) this.watchers.delete(deviceId);
  }

  private watchersOf(device: DeviceIdentity, fresh = false): Promise<Watchers | undefined> {
    const now = Date.now();
    const cached = this.watchers.get(device.deviceId);
    if (cached && !fresh && cached.at > now - WATCHERS_TTL_MS) return cached.value;
    if (this.watchers.size >= WATCHERS_CACHE_MAX) this.watchers.clear();
    const value = this.deps.watchersOf(device);
    this.watchers.set(device.deviceId, { tenantId: device.tenantId, at: now, value });
    value.catch(() => this.watchers.delete(device.deviceId));
    return value;
  }

  private async onPosition(position: Position): Promise<void> {
    if (position.late) return;
    const watchers = await this.watchersOf(position);
    if (!watchers || watchers.followers.length === 0) return;
    for (const [login, expiresAt] of followerLogins(watchers)) await this.show(login, watchers, position, expiresAt);
  }

  /** A share started or was revoked: its audience gets the owner's devices shown, or removed if nothing else lets them follow. */
  private async onShareChanged(change: ShareChanged): Promise<void> {
    this.invalidate(change.tenantId);
    const audience = new Set<string>();
    for (const d of await this.deps.devicesOfAudience(change.tenantId, change.followers)) {
      const login = loginOf(d.uniqueId);
      if (login) audience.add(login);
    }
    for (const deviceId of await this.deps.devicesOfUser(change.tenantId, change.ownerUserId)) {
      const device = { tenantId: change.tenantId, deviceId };
      const watchers = await this.watchersOf(device, true);
      const still = watchers ? followerLogins(watchers) : new Map<string, number | null>();
      const position = watchers && still.size > 0 ? await this.deps.lastKnown(device) : undefined;
      for (const [login, expiresAt] of still) if (position) await this.show(login, watchers!, position, expiresAt);
      for (const login of audience) {
        if (still.has(login)) continue;
        const base = `followme/${login}/${change.ownerUserId}/${deviceId}`;
        this.carded.delete(base);
        await this.broker.publish(`${base}/info`, '');
        await this.broker.publish(base, '');
      }
      await this.reconcile(device);
    }
  }

  private async show(login: string, watchers: Watchers, position: Position, expiresAt: number | null): Promise<void> {
    const base = `followme/${login}/${watchers.ownerUserId}/${position.deviceId}`;
    if (!this.recorded.has(base)) {
      await this.record(position, watchers.ownerUserId, login, expiresAt);
      this.recorded.add(base);
    }
    const expiry = expiresAt === null ? undefined : Math.max(1, Math.ceil((expiresAt - Date.now()) / 1000));
    const friend = toFriend(watchers.name, position);
    if (!this.carded.has(base)) {
      await this.broker.publish(`${base}/info`, JSON.stringify(friendCard(friend)), expiry);
      this.carded.add(base);
    }
    await this.broker.publish(base, JSON.stringify(friendLocation(friend)), expiry);
  }
}

/** The broker logins of a person's followers whose share is in force, each with the latest expiry. */
function followerLogins(watchers: Watchers, now = Date.now()): Map<string, number | null> {
  const logins = new Map<string, number | null>();
  for (const follower of watchers.followers) {
    if (!live(follower, now)) continue;
    for (const d of follower.devices) {
      const login = loginOf(d.uniqueId);
      if (!login) continue;
      const known = logins.get(login);
      if (known === undefined || (known !== null && (follower.expiresAt === null || follower.expiresAt > known))) logins.set(login, follower.expiresAt);
    }
  }
  return logins;
}
