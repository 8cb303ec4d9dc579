/** What the edge asks of the services. roles.ts wires these to the services, local or remote. */
import type { Logger } from '../core/log.js';
import type { Fix, Position, ReceiptKind } from '../core/types.js';
import type { IngestResult } from '../services/tracker/index.js';
import type { MessageFrame } from '../services/notification/index.js';
import type { DeviceRegion, ReportedEvent } from '../services/geofence/index.js';

export interface DeviceIdentity {
  tenantId: string;
  deviceId: string;
}

/**
 * A person this device's user follows, as OwnTracks shows them: `tid` (two letters on the map), an
 * optional name for the card, and the last known location.
 */
export interface Friend {
  tid: string;
  name?: string | undefined;
  location: { lat: number; lon: number; tst: number; acc?: number | undefined; alt?: number | undefined; vel?: number | undefined; cog?: number | undefined; batt?: number | undefined };
}

/** A person this device's user follows now ("follow me"), with the last known position of each of their devices. */
export interface FollowedPerson {
  userId: string;
  name: string;
  /** When the share that lets us follow them ends (null: until revoked). */
  expiresAt: number | null;
  devices: { deviceId: string; position: Position | undefined }[];
}

/** A device's user and who may follow them now, with the followers' devices (unique ids name OwnTracks topics on an external broker). */
export interface Watchers {
  ownerUserId: string;
  name: string;
  followers: { userId: string; expiresAt: number | null; devices: DeviceTopic[] }[];
}

export interface DeviceTopic {
  deviceId: string;
  uniqueId: string | null;
}

export interface EdgeDeps {
  logger: Logger;
  /** The device a token belongs to; undefined for an unknown token; throws AppError when the tenant is suspended. */
  authenticateDevice(token: string): Promise<DeviceIdentity | undefined>;
  /** The device an OsmAnd `id` or an OwnTracks topic's USER/DEVICE names; same refusals as authenticateDevice. */
  authenticateByUniqueId(uniqueId: string): Promise<DeviceIdentity | undefined>;
  /** The device's unique id, if it has one (to find its OwnTracks topic on an external broker). */
  uniqueIdOf(device: DeviceIdentity): Promise<string | null>;
  /** The device's OwnTracks encryption passphrase, if one is set. */
  owntracksKey(device: DeviceIdentity): Promise<string | null>;
  /** The people this device's user may follow live now (OwnTracks friends); [] when none or when the device has no user. */
  following(device: DeviceIdentity): Promise<FollowedPerson[]>;
  /** Who may follow this device's user now; undefined when the device has no user. */
  watchersOf(device: DeviceIdentity): Promise<Watchers | undefined>;
  /** The devices of a user (a share's owner). */
  devicesOfUser(tenantId: string, userId: string): Promise<string[]>;
  /** The devices of the users and groups a share named, with their unique ids. */
  devicesOfAudience(tenantId: string, audience: { userIds: string[]; groupIds: string[] }): Promise<DeviceTopic[]>;
  /** The last known position of a device, if any. */
  lastKnown(device: DeviceIdentity): Promise<Position | undefined>;
  /** Keeps a region the device defined itself (a fence for that device only), updating the one with the same key. */
  saveRegion(device: DeviceIdentity, region: DeviceRegion): Promise<void>;
  /** Records an enter or exit the device reported itself (marked as such, not computed). */
  reportEvent(device: DeviceIdentity, report: ReportedEvent): Promise<void>;
  /** Stores fixes; resolves once accepted ones are durable. */
  ingest(device: DeviceIdentity, fixes: Fix[]): Promise<IngestResult[]>;
  /** Seconds the device should wait before its next fix, for acknowledgements (undefined: no advice). */
  reportingInterval(device: DeviceIdentity, newest: Fix): Promise<number | undefined>;
  /** Messages waiting for the device, oldest first. */
  pendingFor(device: DeviceIdentity): Promise<MessageFrame[]>;
  markSent(device: DeviceIdentity, deliveryIds: string[]): Promise<void>;
  receipt(device: DeviceIdentity, deliveryId: string, status: ReceiptKind, response?: string): Promise<void>;
  /** The device raised an SOS (with its position when it sent one); resolves once it is on its way to the responders. */
  sos(device: DeviceIdentity, sos: { id: string; fix?: Fix | undefined; text?: string | undefined }): Promise<void>;
}
