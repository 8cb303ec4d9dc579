import type { ConnectionHolder } from './revocation.js';
import type { AppError } from '../core/errors.js';

/** The devices connected to this edge process, by device id: one live connection per device. */
export interface Session {
  tenantId: string;
  deviceId: string;
  /** The token the device said hello with (revocation.ts checks it again when access may be gone). */
  token: string;
  connectedAt: number;
  send(frame: object): boolean;
  close(code: number, reason: string): void;
  /** Closes the connection as a hello refused with this error would be (error frame, then 4401 or 4403). */
  revoke(refusal: AppError): void;
}

export class Sessions implements ConnectionHolder {
  private readonly byDevice = new Map<string, Session>();

  /** `onChange` hears when a device gets its first connection here and when its last one ends. */
  constructor(private readonly onChange: (session: Session, connected: boolean) => void = () => undefined) {}

  get size(): number {
    return this.byDevice.size;
  }

  get(deviceId: string): Session | undefined {
    return this.byDevice.get(deviceId);
  }

  /** Registers a session; an older one of the same device is closed as replaced. */
  add(session: Session): void {
    const older = this.byDevice.get(session.deviceId);
    this.byDevice.set(session.deviceId, session);
    if (older && older !== session) older.close(4409, 'replaced by a newer connection');
    else this.onChange(session, true);
  }

  remove(session: Session): void {
    if (this.byDevice.get(session.deviceId) !== session) return; // replaced: the device is still connected
    this.byDevice.delete(session.deviceId);
    this.onChange(session, false);
  }

  all(): IterableIterator<Session> {
    return this.byDevice.values();
  }

  *connectionsOf(tenantId: string, deviceId: string | undefined): Iterable<Session> {
    if (deviceId !== undefined) {
      const session = this.byDevice.get(deviceId);
      if (session?.tenantId === tenantId) yield session;
      return;
    }
    for (const session of this.byDevice.values()) if (session.tenantId === tenantId) yield session;
  }
}
