/**
 * The Control Center's live picture of a tenant: devices, last positions, statuses and the event
 * feed, loaded once and kept current by the SSE stream. Positions live in plain maps, not React
 * state: the map reads them at most a few times a second, so 10,000 moving devices cost no renders.
 */
import type { TenantApi } from '../lib/api';
import type { DeliveryBatch, Device, DeviceStatus, Fence, FenceEvent, Group, Position, Sos, SosAlarm } from '../lib/types';

export interface FeedItem { id: string; kind: 'fence' | 'status' | 'sos'; type: string; deviceId: string; time: number; lon?: number; lat?: number; text: string }

type Listener = () => void;

export class LiveStore {
  devices = new Map<string, Device>();
  positions = new Map<string, Position>();
  statuses = new Map<string, DeviceStatus>();
  groups: Group[] = [];
  fences: Fence[] = [];
  feed: FeedItem[] = [];
  /** SOS alarms not yet resolved, newest first: loaded at start (so they survive a reload) and kept current by `sos-alarm` events. */
  sosAlarms: SosAlarm[] = [];
  connected = false;
  /** Bumped (at most every 250 ms) when anything changed; React reads it through useSyncExternalStore. */
  version = 0;
  /**
   * Bumped with `version` only when devices, positions or statuses changed: the map re-sends its
   * device source (and its worker re-clusters every device) only then, not for feed or connection news.
   */
  devicesVersion = 0;
  private devicesDirty = false;
  private listeners = new Set<Listener>();
  private deliveryListeners = new Set<(batch: DeliveryBatch) => void>();
  private source: EventSource | undefined;
  private pending: ReturnType<typeof setTimeout> | undefined;
  /** Whether the lists have been loaded once: before that, a device the stream names is not news. */
  private loaded = false;
  private hellos = 0;
  private statusesStreamed: Map<string, DeviceStatus> | undefined;

  constructor(private readonly api: TenantApi) {}

  async load(): Promise<void> {
    const streamed = new Map<string, DeviceStatus>(); // status events that arrive while the lists load are newer than them
    this.statusesStreamed = streamed;
    const [devices, positions, statuses, groups, fences, events, alarms] = await Promise.all([
      this.api.get<Device[]>('/devices'),
      this.api.get<Position[]>('/positions'),
      this.api.get<DeviceStatus[]>('/status'),
      this.api.get<Group[]>('/groups'),
      this.api.get<Fence[]>('/fences'),
      this.api.get<FenceEvent[]>('/events?limit=100'),
      this.api.get<SosAlarm[]>('/sos-alarms?state=unresolved&limit=200'),
    ]);
    this.devices = new Map(devices.map((d) => [d.id, d]));
    // The stream may have brought a newer position while the lists loaded: the newer one stays.
    const fresh = new Map(positions.map((p) => [p.deviceId, p]));
    for (const [id, p] of this.positions) if ((fresh.get(id)?.time ?? Infinity) < p.time) fresh.set(id, p);
    this.positions = fresh;
    this.loaded = true;
    this.statuses = new Map(statuses.map((s) => [s.deviceId, s]));
    for (const [id, st] of streamed) this.statuses.set(id, { ...this.statuses.get(id), ...st });
    if (this.statusesStreamed === streamed) this.statusesStreamed = undefined;
    this.groups = groups;
    this.fences = fences;
    this.sosAlarms = alarms;
    const loadedFeed = [...events.map((e) => this.fenceItem(e)), ...alarms.map((a) => this.sosItem(a))];
    const ids = new Set(loadedFeed.map((f) => f.id));
    this.feed = [...loadedFeed, ...this.feed.filter((f) => !ids.has(f.id))].sort((a, b) => b.time - a.time).slice(0, 500);
    this.devicesDirty = true;
    this.changed(true);
  }

  /**
   * Opens the live stream (EventSource reconnects by itself). Open it before loading the lists: the
   * stream carries what happens after its hello, so nothing falls between the two. After a
   * reconnect the lists are loaded again, for what happened while the stream was down.
   */
  connect(): void {
    this.source?.close();
    this.hellos = 0;
    const source = (this.source = new EventSource(this.api.url('/live')));
    source.addEventListener('hello', () => {
      this.connected = true;
      if (this.hellos++ > 0 && this.loaded) void this.load().catch(() => undefined);
      this.changed();
    });
    source.addEventListener('error', () => { this.connected = false; this.changed(); });
    source.addEventListener('position', (e) => {
      const p = JSON.parse((e as MessageEvent<string>).data) as Position;
      const old = this.positions.get(p.deviceId);
      if (!p.late && (!old || old.time <= p.time)) this.positions.set(p.deviceId, p);
      if (this.loaded && !this.devices.has(p.deviceId)) void this.refreshDevices();
      this.devicesDirty = true;
      this.changed();
    });
    source.addEventListener('status', (e) => {
      const s = JSON.parse((e as MessageEvent<string>).data) as DeviceStatus;
      this.statusesStreamed?.set(s.deviceId, s);
      const old = this.statuses.get(s.deviceId);
      this.statuses.set(s.deviceId, { ...old, ...s });
      this.devicesDirty = true;
      if (old && old.connection !== s.connection && s.connection !== 'unknown') {
        const p = this.positions.get(s.deviceId);
        this.feed.unshift({ id: `st-${s.deviceId}-${Date.now()}`, kind: 'status', type: s.connection, deviceId: s.deviceId, time: Date.now(), lon: p?.lon, lat: p?.lat, text: `${this.name(s.deviceId)} is ${s.connection}` });
      }
      this.changed();
    });
    source.addEventListener('fence', (e) => {
      const event = JSON.parse((e as MessageEvent<string>).data) as FenceEvent;
      if (!this.feed.some((f) => f.id === event.id)) this.feed.unshift(this.fenceItem(event));
      this.feed.length = Math.min(this.feed.length, 500);
      this.changed();
    });
    source.addEventListener('sos', (e) => {
      const sos = JSON.parse((e as MessageEvent<string>).data) as Sos;
      // A device resends an unacknowledged SOS with the same id after a reconnect: show it once.
      const id = `sos-${sos.deviceId}-${sos.id}`;
      if (!this.feed.some((f) => f.id === id)) this.feed.unshift({ id, kind: 'sos', type: 'sos', deviceId: sos.deviceId, time: sos.at, lon: sos.lon, lat: sos.lat, text: `SOS from ${this.name(sos.deviceId)}${sos.text ? `: ${sos.text}` : ''}` });
      this.feed.length = Math.min(this.feed.length, 500);
      this.changed(true);
    });
    source.addEventListener('sos-alarm', (e) => {
      const alarm = JSON.parse((e as MessageEvent<string>).data) as SosAlarm;
      this.sosAlarms = [alarm, ...this.sosAlarms.filter((a) => a.id !== alarm.id)].filter((a) => a.state !== 'resolved').sort((a, b) => b.raisedAt - a.raisedAt);
      if (!this.feed.some((f) => f.id === `sos-${alarm.deviceId}-${alarm.sosId}`)) this.feed.unshift(this.sosItem(alarm));
      this.changed(true);
    });
    source.addEventListener('deliveries', (e) => {
      const batch = JSON.parse((e as MessageEvent<string>).data) as DeliveryBatch;
      for (const l of this.deliveryListeners) l(batch);
    });
  }

  close(): void {
    this.source?.close();
    clearTimeout(this.pending);
  }

  async refreshDevices(): Promise<void> {
    const devices = await this.api.get<Device[]>('/devices');
    this.devices = new Map(devices.map((d) => [d.id, d]));
    this.devicesDirty = true;
    this.changed();
  }

  async refreshFences(): Promise<void> {
    this.fences = await this.api.get<Fence[]>('/fences');
    this.changed(true);
  }

  async refreshGroups(): Promise<void> {
    this.groups = await this.api.get<Group[]>('/groups');
    this.changed(true);
  }

  name(deviceId: string): string {
    return this.devices.get(deviceId)?.name ?? deviceId;
  }

  /** Devices in a group (directly, through their user, or in a sub-group). */
  devicesOfGroup(groupId: string): Set<string> {
    const out = new Set<string>();
    const ids = new Set([groupId]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const g of this.groups) if (g.parentId && ids.has(g.parentId) && !ids.has(g.id)) { ids.add(g.id); grew = true; }
    }
    const users = new Set<string>();
    for (const g of this.groups) if (ids.has(g.id)) { g.members.deviceIds.forEach((d) => out.add(d)); g.members.userIds.forEach((u) => users.add(u)); }
    for (const d of this.devices.values()) if (d.userId && users.has(d.userId)) out.add(d.id);
    return out;
  }

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getVersion = (): number => this.version;

  /** Listens to `deliveries` events: one call per batch of a message's deliveries that moved. */
  onDeliveries(listener: (batch: DeliveryBatch) => void): () => void {
    this.deliveryListeners.add(listener);
    return () => this.deliveryListeners.delete(listener);
  }

  /** An alarm as it changed (after resolving it here, before its live event arrives). */
  updateSosAlarm(alarm: SosAlarm): void {
    this.sosAlarms = this.sosAlarms.map((a) => (a.id === alarm.id ? alarm : a)).filter((a) => a.state !== 'resolved');
    this.changed(true);
  }

  private sosItem(a: SosAlarm): FeedItem {
    return { id: `sos-${a.deviceId}-${a.sosId}`, kind: 'sos', type: 'sos', deviceId: a.deviceId, time: a.raisedAt, lon: a.position?.lon, lat: a.position?.lat, text: `SOS from ${a.personName ? `${a.personName} (${a.deviceName})` : a.deviceName}${a.text ? `: ${a.text}` : ''}` };
  }

  private fenceItem(e: FenceEvent): FeedItem {
    const verb = e.type === 'enter' ? 'entered' : e.type === 'exit' ? 'left' : e.type === 'dwell' ? 'dwells in' : e.type === 'within' ? 'came near' : e.type === 'apart' ? 'moved away from' : e.type;
    return { id: e.id, kind: 'fence', type: e.type, deviceId: e.deviceId, time: e.time, lon: e.lon, lat: e.lat, text: `${this.name(e.deviceId)} ${verb} ${e.fenceName}` };
  }

  private changed(now = false): void {
    const fire = () => {
      this.pending = undefined;
      this.version++;
      if (this.devicesDirty) { this.devicesVersion++; this.devicesDirty = false; }
      for (const l of this.listeners) l();
    };
    if (now) { clearTimeout(this.pending); fire(); return; }
    this.pending ??= setTimeout(fire, 250);
  }
}
