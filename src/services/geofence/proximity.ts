/**
 * Proximity: "tell me when device A comes within D metres of device B (or of any device of group G),
 * and when they are apart again" — the follow-me case of Tile38's roaming fences. The same hysteresis
 * as fences, with the two devices' accuracies added: `within` needs distance ≤ D − acc, `apart` needs
 * distance ≥ D + exitMargin + acc. The pairs within each other now are the state.
 */
import { invalid } from '../../core/errors.js';
import { distanceMetres } from '../../core/geo.js';
import type { Position } from '../../core/types.js';
import { DEFAULT_HYSTERESIS, decide, type Hysteresis } from './engine.js';
import type { LastPosition, TenantPositions } from './positions.js';
import type { GeofenceDB } from './schema.js';

export interface ProximityRule {
  id: string;
  tenantId: string;
  name: string;
  /** The device watched. */
  deviceId: string;
  /** The other side: one device, or every device of a group (with sub-groups). Exactly one is set. */
  otherDeviceId: string | null;
  otherGroupId: string | null;
  /** Metres. */
  distance: number;
  hysteresis: Hysteresis;
  enabled: boolean;
  createdAt: number;
}

export interface ProximityInput {
  name?: unknown;
  deviceId?: unknown;
  otherDeviceId?: unknown;
  otherGroupId?: unknown;
  distance?: unknown;
  hysteresis?: unknown;
  enabled?: unknown;
}

/** A pair is judged only when the other device's last fix is at most this far (in fix time) from this one. */
export const PROXIMITY_MAX_AGE_MS = 10 * 60_000;

export function proximityColumns(input: ProximityInput): Omit<GeofenceDB['proximity_rules'], 'id' | 'tenant_id' | 'created_at'> {
  const str = (v: unknown, field: string): string => {
    if (typeof v !== 'string' || v.length === 0 || v.length > 200) throw invalid(field, `expected a non-empty string, got ${JSON.stringify(v) ?? 'nothing'}`);
    return v;
  };
  const name = str(input.name, 'name');
  const deviceId = str(input.deviceId, 'deviceId');
  const hasDevice = input.otherDeviceId !== undefined && input.otherDeviceId !== null;
  const hasGroup = input.otherGroupId !== undefined && input.otherGroupId !== null;
  if (hasDevice === hasGroup) throw invalid('otherDeviceId', 'give exactly one of otherDeviceId (a device) or otherGroupId (a group)');
  const otherDeviceId = hasDevice ? str(input.otherDeviceId, 'otherDeviceId') : null;
  if (otherDeviceId === deviceId) throw invalid('otherDeviceId', 'must differ from deviceId');
  const distance = input.distance;
  if (typeof distance !== 'number' || !Number.isFinite(distance) || distance <= 0 || distance > 100_000) {
    throw invalid('distance', `expected metres greater than 0 and at most 100000, got ${JSON.stringify(distance) ?? 'nothing'}`);
  }
  const h = (input.hysteresis ?? {}) as Record<string, unknown>;
  const exitMargin = h['exitMargin'] ?? DEFAULT_HYSTERESIS.exitMargin;
  const useAccuracy = h['useAccuracy'] ?? DEFAULT_HYSTERESIS.useAccuracy;
  if (typeof exitMargin !== 'number' || !Number.isFinite(exitMargin) || exitMargin < 0 || exitMargin > 10_000) throw invalid('hysteresis.exitMargin', `expected metres from 0 to 10000, got ${JSON.stringify(exitMargin)}`);
  if (typeof useAccuracy !== 'boolean') throw invalid('hysteresis.useAccuracy', `expected true or false, got ${JSON.stringify(useAccuracy)}`);
  if (input.enabled !== undefined && typeof input.enabled !== 'boolean') throw invalid('enabled', 'expected true or false');
  return {
    name,
    device_id: deviceId,
    other_device_id: otherDeviceId,
    other_group_id: hasGroup ? str(input.otherGroupId, 'otherGroupId') : null,
    distance,
    exit_margin: exitMargin,
    use_accuracy: useAccuracy ? 1 : 0,
    enabled: input.enabled === false ? 0 : 1,
  };
}

export function toProximityRule(row: GeofenceDB['proximity_rules']): ProximityRule {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    deviceId: row.device_id,
    otherDeviceId: row.other_device_id,
    otherGroupId: row.other_group_id,
    distance: row.distance,
    hysteresis: { exitMargin: row.exit_margin, useAccuracy: row.use_accuracy === 1 },
    enabled: row.enabled === 1,
    createdAt: Number(row.created_at),
  };
}

/** One pair's change: `device` is the one whose fix decided it. */
export interface PairChange {
  rule: ProximityRule;
  /** The rule's watched device and the other one: the key of the pair's state. */
  subjectId: string;
  otherId: string;
  type: 'within' | 'apart';
  distance: number;
  accuracy: number;
}

/**
 * What a fix of `p.deviceId` changes across the tenant's proximity rules. `within` holds the pairs
 * (`rule|subject|other`) within now; `groupsOfDevice` resolves membership for group rules.
 *
 * A group rule's watched device judges only the group's devices that can change state: those that
 * may be within the rule's distance (from the spatial index; a pair becomes `within` only at
 * distance ≤ D − accuracy ≤ D) and those within now (they may go `apart`). Every other pair is
 * apart and stays so.
 */
export async function proximityChanges(
  p: Position,
  rules: readonly ProximityRule[],
  within: ReadonlySet<string>,
  positions: Pick<TenantPositions, 'get' | 'candidates'>,
  groupsOfDevice: (deviceId: string) => Promise<ReadonlySet<string>>,
): Promise<PairChange[]> {
  const out: PairChange[] = [];
  const judge = (rule: ProximityRule, subjectId: string, otherId: string, other: LastPosition | undefined): void => {
    if (!other || Math.abs(other.time - p.time) > PROXIMITY_MAX_AGE_MS) return;
    const d = distanceMetres(p.lon, p.lat, other.lon, other.lat);
    const accuracy = rule.hysteresis.useAccuracy ? (p.accuracy ?? 0) + (other.accuracy ?? 0) : 0;
    const was = within.has(pairKey(rule.id, subjectId, otherId));
    const t = decide(was, d - rule.distance, accuracy, { exitMargin: rule.hysteresis.exitMargin, useAccuracy: true });
    if (t) out.push({ rule, subjectId, otherId, type: t === 'enter' ? 'within' : 'apart', distance: d, accuracy });
  };
  let mine: ReadonlySet<string> | undefined;
  for (const rule of rules) {
    if (!rule.enabled) continue;
    if (rule.deviceId === p.deviceId) {
      if (rule.otherDeviceId) judge(rule, p.deviceId, rule.otherDeviceId, positions.get(rule.otherDeviceId));
      else {
        const prefix = pairKey(rule.id, p.deviceId, '');
        const others = new Map(positions.candidates(p.lon, p.lat, rule.distance));
        for (const key of within) {
          const other = key.startsWith(prefix) ? positions.get(key.slice(prefix.length)) : undefined;
          if (other) others.set(key.slice(prefix.length), other);
        }
        for (const [otherId, other] of others) {
          if (otherId === p.deviceId || Math.abs(other.time - p.time) > PROXIMITY_MAX_AGE_MS) continue;
          if ((await groupsOfDevice(otherId)).has(rule.otherGroupId!)) judge(rule, p.deviceId, otherId, other);
        }
      }
    } else if (rule.otherDeviceId === p.deviceId) {
      judge(rule, rule.deviceId, p.deviceId, positions.get(rule.deviceId));
    } else if (rule.otherGroupId) {
      mine ??= await groupsOfDevice(p.deviceId);
      if (mine.has(rule.otherGroupId)) judge(rule, rule.deviceId, p.deviceId, positions.get(rule.deviceId));
    }
  }
  return out;
}

export function pairKey(ruleId: string, subjectId: string, otherId: string): string {
  return `${ruleId}|${subjectId}|${otherId}`;
}
