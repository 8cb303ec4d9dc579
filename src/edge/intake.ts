/**
 * What happens after a decoder, the same for every protocol: the device's claim becomes a device
 * (or a clear refusal), fixes go to the tracker, other messages are counted and logged. Transports
 * call this; decoders never do.
 */
import { Counter } from 'prom-client';
import { AppError } from '../core/errors.js';
import { registry } from '../core/metrics.js';
import type { IngestResult } from '../services/tracker/index.js';
import type { Decoded, DeviceClaim } from './decoder.js';
import type { DeviceIdentity, EdgeDeps } from './deps.js';

const messages = new Counter({
  name: 'followme_edge_protocol_messages_total',
  help: 'Messages from OsmAnd and OwnTracks devices, by protocol and outcome (accepted, duplicate, rejected, event, refused)',
  labelNames: ['protocol', 'outcome'],
  registers: [registry],
});

/** How long a unique id → device lookup is reused; a revocation (revocation.ts) drops it at once. */
const CLAIM_TTL_MS = 10_000;
const CLAIM_CACHE_MAX = 100_000;

export class Intake {
  private readonly byUniqueId = new Map<string, { device: DeviceIdentity; until: number }>();

  constructor(private readonly deps: EdgeDeps) {}

  /** The device a claim names; AppError not_found / unauthenticated when none, tenant_suspended or forbidden when it may not report. */
  async identify(claim: DeviceClaim): Promise<DeviceIdentity> {
    if (claim.kind === 'token') {
      const device = await this.deps.authenticateDevice(claim.token);
      if (!device) throw new AppError('unauthenticated', 'the device token is not valid');
      return device;
    }
    const cached = this.byUniqueId.get(claim.uniqueId);
    if (cached && cached.until > Date.now()) return cached.device;
    const device = await this.deps.authenticateByUniqueId(claim.uniqueId);
    if (!device) {
      throw new AppError('not_found', `no device has the unique id "${claim.uniqueId}"; register it with that unique id (API uniqueId, CLI --unique-id)`);
    }
    if (this.byUniqueId.size >= CLAIM_CACHE_MAX) this.byUniqueId.clear();
    this.byUniqueId.set(claim.uniqueId, { device, until: Date.now() + CLAIM_TTL_MS });
    return device;
  }

  /** Drops the cached claims of one device (`deviceId` given) or of every device of the tenant: it lost access (revocation.ts). */
  forget(tenantId: string, deviceId: string | undefined): void {
    for (const [uniqueId, { device }] of this.byUniqueId) {
      if (device.tenantId === tenantId && (deviceId === undefined || device.deviceId === deviceId)) this.byUniqueId.delete(uniqueId);
    }
  }

  /** Stores the fixes (resolving once accepted ones are durable), the device's own regions and reported events, and notes the other messages. */
  async accept(protocol: string, device: DeviceIdentity, decoded: Decoded): Promise<IngestResult[]> {
    for (const event of decoded.events) {
      messages.inc({ protocol, outcome: 'event' });
      this.deps.logger.debug({ protocol, deviceId: device.deviceId, type: event.type }, 'device event');
    }
    for (const region of decoded.regions ?? []) await this.deps.saveRegion(device, region);
    for (const report of decoded.reported ?? []) await this.deps.reportEvent(device, report);
    if (decoded.fixes.length === 0) return [];
    const results = await this.deps.ingest(device, decoded.fixes);
    for (const r of results) messages.inc({ protocol, outcome: r.status });
    return results;
  }

  /** Counts a message that was refused before it reached the tracker. */
  refused(protocol: string, err: unknown): void {
    messages.inc({ protocol, outcome: 'refused' });
    if (err instanceof AppError) this.deps.logger.debug({ protocol, code: err.code, detail: err.message }, 'device message refused');
    else this.deps.logger.error({ protocol, err }, 'device message failed');
  }
}
