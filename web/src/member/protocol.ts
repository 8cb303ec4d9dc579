/**
 * The member app's side of the native device protocol (docs/device-protocol.md) over a browser
 * WebSocket: hello, positions kept until acknowledged and resent after a reconnect, the server's
 * advised `interval`, messages with delivered/read/acknowledged receipts, reconnect with back-off.
 */
import { distance } from '../lib/geo';

export interface Fix { time: number; lon: number; lat: number; accuracy?: number; speed?: number; heading?: number; altitude?: number; battery?: number }
export interface InboxMessage { deliveryId: string; messageId: string; priority: 'normal' | 'high' | 'critical'; title: string; body: string; sentAt: number; expiresAt?: number; ackRequired: boolean; options?: string[]; state: 'delivered' | 'read' | 'acknowledged'; response?: string }

/** The SOS this phone raised last: `sending` until the server's ack, then `accepted`. */
export interface SosState { id: string; state: 'sending' | 'accepted'; raisedAt: number; acceptedAt?: number; withPosition: boolean }

export interface ConnectionState { status: 'offline' | 'connecting' | 'online' | 'refused'; detail?: string; deviceId?: string; tenantId?: string; interval: number; lastSent?: number; unacked: number; sos?: SosState }

/** A fix is sent when the advised interval has passed, or at once when the device moved this far. */
const MOVE_NOW_METRES = 100;

export class DeviceConnection {
  state: ConnectionState = { status: 'offline', interval: 5, unacked: 0 };
  inbox: InboxMessage[];
  onChange: () => void = () => {};
  private ws: WebSocket | undefined;
  private backoff = 1000;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private seq = 0;
  private unacked = new Map<string, Fix[]>();
  private lastSentFix: Fix | undefined;
  private latest: Fix | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private sosFrame: { type: 'sos'; id: string; fix?: Fix; text?: string } | undefined;

  constructor(readonly token: string, private readonly storageKey = 'followme.inbox') {
    try {
      this.inbox = JSON.parse(localStorage.getItem(storageKey) ?? '[]') as InboxMessage[];
    } catch (err) {
      console.warn('ignoring an unreadable inbox', err);
      this.inbox = [];
    }
  }

  connect(): void {
    this.closed = false;
    this.set({ status: 'connecting' });
    const ws = (this.ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/device/v1`));
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token: this.token, client: `followme-web/1 (${navigator.userAgent.slice(0, 80)})` }));
    ws.onmessage = (e) => this.frame(JSON.parse(e.data as string) as Record<string, unknown>);
    ws.onclose = (e) => {
      this.ws = undefined;
      if (this.closed) return;
      if (e.code === 4401 || e.code === 4403) { this.set({ status: 'refused', detail: e.code === 4401 ? 'The device token was not accepted.' : 'This device or its organisation is disabled.' }); return; }
      this.set({ status: 'offline', detail: e.code === 4409 ? 'Connected elsewhere with the same token.' : undefined });
      this.retry = setTimeout(() => this.connect(), this.backoff * (0.8 + Math.random() * 0.4));
      this.backoff = Math.min(this.backoff * 2, 60_000);
    };
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    clearTimeout(this.timer);
    this.ws?.close(1000);
    this.set({ status: 'offline' });
  }

  /** A new fix from the Geolocation API: sent now or when the advised interval is up. */
  position(fix: Fix): void {
    this.latest = fix;
    const moved = this.lastSentFix ? distance([this.lastSentFix.lon, this.lastSentFix.lat], [fix.lon, fix.lat]) : Infinity;
    const due = !this.state.lastSent || Date.now() - this.state.lastSent >= this.state.interval * 1000;
    if (due || moved >= MOVE_NOW_METRES) this.sendLatest();
    else if (!this.timer) this.timer = setTimeout(() => this.sendLatest(), this.state.lastSent! + this.state.interval * 1000 - Date.now());
  }

  receipt(deliveryId: string, status: 'delivered' | 'read' | 'acknowledged', response?: string): void {
    const m = this.inbox.find((x) => x.deliveryId === deliveryId);
    if (m && status !== 'delivered') { m.state = status === 'acknowledged' || m.state !== 'acknowledged' ? status : m.state; if (response) m.response = response; this.saveInbox(); }
    this.send({ type: 'receipt', id: `r-${++this.seq}`, deliveryId, status, ...(response ? { response } : {}) });
    this.onChange();
  }

  /** The newest fix from the Geolocation API, if any. */
  get lastFix(): Fix | undefined { return this.latest; }

  /**
   * Raises an SOS (docs/device-protocol.md §4a) with the position when there is one. It is kept
   * until the server acknowledges it and resent with the same id after a reconnect.
   */
  sos(fix: Fix | undefined, text: string): void {
    const id = `sos-${Date.now()}`;
    this.sosFrame = { type: 'sos', id, ...(fix ? { fix } : {}), ...(text.trim() ? { text: text.trim().slice(0, 1000) } : {}) };
    this.set({ sos: { id, state: 'sending', raisedAt: Date.now(), withPosition: !!fix } });
    this.send(this.sosFrame);
  }

  private sendLatest(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const fix = this.latest;
    if (!fix || fix === this.lastSentFix) return;
    const id = `p-${++this.seq}`;
    this.unacked.set(id, [fix]);
    this.lastSentFix = fix;
    this.set({ lastSent: Date.now(), unacked: this.unacked.size });
    this.send({ type: 'position', id, fix });
  }

  private send(frame: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private frame(f: Record<string, unknown>): void {
    switch (f.type) {
      case 'welcome': {
        this.backoff = 1000;
        this.set({ status: 'online', deviceId: f.deviceId as string, tenantId: f.tenantId as string, detail: undefined });
        if (this.sosFrame) this.send(this.sosFrame);
        // Resend what no ack covered, oldest first, in one batch (the server deduplicates by time).
        const fixes = [...this.unacked.values()].flat().sort((a, b) => a.time - b.time);
        this.unacked.clear();
        if (fixes.length) { const id = `b-${++this.seq}`; this.unacked.set(id, fixes); this.send({ type: 'positions', id, fixes }); }
        else if (this.latest) this.sendLatest();
        break;
      }
      case 'ack': {
        if (this.sosFrame && f.id === this.sosFrame.id) {
          this.sosFrame = undefined;
          this.set({ sos: { ...this.state.sos!, state: 'accepted', acceptedAt: Date.now() } });
          break;
        }
        if (this.unacked.delete(f.id as string) && typeof f.interval === 'number') this.set({ interval: f.interval });
        this.set({ unacked: this.unacked.size });
        break;
      }
      case 'message': {
        const m = f as unknown as InboxMessage;
        this.send({ type: 'receipt', id: `r-${++this.seq}`, deliveryId: m.deliveryId, status: 'delivered' });
        if (!this.inbox.some((x) => x.deliveryId === m.deliveryId)) {
          this.inbox.unshift({ ...m, state: 'delivered' });
          this.inbox = this.inbox.filter((x) => x.sentAt > Date.now() - 7 * 86_400_000);
          this.saveInbox();
          if (m.priority !== 'normal' && 'vibrate' in navigator) navigator.vibrate?.([200, 100, 200]);
        }
        this.onChange();
        break;
      }
      case 'error':
        // An SOS whose position was refused still has to go out: resend it without the position.
        if (this.sosFrame && f.id === this.sosFrame.id && this.sosFrame.fix) {
          console.warn('the SOS position was refused; sending the SOS without it', f);
          const { fix: _refused, ...rest } = this.sosFrame;
          this.sosFrame = rest;
          this.set({ sos: { ...this.state.sos!, withPosition: false } });
          this.send(this.sosFrame);
          break;
        }
        if (f.code === 'unauthenticated' || f.code === 'tenant_suspended') this.set({ status: 'refused', detail: f.detail as string });
        else console.warn('device protocol error', f);
        break;
      default:
        break;
    }
  }

  private saveInbox(): void {
    localStorage.setItem(this.storageKey, JSON.stringify(this.inbox.slice(0, 200)));
  }

  private set(patch: Partial<ConnectionState>): void {
    this.state = { ...this.state, ...patch };
    this.onChange();
  }
}
