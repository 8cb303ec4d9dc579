/**
 * The webhook worker: POSTs queued geofence-event deliveries (`webhook_deliveries`) to their
 * subscriptions' URLs in the background, never on the path that took the event in.
 *
 * - A due row is claimed with a compare-and-set on `next_attempt_at` (a lease longer than the
 *   request timeout), so one attempt runs at a time, in this process or any other.
 * - Attempts run concurrently, at most `concurrency` per subscription: a slow or hanging receiver
 *   holds its own slots until the timeout and nobody else's. The drain loop never waits for a
 *   request; a finished attempt wakes it.
 * - A failure (network error, timeout, any status but 2xx) is retried after
 *   base · 2^(attempts−1) (capped at an hour) with equal jitter; after `maxAttempts` attempts, or when
 *   the next attempt would come later than `maxAgeMs` after it was queued, the delivery is dead:
 *   it stays in the table with its last status and error, listed as a dead letter until an operator
 *   replays or deletes it.
 *
 * Everything is in the store, so a restart picks up where the last process stopped: due rows are
 * due, claimed rows fall due when their lease runs out.
 */
import { Counter } from 'prom-client';
import type { Kysely } from 'kysely';
import { newId } from '../../core/ids.js';
import type { Logger } from '../../core/log.js';
import { registry } from '../../core/metrics.js';
import { postSigned } from './channels/index.js';
import { DrainLoop } from './drain-loop.js';
import { backoff } from './outbox.js';
import type { NotificationDB } from './schema.js';

export interface WebhookSettings {
  /** How often the worker looks for due deliveries (new ones wake it at once). */
  pollMs: number;
  /** First retry delay; it doubles with every attempt, up to an hour, with jitter. */
  retryBaseMs: number;
  /** Attempts before a delivery is dead. */
  maxAttempts: number;
  /** A delivery whose next attempt would come later than this after it was queued is dead. */
  maxAgeMs: number;
  /** How long one request may take. */
  timeoutMs: number;
  /** Requests in flight per subscription at most, in each process running the notification service. */
  concurrency: number;
}

const BATCH = 100;
/** Requests in flight in this process at most, over every subscription. */
const MAX_IN_FLIGHT = 256;
/** A claim lasts the timeout plus this: a process killed mid-request leaves the row due again after it. */
const LEASE_SLACK_MS = 30_000;
const KEEP_DELIVERED_MS = 7 * 86_400_000;
const PRUNE_EVERY_MS = 3600_000;

const outcomes = new Counter({ name: 'followme_webhook_attempts_total', help: 'Geofence webhook attempts, by outcome (delivered, retry, dead)', labelNames: ['outcome'], registers: [registry] });

type Due = Pick<NotificationDB['webhook_deliveries'], 'id' | 'tenant_id' | 'webhook_id' | 'event_id' | 'event_type' | 'body' | 'attempts' | 'next_attempt_at' | 'queued_at'> & { url: string; secret: string };

/** Equal jitter: half the back-off for sure, the other half at random, so receivers coming back are not hit by every sender at once. */
export function jittered(delayMs: number, random = Math.random()): number {
  return Math.round(delayMs / 2 + (delayMs / 2) * random);
}

export class WebhookWorker {
  private readonly loop: DrainLoop;
  private abort = new AbortController();
  private readonly inFlight = new Map<string, number>();
  private readonly attempts = new Set<Promise<void>>();
  private prunedAt = 0;

  constructor(
    private readonly db: Kysely<NotificationDB>,
    private readonly settings: WebhookSettings,
    private readonly logger: Logger,
  ) {
    this.loop = new DrainLoop(() => this.drain(), settings.pollMs, (err) => logger.error({ err }, 'webhook drain failed; retrying at the next poll'));
  }

  start(): void {
    this.abort = new AbortController();
    this.loop.start();
  }

  /** Stops taking work; requests in flight are cut short and their deliveries put back as due, the attempt not counted. */
  async stop(): Promise<void> {
    this.abort.abort(new Error('the process is stopping'));
    await this.loop.stop();
    await Promise.all([...this.attempts]);
  }

  /** Looks for due deliveries now (or right after the look in progress). */
  kick(): void {
    this.loop.kick();
  }

  /** Resolves once nothing is due right now and no request is in flight (tests, shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      await this.loop.idle();
      if (this.attempts.size === 0) return;
      await Promise.all([...this.attempts]); // each one kicks the loop as it ends
    }
  }

  private total(): number {
    let n = 0;
    for (const v of this.inFlight.values()) n += v;
    return n;
  }

  private async drain(): Promise<void> {
    await this.prune();
    while (!this.loop.stopped) {
      const now = Date.now();
      const busy = [...this.inFlight].filter(([, n]) => n >= this.settings.concurrency).map(([id]) => id);
      let query = this.db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
        .select(['d.id', 'd.tenant_id', 'd.webhook_id', 'd.event_id', 'd.event_type', 'd.body', 'd.attempts', 'd.next_attempt_at', 'd.queued_at', 'w.url', 'w.secret'])
        .where('d.state', '=', 'queued')
        .where('d.next_attempt_at', '<=', now)
        .where('w.enabled', '=', 1);
      if (busy.length > 0) query = query.where('d.webhook_id', 'not in', busy);
      const due: Due[] = await query.orderBy('d.next_attempt_at').limit(BATCH).execute();
      let started = 0;
      for (const row of due) {
        if (this.loop.stopped || this.total() >= MAX_IN_FLIGHT) break;
        if ((this.inFlight.get(row.webhook_id) ?? 0) >= this.settings.concurrency) continue;
        if (await this.claim(row, now)) {
          this.launch(row);
          started++;
        }
      }
      if (started === 0) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async claim(row: Due, now: number): Promise<boolean> {
    const claimed = await this.db
      .updateTable('webhook_deliveries')
      .set({ attempts: row.attempts + 1, next_attempt_at: now + this.settings.timeoutMs + LEASE_SLACK_MS, last_attempt_at: now })
      .where('id', '=', row.id)
      .where('state', '=', 'queued')
      .where('next_attempt_at', '=', row.next_attempt_at)
      .executeTakeFirst();
    return Number(claimed.numUpdatedRows) === 1;
  }

  private launch(row: Due): void {
    this.inFlight.set(row.webhook_id, (this.inFlight.get(row.webhook_id) ?? 0) + 1);
    const attempt: Promise<void> = this.attempt(row)
      .catch((err: unknown) => this.logger.error({ err, deliveryId: row.id }, 'recording a webhook attempt failed; the lease makes it due again'))
      .finally(() => {
        const left = (this.inFlight.get(row.webhook_id) ?? 1) - 1;
        if (left === 0) this.inFlight.delete(row.webhook_id);
        else this.inFlight.set(row.webhook_id, left);
        this.attempts.delete(attempt);
        this.kick();
      });
    this.attempts.add(attempt);
  }

  private async attempt(row: Due): Promise<void> {
    const attempts = row.attempts + 1;
    const started = Date.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      status = await postSigned({
        url: row.url,
        secret: row.secret,
        body: row.body,
        headers: { 'x-followme-delivery': row.id, 'x-followme-event': row.event_id, 'x-followme-event-type': row.event_type },
        timeoutMs: this.settings.timeoutMs,
        signal: this.abort.signal,
      });
      if (status < 200 || status >= 300) error = `the receiver answered ${status}`;
    } catch (err) {
      if (this.abort.signal.aborted) {
        // stopping: not the receiver's fault, so the attempt does not count; due again at once
        await this.db.updateTable('webhook_deliveries').set({ attempts: row.attempts, next_attempt_at: Date.now() }).where('id', '=', row.id).where('state', '=', 'queued').execute();
        return;
      }
      error = describe(err, this.settings.timeoutMs);
    }
    const at = Date.now();
    const record = { id: newId('wha'), tenant_id: row.tenant_id, delivery_id: row.id, at: started, duration_ms: at - started, status, error };
    if (error === null) {
      outcomes.inc({ outcome: 'delivered' });
      await this.settle(row, record, { state: 'delivered', delivered_at: at, next_attempt_at: null, last_status: status, last_error: null });
      return;
    }
    const next = at + jittered(backoff(this.settings.retryBaseMs, attempts));
    if (attempts >= this.settings.maxAttempts || next > row.queued_at + this.settings.maxAgeMs) {
      outcomes.inc({ outcome: 'dead' });
      this.logger.warn({ deliveryId: row.id, webhookId: row.webhook_id, eventId: row.event_id, attempts, error }, 'webhook delivery is dead; listed as a dead letter');
      await this.settle(row, record, { state: 'dead', dead_at: at, next_attempt_at: null, last_status: status, last_error: error });
    } else {
      outcomes.inc({ outcome: 'retry' });
      this.logger.info({ deliveryId: row.id, webhookId: row.webhook_id, attempts, error, retryInMs: next - at }, 'webhook attempt failed; will retry');
      await this.settle(row, record, { next_attempt_at: next, last_status: status, last_error: error });
    }
  }

  /** The attempt's record and the delivery's new state, together; nothing if the delivery went meanwhile (its subscription was deleted). */
  private async settle(row: Due, record: NotificationDB['webhook_attempts'], changes: Partial<NotificationDB['webhook_deliveries']>): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const updated = await trx.updateTable('webhook_deliveries').set(changes).where('id', '=', row.id).where('state', '=', 'queued').executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 1) await trx.insertInto('webhook_attempts').values(record).execute();
      else this.logger.info({ deliveryId: row.id }, 'webhook delivery gone while it was being sent (subscription deleted); attempt not recorded');
    });
  }

  /** Delivered rows older than a week go (their attempts with them); dead letters stay until an operator acts. */
  private async prune(): Promise<void> {
    const now = Date.now();
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    const gone = await this.db.deleteFrom('webhook_deliveries').where('state', '=', 'delivered').where('delivered_at', '<', now - KEEP_DELIVERED_MS).executeTakeFirst();
    if (Number(gone.numDeletedRows) > 0) this.logger.info({ deleted: Number(gone.numDeletedRows) }, 'pruned delivered webhook deliveries older than a week');
  }
}

/** A failed request in words an operator can act on. */
function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code) return `${cause.code}: ${cause.message ?? String(err)}`;
  return err instanceof Error ? err.message : String(err);
}
