/** What the edge asks of the services. roles.ts wires these to the services, local or remote. */
import type { Logger } from '../core/log.js';
import type { Fix, ReceiptKind } from '../core/types.js';
import type { IngestResult } from '../services/tracker/index.js';
import type { MessageFrame } from '../services/notification/index.js';

export interface DeviceIdentity {
  tenantId: string;
  deviceId: string;
}

export interface EdgeDeps {
  logger: Logger;
  /** The device a token belongs to; undefined for an unknown token; throws AppError when the tenant is suspended. */
  authenticateDevice(token: string): Promise<DeviceIdentity | undefined>;
  /** Stores fixes; resolves once accepted ones are durable. */
  ingest(device: DeviceIdentity, fixes: Fix[]): Promise<IngestResult[]>;
  /** Messages waiting for the device, oldest first. */
  pendingFor(device: DeviceIdentity): Promise<MessageFrame[]>;
  markSent(device: DeviceIdentity, deliveryIds: string[]): Promise<void>;
  receipt(device: DeviceIdentity, deliveryId: string, status: ReceiptKind, response?: string): Promise<void>;
  /** The device raised an SOS (with its position when it sent one); resolves once it is on its way to the responders. */
  sos(device: DeviceIdentity, sos: { id: string; fix?: Fix | undefined; text?: string | undefined }): Promise<void>;
}
