/** Small pieces the geofence service's parts share: per-device serialisation, group membership, event ids. */
import { createHash } from 'node:crypto';
import type { TenantContext } from '../../core/tenancy.js';
import { systemContext } from '../../core/tenancy.js';

/**
 * The groups a device belongs to (directly, through its user, or through a sub-group), injected by
 * the composition root so that this service never reads the client service's tables.
 */
export type GroupsOf = (ctx: TenantContext, deviceId: string) => Promise<string[]>;

/** Group membership per device, cached until the client service says the tenant changed (`client.changed`). */
export class GroupCache {
  private readonly cache = new Map<string, Map<string, Promise<ReadonlySet<string>>>>();

  constructor(private readonly groupsOf: GroupsOf | undefined) {}

  get(tenantId: string, deviceId: string): Promise<ReadonlySet<string>> {
    let tenant = this.cache.get(tenantId);
    if (!tenant) {
      tenant = new Map();
      this.cache.set(tenantId, tenant);
    }
    let groups = tenant.get(deviceId);
    if (!groups) {
      groups = this.groupsOf ? this.groupsOf(systemContext(tenantId), deviceId).then((g) => new Set(g)) : Promise.resolve(new Set<string>());
      tenant.set(deviceId, groups);
      groups.catch(() => tenant.delete(deviceId));
    }
    return groups;
  }

  invalidate(tenantId: string): void {
    this.cache.delete(tenantId);
  }
}

/** Runs tasks one after another per key (a device): positions and the dwell timer never interleave for one device. */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

/** The same occurrence always gets the same id, so a redelivered position cannot make a second event. */
export function eventId(deviceId: string, subject: string, time: number, type: string): string {
  return `fev_${createHash('sha256').update(`${deviceId}|${subject}|${time}|${type}`).digest('base64url').slice(0, 22)}`;
}

export const round2 = (x: number): number => Math.round(x * 100) / 100;
