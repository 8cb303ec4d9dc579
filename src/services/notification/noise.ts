/**
 * Noise control: what keeps a flapping device or a busy fence from drowning people. Checks run in
 * this order, and every alert or recipient they leave out is stored with its reason and counted
 * (`followme_notification_suppressed_total{reason}`):
 *
 * per rule        outside_schedule  the rule's schedule is closed now
 *                 duplicate         the rule fired for the same device within its cooldown
 *                 rule_rate_limit   the rule fired max_per_hour times in the last hour
 * per recipient   quiet_hours       the tenant's or the person's quiet hours (critical overrides)
 *                 recipient_rate_limit  the device got the tenant's hourly limit of rule alerts (critical overrides)
 */
import type { Kysely } from 'kysely';
import { Counter } from 'prom-client';
import { newId } from '../../core/ids.js';
import { registry } from '../../core/metrics.js';
import type { Priority } from '../../core/types.js';
import type { Dialect } from '../../ports/store.js';
import type { NotificationDB } from './schema.js';
import { inWindow, type TimeWindow } from './windows.js';

export type SuppressionReason = 'outside_schedule' | 'duplicate' | 'rule_rate_limit' | 'quiet_hours' | 'recipient_rate_limit';

export interface Suppression {
  ruleId: string | null;
  messageId: string | null;
  subject: string | null;
  recipient: string | null;
  reason: SuppressionReason;
  detail: string;
  at: number;
}

const suppressed = new Counter({ name: 'followme_notification_suppressed_total', help: 'Alerts and recipients left out by noise control, by reason', labelNames: ['reason'], registers: [registry] });
const HOUR = 3600_000;

/** A rule alert held back inside its transaction: another alert of the rule took the last slot of the hour meanwhile. */
export class RuleLimitReached extends Error {
  override readonly name = 'RuleLimitReached';
  constructor(readonly blocked: { reason: SuppressionReason; detail: string }) {
    super(blocked.detail);
  }
}

export class NoiseControl {
  constructor(
    private readonly db: Kysely<NotificationDB>,
    private readonly dialect: Dialect = 'sqlite',
  ) {}

  /** Why a rule should not fire now for this device, or undefined when it may. */
  async ruleBlocked(rule: { id: string; schedule: TimeWindow | null; cooldownSeconds: number; maxPerHour: number | null }, subject: string, now: number): Promise<{ reason: SuppressionReason; detail: string } | undefined> {
    if (rule.schedule && !inWindow(rule.schedule, now)) {
      return { reason: 'outside_schedule', detail: `the rule runs ${rule.schedule.days ? `${rule.schedule.days.join(',')} ` : ''}${rule.schedule.from}–${rule.schedule.to} ${rule.schedule.timeZone ?? 'UTC'}` };
    }
    if (rule.cooldownSeconds > 0) {
      const last = await this.db.selectFrom('messages').select('created_at').where('rule_id', '=', rule.id).where('subject', '=', subject).orderBy('created_at', 'desc').limit(1).executeTakeFirst();
      if (last && now - last.created_at < rule.cooldownSeconds * 1000) {
        return { reason: 'duplicate', detail: `the rule alerted about ${subject} ${Math.round((now - last.created_at) / 1000)} s ago; its cooldown is ${rule.cooldownSeconds} s` };
      }
    }
    return this.rateBlocked(this.db, rule, now);
  }

  private async rateBlocked(db: Kysely<NotificationDB>, rule: { id: string; maxPerHour: number | null }, now: number): Promise<{ reason: SuppressionReason; detail: string } | undefined> {
    if (rule.maxPerHour === null) return undefined;
    const { n } = await db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('rule_id', '=', rule.id).where('created_at', '>', now - HOUR).executeTakeFirstOrThrow();
    if (Number(n) >= rule.maxPerHour) return { reason: 'rule_rate_limit', detail: `the rule sent ${Number(n)} alerts in the last hour; its limit is ${rule.maxPerHour}` };
    return undefined;
  }

  /**
   * The hourly limit again, inside the transaction that stores the alert, so alerts of one rule
   * handled at the same moment (other devices, other processes) cannot all pass the count before
   * any is stored: PostgreSQL locks the rule's row until the transaction ends; SQLite has one
   * connection per store, so its transactions run one at a time anyway. Throws RuleLimitReached
   * (rolling the alert back) when the limit is reached.
   */
  async holdRuleLimit(trx: Kysely<NotificationDB>, rule: { id: string; maxPerHour: number | null }, now: number): Promise<void> {
    if (rule.maxPerHour === null) return;
    if (this.dialect === 'postgres') await trx.selectFrom('rules').select('id').where('id', '=', rule.id).forUpdate().execute();
    const blocked = await this.rateBlocked(trx, rule, now);
    if (blocked) throw new RuleLimitReached(blocked);
  }

  /**
   * Splits a rule alert's recipients into those it reaches and those quiet hours or the hourly
   * limit leave out. Critical alerts pass both.
   */
  async filterRecipients(
    tenantId: string,
    deviceIds: string[],
    priority: Priority,
    quiet: { tenant: TimeWindow | null; byDevice: Map<string, TimeWindow> },
    hourlyLimit: number | null,
    now: number,
  ): Promise<{ kept: string[]; left: { recipient: string; reason: SuppressionReason; detail: string }[] }> {
    if (priority === 'critical' || deviceIds.length === 0) return { kept: deviceIds, left: [] };
    const left: { recipient: string; reason: SuppressionReason; detail: string }[] = [];
    let kept: string[] = [];
    const tenantQuiet = quiet.tenant !== null && inWindow(quiet.tenant, now);
    for (const id of deviceIds) {
      const own = quiet.byDevice.get(id);
      if (tenantQuiet) left.push({ recipient: id, reason: 'quiet_hours', detail: `the tenant's quiet hours ${quiet.tenant!.from}–${quiet.tenant!.to} ${quiet.tenant!.timeZone ?? 'UTC'}; only critical alerts pass` });
      else if (own && inWindow(own, now)) left.push({ recipient: id, reason: 'quiet_hours', detail: `the person's quiet hours ${own.from}–${own.to} ${own.timeZone ?? 'UTC'}; only critical alerts pass` });
      else kept.push(id);
    }
    if (hourlyLimit !== null && kept.length > 0) {
      const counts = new Map<string, number>();
      for (let i = 0; i < kept.length; i += 500) {
        const rows = await this.db
          .selectFrom('deliveries')
          .innerJoin('messages', 'messages.id', 'deliveries.message_id')
          .select(['deliveries.device_id', (eb) => eb.fn.countAll<number>().as('n')])
          .where('deliveries.tenant_id', '=', tenantId)
          .where('deliveries.device_id', 'in', kept.slice(i, i + 500))
          .where('deliveries.queued_at', '>', now - HOUR)
          .where('messages.rule_id', 'is not', null)
          .groupBy('deliveries.device_id')
          .execute();
        for (const r of rows) counts.set(r.device_id, Number(r.n));
      }
      const passing: string[] = [];
      for (const id of kept) {
        const n = counts.get(id) ?? 0;
        if (n >= hourlyLimit) left.push({ recipient: id, reason: 'recipient_rate_limit', detail: `got ${n} rule alerts in the last hour; the tenant's limit is ${hourlyLimit}` });
        else passing.push(id);
      }
      kept = passing;
    }
    return { kept, left };
  }

  /** Stores and counts suppressions. */
  async record(tenantId: string, entries: Suppression[]): Promise<void> {
    if (entries.length === 0) return;
    for (let i = 0; i < entries.length; i += 500) {
      await this.db
        .insertInto('suppressions')
        .values(entries.slice(i, i + 500).map((e) => ({ id: newId('sup'), tenant_id: tenantId, rule_id: e.ruleId, message_id: e.messageId, subject: e.subject, recipient: e.recipient, reason: e.reason, detail: e.detail, at: e.at })))
        .execute();
    }
    for (const e of entries) suppressed.inc({ reason: e.reason });
  }
}

export function toSuppression(row: NotificationDB['suppressions']): Suppression {
  return { ruleId: row.rule_id, messageId: row.message_id, subject: row.subject, recipient: row.recipient, reason: row.reason as SuppressionReason, detail: row.detail, at: row.at };
}
