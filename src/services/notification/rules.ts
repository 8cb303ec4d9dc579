/** Rules: which event, which target, which text, and the noise-control settings that go with them. */
import { invalid } from '../../core/errors.js';
import { PRIORITIES, type Priority } from '../../core/types.js';
import { normalizeChannels, normalizeTarget, type Target } from './targeting.js';
import type { ChannelName } from './channels/index.js';
import type { NotificationDB } from './schema.js';
import { parseWindow, type TimeWindow } from './windows.js';

/**
 * enter / exit / dwell: a fence (`fenceId`); within / apart: a proximity rule of the geofence
 * service (`fenceId` is its id); sos, offline, low_battery: any device of the tenant.
 */
export const RULE_TRIGGERS = ['enter', 'exit', 'dwell', 'within', 'apart', 'sos', 'offline', 'low_battery'] as const;
export type RuleTrigger = (typeof RULE_TRIGGERS)[number];
export const FENCE_TRIGGERS: readonly RuleTrigger[] = ['enter', 'exit', 'dwell'];
export const PROXIMITY_TRIGGERS: readonly RuleTrigger[] = ['within', 'apart'];

export interface Rule {
  id: string;
  tenantId: string;
  name: string;
  on: RuleTrigger;
  /** The fence (enter, exit, dwell) or proximity rule (within, apart); null for device triggers. */
  fenceId: string | null;
  target: Target;
  title: string;
  body: string;
  templateId: string | null;
  priority: Priority;
  channels: ChannelName[];
  enabled: boolean;
  /** low_battery: fire at or below this percentage. */
  batteryBelow: number | null;
  /** When the rule runs; always when null. */
  schedule: TimeWindow | null;
  /** The same rule alerts about the same device at most once in this many seconds (0: every time). */
  cooldownSeconds: number;
  /** The rule sends at most this many alerts per hour; no limit when null. */
  maxPerHour: number | null;
  createdAt: number;
}

export interface RuleInput {
  name: string;
  on: string;
  fenceId?: string | undefined;
  target: Target;
  title?: string | undefined;
  body?: string | undefined;
  templateId?: string | undefined;
  priority?: string | undefined;
  channels?: string[] | undefined;
  enabled?: boolean | undefined;
  batteryBelow?: number | undefined;
  schedule?: unknown;
  cooldownSeconds?: number | undefined;
  maxPerHour?: number | undefined;
}

/** Checks a rule's input; what needs the store or other services (fence, template, target ids) the service checks after. */
export function normalizeRule(input: RuleInput): Omit<Rule, 'id' | 'tenantId' | 'createdAt'> {
  if (typeof input.name !== 'string' || input.name.trim() === '') throw invalid('name', 'must be a non-empty string');
  if (!(RULE_TRIGGERS as readonly string[]).includes(input.on)) throw invalid('on', `must be one of ${RULE_TRIGGERS.join(', ')}, got ${JSON.stringify(input.on)}`);
  const on = input.on as RuleTrigger;
  const needsFence = FENCE_TRIGGERS.includes(on) || PROXIMITY_TRIGGERS.includes(on);
  if (needsFence && (typeof input.fenceId !== 'string' || input.fenceId === '')) throw invalid('fenceId', `a rule on ${on} must name ${PROXIMITY_TRIGGERS.includes(on) ? 'a proximity rule' : 'a fence'}`);
  if (!needsFence && input.fenceId !== undefined) throw invalid('fenceId', `a rule on ${on} concerns every device, not a fence`);
  const target = normalizeTarget(input.target);
  if (target.fenceIds?.length || target.area) throw invalid('target', 'a rule targets people, devices, groups or the responders, not places');
  if (input.templateId === undefined && (typeof input.title !== 'string' || input.title.trim() === '')) throw invalid('title', 'give a title, or a templateId');
  if (input.title !== undefined && input.title.length > 200) throw invalid('title', 'must be at most 200 characters');
  if (input.priority !== undefined && !(PRIORITIES as readonly string[]).includes(input.priority)) throw invalid('priority', `must be one of ${PRIORITIES.join(', ')}`);
  if (on === 'low_battery' && input.batteryBelow !== undefined && !(Number.isInteger(input.batteryBelow) && input.batteryBelow >= 1 && input.batteryBelow <= 99)) throw invalid('batteryBelow', 'must be a whole percentage from 1 to 99');
  if (on !== 'low_battery' && input.batteryBelow !== undefined) throw invalid('batteryBelow', 'applies only to a rule on low_battery');
  if (input.cooldownSeconds !== undefined && !(Number.isInteger(input.cooldownSeconds) && input.cooldownSeconds >= 0 && input.cooldownSeconds <= 7 * 86_400)) throw invalid('cooldownSeconds', 'must be a whole number of seconds from 0 to 604800');
  if (input.maxPerHour !== undefined && !(Number.isInteger(input.maxPerHour) && input.maxPerHour >= 1)) throw invalid('maxPerHour', 'must be a whole number from 1');
  return {
    name: input.name.trim(),
    on,
    fenceId: needsFence ? input.fenceId! : null,
    target,
    title: input.title?.trim() ?? '',
    body: input.body ?? '',
    templateId: input.templateId ?? null,
    priority: (input.priority as Priority | undefined) ?? (on === 'sos' ? 'critical' : 'high'),
    channels: normalizeChannels(input.channels),
    enabled: input.enabled ?? true,
    batteryBelow: on === 'low_battery' ? (input.batteryBelow ?? 20) : null,
    schedule: input.schedule === undefined || input.schedule === null ? null : parseWindow(input.schedule, 'schedule'),
    cooldownSeconds: input.cooldownSeconds ?? (on === 'sos' ? 0 : on === 'low_battery' ? 3600 : 300),
    maxPerHour: input.maxPerHour ?? null,
  };
}

export function ruleColumns(rule: Rule): Omit<NotificationDB['rules'], 'tenant_id'> {
  return {
    id: rule.id,
    name: rule.name,
    on_event: rule.on,
    fence_id: rule.fenceId ?? '',
    target: JSON.stringify(rule.target),
    title: rule.title,
    body: rule.body,
    priority: rule.priority,
    enabled: rule.enabled ? 1 : 0,
    created_at: rule.createdAt,
    battery_below: rule.batteryBelow,
    schedule: rule.schedule ? JSON.stringify(rule.schedule) : null,
    template_id: rule.templateId,
    cooldown_seconds: rule.cooldownSeconds,
    max_per_hour: rule.maxPerHour,
    channels: JSON.stringify(rule.channels),
  };
}

export function toRule(row: NotificationDB['rules']): Rule {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    on: row.on_event as RuleTrigger,
    fenceId: row.fence_id === '' ? null : row.fence_id,
    target: JSON.parse(row.target) as Target,
    title: row.title,
    body: row.body,
    templateId: row.template_id,
    priority: row.priority as Priority,
    channels: JSON.parse(row.channels) as ChannelName[],
    enabled: row.enabled === 1,
    batteryBelow: row.battery_below,
    schedule: row.schedule ? (JSON.parse(row.schedule) as TimeWindow) : null,
    cooldownSeconds: row.cooldown_seconds,
    maxPerHour: row.max_per_hour,
    createdAt: row.created_at,
  };
}

/** Fills {name} placeholders; unknown names stay as written, so a typo shows. */
export function fill(text: string, vars: Record<string, string>): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => vars[name] ?? whole);
}
