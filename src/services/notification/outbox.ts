/**
 * The outbox worker: drains what create() stored, in the background, never inside the write.
 *
 * - In-app deliveries whose `dispatch_at` is due go to the bus (`notification.dispatch`) in
 *   batches, yielding to the event loop between batches; `dispatch_at` is cleared once published.
 *   A device that is not connected gets them at its next hello (store and forward).
 * - Channel rows (e-mail, SMS, push, webhook) are claimed with a compare-and-set on
 *   `next_attempt_at` (a lease), sent, and marked sent/delivered, or given a later attempt with
 *   exponential back-off and the error, or failed after the last attempt or a permanent refusal.
 * - A row whose last attempt may have reached the provider (no answer, and for SMS Twilio's message
 *   list could not settle it) ends `unknown` instead of `failed`: it may have arrived.
 *
 * Everything the worker needs is in the store, so after a crash or restart it picks up where the
 * last process stopped: due rows are due, leased rows fall due when their lease runs out.
 */
import { Counter } from 'prom-client';
import type { Kysely } from 'kysely';
import { registry } from '../../core/metrics.js';
import type { Logger } from '../../core/log.js';
import type { Priority } from '../../core/types.js';
import type { Bus } from '../../ports/bus.js';
import { OutcomeUnknownError, PermanentChannelError, type ChannelName, type ChannelSet, type OutgoingMessage } from './channels/index.js';
import { DrainLoop } from './drain-loop.js';
import { publishDeliveryUpdates } from './events.js';
import type { NotificationDB } from './schema.js';

export interface OutboxSettings {
  pollMs: number;
  retryBaseMs: number;
  maxAttempts: number;
  /** How long a claimed row is reserved for the attempt (default 60 s). */
  leaseMs?: number | undefined;
}

const APP_BATCH = 1000;
const CHANNEL_BATCH = 50;
const LEASE_MS = 60_000;
const MAX_BACKOFF_MS = 3600_000;

const channelSends = new Counter({ name: 'followme_notification_channel_sends_total', help: 'Channel send attempts, by channel and outcome', labelNames: ['channel', 'outcome'], registers: [registry] });

type MessageRow = NotificationDB['messages'];

/** A message row as the channels see it. */
export function outgoing(m: MessageRow): OutgoingMessage {
  return {
    id: m.id,
    tenantId: m.tenant_id,
    title: m.title,
    body: m.body,
    priority: m.priority as Priority,
    options: m.options ? (JSON.parse(m.options) as string[]) : null,
    ackRequired: m.ack_required === 1,
    createdAt: m.created_at,
    expiresAt: m.expires_at,
  };
}

/** Back-off before attempt n+1 after n failed attempts: base · 2^(n−1), capped at an hour. */
export function backoff(baseMs: number, attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempts - 1));
}

export class OutboxWorker {
  private readonly loop: DrainLoop;

  constructor(
    private readonly db: Kysely<NotificationDB>,
    private readonly bus: Bus,
    private readonly channels: ChannelSet,
    private readonly settings: OutboxSettings,
    private readonly logger: Logger,
    private readonly linkFor: (tenantId: string) => string | undefined,
    /** The tenant's own e-mail sender (white-label), if it has one. */
    private readonly emailFromFor: (tenantId: string) => Promise<string | null> = async () => null,
  ) {
    this.loop = new DrainLoop(() => this.drain(), settings.pollMs, (err) => logger.error({ err }, 'outbox drain failed; retrying at the next poll'));
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** Drains now (or right after the drain in progress). */
  kick(): void {
    this.loop.kick();
  }

  /** Resolves once nothing is due (for tests and shutdown). */
  async idle(): Promise<void> {
    await this.loop.idle();
  }

  private async drain(): Promise<void> {
    while (!this.loop.stopped) {
      const app = await this.drainApp();
      const other = await this.drainChannels();
      if (app === 0 && other === 0) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private async drainApp(): Promise<number> {
    const now = Date.now();
    // deliveries alone, so the dispatch_at index drives the query; their few messages after
    const rows = await this.db.selectFrom('deliveries').select(['id', 'message_id', 'device_id']).where('dispatch_at', '<=', now).orderBy('dispatch_at').limit(APP_BATCH).execute();
    if (rows.length === 0) return 0;
    const messageIds = [...new Set(rows.map((r) => r.message_id))];
    const messages = new Map((await this.db.selectFrom('messages').selectAll().where('id', 'in', messageIds).execute()).map((m) => [m.id, outgoing(m)]));
    // One bus message per message and DISPATCH_BATCH devices, all in flight at once; they leave on
    // the connection in this order.
    const jobs = rows.flatMap((row) => {
      const message = messages.get(row.message_id);
      if (!message || (message.expiresAt !== null && message.expiresAt <= now)) return []; // the expiry sweep marks it
      return [{ id: row.id, address: row.device_id, message }];
    });
    await this.channels.app.dispatchAll(jobs);
    const ids = rows.map((r) => r.id);
    for (let i = 0; i < ids.length; i += 500) await this.db.updateTable('deliveries').set({ dispatch_at: null }).where('id', 'in', ids.slice(i, i + 500)).execute();
    return rows.length;
  }

  private async drainChannels(): Promise<number> {
    const now = Date.now();
    const due = await this.db.selectFrom('outbox').selectAll().where('state', '=', 'queued').where('next_attempt_at', '<=', now).orderBy('next_attempt_at').limit(CHANNEL_BATCH).execute();
    if (due.length === 0) return 0;
    await Promise.all(due.map((row) => this.attempt(row, now)));
    return due.length;
  }

  private async attempt(row: NotificationDB['outbox'], now: number): Promise<void> {
    // claim: only one worker (and only one attempt) gets the row until the lease runs out
    const claimed = await this.db
      .updateTable('outbox')
      .set({ attempts: row.attempts + 1, next_attempt_at: now + (this.settings.leaseMs ?? LEASE_MS) })
      .where('id', '=', row.id)
      .where('state', '=', 'queued')
      .where('next_attempt_at', '=', row.next_attempt_at)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) return;
    const attempts = row.attempts + 1;
    const message = await this.db.selectFrom('messages').selectAll().where('id', '=', row.message_id).executeTakeFirst();
    if (!message) return;
    if (message.expires_at !== null && message.expires_at <= now) {
      await this.finish(row, { state: 'expired', expired_at: now, next_attempt_at: null });
      return;
    }
    const channel = this.channels[row.channel as ChannelName];
    let secret: string | undefined;
    if (row.channel === 'webhook') {
      secret = (await this.db.selectFrom('tenant_settings').select('webhook_secret').where('tenant_id', '=', row.tenant_id).executeTakeFirst())?.webhook_secret ?? undefined;
    }
    const from = row.channel === 'email' ? ((await this.emailFromFor(row.tenant_id)) ?? undefined) : undefined;
    const job = { id: row.id, channel: row.channel as ChannelName, recipient: row.recipient, address: row.address, message: outgoing(message), secret, from, link: this.linkFor(row.tenant_id) };
    // Whether an attempt of this row may have reached the provider without us knowing: an earlier
    // one still marked, until the provider's list says it did not arrive, or this one.
    let doubt = row.sending_at != null;
    try {
      // No idempotency key at the provider: an attempt whose answer was never recorded is looked up
      // there before anything is sent again, and every attempt is marked before it starts.
      let outcome = channel.reconcile && row.sending_at != null ? await channel.reconcile(job, row.sending_at) : undefined;
      if (outcome) {
        channelSends.inc({ channel: row.channel, outcome: 'reconciled' });
        this.logger.info({ outboxId: row.id, channel: row.channel, since: row.sending_at }, 'an earlier attempt had reached the provider; recorded, not sent again');
      } else {
        doubt = false; // the provider's list shows no earlier attempt arrived (or there was none)
        if (channel.reconcile) await this.db.updateTable('outbox').set({ sending_at: row.sending_at ?? Date.now() }).where('id', '=', row.id).execute();
        outcome = await channel.send(job);
        channelSends.inc({ channel: row.channel, outcome: 'ok' });
      }
      const at = Date.now();
      await this.finish(row, outcome === 'delivered' ? { state: 'delivered', sent_at: at, delivered_at: at, next_attempt_at: null, last_error: null, sending_at: null } : { state: 'sent', sent_at: at, next_attempt_at: null, last_error: null, sending_at: null });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      const permanent = err instanceof PermanentChannelError;
      if (err instanceof OutcomeUnknownError) doubt = true;
      const at = Date.now();
      if (!permanent && doubt && attempts >= this.settings.maxAttempts) {
        // Given up, but the text may have arrived: say so rather than "failed". The mark stays, as
        // the time from which the provider's records would show it.
        channelSends.inc({ channel: row.channel, outcome: 'unknown' });
        const why = `outcome unknown after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${reason}`;
        this.logger.warn({ outboxId: row.id, channel: row.channel, attempts, reason, since: row.sending_at }, 'channel send given up with its outcome unknown; it may have arrived');
        await this.finish(row, { state: 'unknown', failed_at: at, next_attempt_at: null, last_error: why });
      } else if (permanent || attempts >= this.settings.maxAttempts) {
        channelSends.inc({ channel: row.channel, outcome: 'failed' });
        this.logger.warn({ outboxId: row.id, channel: row.channel, attempts, reason }, 'channel send failed for good');
        await this.finish(row, { state: 'failed', failed_at: at, next_attempt_at: null, last_error: reason, sending_at: null });
      } else {
        // An unknown outcome keeps the mark, so the next attempt looks first; a plain refusal after
        // the list showed nothing arrived (or with no earlier attempt) clears it.
        channelSends.inc({ channel: row.channel, outcome: 'retry' });
        this.logger.info({ outboxId: row.id, channel: row.channel, attempts, reason, outcomeUnknown: doubt }, 'channel send failed; will retry');
        await this.db
          .updateTable('outbox')
          .set({ next_attempt_at: at + backoff(this.settings.retryBaseMs, attempts), last_error: reason, ...(doubt ? {} : { sending_at: null }) })
          .where('id', '=', row.id)
          .execute();
      }
    }
  }

  private async finish(row: NotificationDB['outbox'], changes: Partial<NotificationDB['outbox']>): Promise<void> {
    await this.db.updateTable('outbox').set(changes).where('id', '=', row.id).execute();
    await publishDeliveryUpdates(this.bus, [{ tenantId: row.tenant_id, messageId: row.message_id, deliveryId: row.id, channel: row.channel as ChannelName, recipient: row.recipient, state: changes.state as never, at: Date.now(), ...(changes.last_error ? { error: changes.last_error } : {}) }]);
  }
}
