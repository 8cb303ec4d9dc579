/**
 * Where the tenant's operator visibility policy (src/services/tracker/visibility.ts) meets the
 * operator's reads: every route that shows where a device is or was (map, history, trips, exports,
 * live stream, fence presence, stays, nearby devices, fence events) asks one PositionView.
 */
import type { TenantContext } from '../core/tenancy.js';
import type { Position } from '../core/types.js';
import { withinWorkingHours, type HistoryQuery, type VisibilityPolicy } from '../services/tracker/index.js';
import type { ApiDeps } from './deps.js';

export interface PositionView {
  readonly policy: VisibilityPolicy;
  /** Whether the caller may see where this device was at this time (epoch ms). */
  allows(deviceId: string, time: number): boolean;
  /** The items the caller may see. */
  filter<T extends { deviceId: string; time: number }>(items: T[]): T[];
}

/** The caller's view under the tenant's policy; compute it per request (or refresh it, for a stream: shares change). */
export async function positionView({ client, tracker, sharing }: Pick<ApiDeps, 'client' | 'tracker' | 'sharing'>, ctx: TenantContext): Promise<PositionView> {
  const policy = await tracker.getVisibility(ctx);
  let allows: PositionView['allows'];
  switch (policy.operatorVisibility) {
    case 'always':
      allows = () => true;
      break;
    case 'working-hours':
      allows = (_deviceId, time) => withinWorkingHours(policy.workingHours, time);
      break;
    case 'while-sharing': {
      // A person's devices only through their own share with the caller, from its start; nobody's devices (vehicles, assets) as always.
      const personal = new Set((await client.listDevices(ctx)).filter((d) => d.userId !== null).map((d) => d.id));
      const shared = new Map<string, { since: number; expiresAt: number | null }>();
      if (ctx.principal.kind === 'user') {
        for (const person of await sharing.following(ctx)) for (const id of await client.devicesOfUser(ctx, person.userId)) shared.set(id, person);
      }
      allows = (deviceId, time) => {
        if (!personal.has(deviceId)) return true;
        const share = shared.get(deviceId);
        return !!share && time >= share.since && (share.expiresAt === null || share.expiresAt > Date.now());
      };
      break;
    }
  }
  return { policy, allows, filter: (items) => items.filter((i) => allows(i.deviceId, i.time)) };
}

/** A page of a device's history as the view shows it: hidden positions are skipped and the page is filled from later ones, so paging with `after` still works. */
export async function visibleHistory(tracker: ApiDeps['tracker'], ctx: TenantContext, deviceId: string, q: HistoryQuery, view: PositionView): Promise<Position[]> {
  if (view.policy.operatorVisibility === 'always') return tracker.history(ctx, deviceId, q);
  const limit = q.limit ?? 1000;
  const out: Position[] = [];
  let after = q.after;
  for (;;) {
    const page = await tracker.history(ctx, deviceId, { ...q, after, limit: 10_000 });
    for (const p of page) if (out.length < limit && view.allows(p.deviceId, p.time)) out.push(p);
    if (out.length >= limit || page.length < 10_000) return out;
    after = page.at(-1)!.time;
  }
}
