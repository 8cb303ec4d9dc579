/**
 * Partition ownership by leases in the bus's key-value store (NATS KV in a cluster): each of the
 * `partitions` of a key space (`tracker`, `geofence`) is held by at most one process at a time.
 *
 * - A lease is the KV entry `<name>.p<n>` = { owner, expires }; it is taken with compare-and-set on
 *   the entry's revision (create when absent), renewed by its owner every ttl/5 the same way, and may
 *   be taken by another process only once `expires` has passed (wall clock: hosts need clocks within
 *   a fraction of the ttl of each other, which NTP gives).
 * - Members announce themselves as `<name>.m.<id>` = { expires }; each process aims at its fair share,
 *   ceil(partitions / live members): it takes free or expired partitions while below it, and hands
 *   back partitions above it (gracefully: work stops, state is written back, then the lease is deleted).
 * - A process that cannot renew a lease (lost to another, or the KV unreachable until the lease is
 *   about to expire) stops working on that partition at once: it fences itself before anyone else
 *   may take over, as long as its handler finishes within the remaining margin (three tenths of the
 *   ttl, less a tick). The check runs at every tick, also while a slow renewal round is still out.
 * - On acquiring, `state` users (per-key caches) drop what they hold for the partition before `work`
 *   users (consumers, responders) start; so a new owner always starts from the store.
 * - The lease rounds only talk to the KV store. Starting and stopping the users' work runs in a
 *   queue per partition, beside the rounds: a partition whose handlers take seconds to finish
 *   while it is handed on (or fenced) never holds up the renewal of the others. A process that
 *   waited for that work inside its round let all its other leases run late under load, fenced
 *   itself out of every partition at once and handed the whole backlog to a process doing the same.
 * - `join` enters the key space without taking partitions; `run` takes the first share once the
 *   process is otherwise ready (consumers made, responders listening), so a restart's backlog does
 *   not compete with its own start.
 *
 * docs/cluster.md ("Ownership") explains why leases and what they cost.
 */
import { randomUUID } from 'node:crypto';
import { Gauge } from 'prom-client';
import type { Logger } from '../core/log.js';
import { registry } from '../core/metrics.js';
import { partitionOf, type Bus, type KeyValue, type Ownership, type PartitionUser } from '../ports/bus.js';

interface Lease {
  owner: string;
  expires: number;
}

export interface LeaseOptions {
  /** The key space: processes with the same name share its partitions. */
  name: string;
  partitions: number;
  /** How long a lease lasts without renewal: the longest a dead owner's partitions wait for a new owner. Default 10 s. */
  ttlMs?: number;
  logger?: Logger | undefined;
  /** Process id shown in the leases (default: a random one). */
  id?: string;
}

interface Held {
  revision: number;
  validUntil: number;
  /** Set once its work is being stopped: handed back (still renewed until its lease is deleted) or lost (not renewed). */
  leaving?: 'handing back' | 'lost';
}

type Kind = 'state' | 'work';

/** Renewal rounds per ttl (and fencing checks: the margin below must exceed one tick, so a lease is given up before it ends). */
const RENEWALS_PER_TTL = 5;
/** Leases are given up (self-fencing) once less than this share of their ttl is left unrenewed. */
const FENCE_MARGIN = 0.3;

/** A user's release taking this long is named in the log line of the partition's release. */
const SLOW_RELEASE_MS = 1000;

/** Every ownership of this process, for the gauge below. */
const inProcess = new Set<LeasedOwnership>();
new Gauge({
  name: 'followme_partitions_working',
  help: 'Partitions this process holds and works on (leased, users started, not being handed on), per key space',
  labelNames: ['ownership'],
  registers: [registry],
  collect() {
    this.reset();
    for (const o of inProcess) this.inc({ ownership: o.name }, o.working);
  },
});

export class LeasedOwnership implements Ownership {
  readonly name: string;
  readonly partitions: number;
  readonly id: string;
  private readonly ttlMs: number;
  /** Partitions whose lease we hold, until their users are released. */
  private readonly owned = new Map<number, Held>();
  private readonly users: { user: PartitionUser; kind: Kind }[] = [];
  /** Per partition: the users that acquired it, in order. */
  private readonly active = new Map<number, { user: PartitionUser; kind: Kind }[]>();
  /** Per partition: its acquisitions and releases, one after the other. */
  private readonly queues = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  /** The renewal round and the balancing round in progress, if any: each runs alone, and neither waits for the other. */
  private renewing: Promise<void> | undefined;
  private balancing: Promise<void> | undefined;
  private running = false;
  private stopped = false;

  private constructor(
    private readonly kv: KeyValue<Lease>,
    private readonly options: LeaseOptions,
  ) {
    this.name = options.name;
    this.partitions = options.partitions;
    this.ttlMs = options.ttlMs ?? 10_000;
    this.id = options.id ?? randomUUID();
  }

  /** Enters the key space without taking partitions yet: users attach, then `run` takes the first share. */
  static async join(bus: Bus, options: LeaseOptions): Promise<LeasedOwnership> {
    return new LeasedOwnership(await bus.kv<Lease>('leases'), options);
  }

  /** Joins the key space and takes a first share of partitions at once. */
  static async start(bus: Bus, options: LeaseOptions): Promise<LeasedOwnership> {
    const ownership = await LeasedOwnership.join(bus, options);
    await ownership.run();
    return ownership;
  }

  /** Takes a first share of partitions (resolves once their users started) and keeps the leases from then on. */
  async run(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    inProcess.add(this);
    await this.round('renew');
    await this.round('balance');
    await this.settled();
    // Every tick checks the leases first, also while a slow renewal round is still out: a round that
    // hangs must not keep this process working on partitions whose leases ran out.
    this.timer = setInterval(() => {
      this.fence();
      void this.round('renew');
      void this.round('balance');
    }, Math.max(50, Math.floor(this.ttlMs / RENEWALS_PER_TTL)));
    this.timer.unref();
  }

  partitionOf(key: string): number {
    return partitionOf(key, this.partitions);
  }

  owns(partition: number): boolean {
    return this.owned.has(partition);
  }

  leaving(partition: number): boolean {
    return this.owned.get(partition)?.leaving !== undefined;
  }

  /** Partitions held now (for logs and tests). */
  get held(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  /** How many partitions are worked on now: leased, their users started, not being handed on. */
  get working(): number {
    let n = 0;
    for (const [p, lease] of this.owned) if (!lease.leaving && this.active.get(p)?.length === this.users.length) n++;
    return n;
  }

  async attach(user: PartitionUser, kind: Kind): Promise<() => Promise<void>> {
    const entry = { user, kind };
    this.users.push(entry);
    await Promise.all([...this.owned.keys()].map((p) => this.enqueue(p, () => this.acquireUsers(p))));
    return async () => {
      const i = this.users.indexOf(entry);
      if (i < 0) return;
      this.users.splice(i, 1);
      await Promise.all(
        [...this.active.keys()].map((p) =>
          this.enqueue(p, async () => {
            const list = this.active.get(p) ?? [];
            const at = list.indexOf(entry);
            if (at < 0) return;
            list.splice(at, 1);
            await user.release(p);
          }),
        ),
      );
    };
  }

  /** Hands every partition back (work stops, state written back, leases deleted) and leaves; leases stay renewed meanwhile. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.balancing;
    for (const p of this.owned.keys()) this.leave(p, 'handing back');
    await this.settled();
    if (this.timer) clearInterval(this.timer);
    inProcess.delete(this);
    await this.kv.delete(this.memberKey(this.id)).catch(() => undefined);
  }

  /** Resolves when no acquisition or release is queued. */
  private async settled(): Promise<void> {
    while (this.queues.size > 0) await Promise.allSettled([...this.queues.values()]);
  }

  /**
   * Renewal (self-fencing, our member entry, every lease we hold) and balancing (counting members,
   * handing back above our share, taking free partitions below it) are separate rounds: listing the
   * members costs a JetStream consumer and can take seconds on a busy server, and renewals must not
   * wait for it. A round still running when the timer fires again is not started twice.
   */
  private round(which: 'renew' | 'balance'): Promise<void> {
    const running = which === 'renew' ? this.renewing : this.balancing;
    if (running) return running;
    const next = (which === 'renew' ? this.renew() : this.balance())
      .catch((err: unknown) => this.options.logger?.warn({ err, ownership: this.name, round: which }, 'lease round failed; trying again at the next one'))
      .finally(() => {
        if (which === 'renew') this.renewing = undefined;
        else this.balancing = undefined;
      });
    if (which === 'renew') this.renewing = next;
    else this.balancing = next;
    return next;
  }

  /**
   * Self-fencing: a lease not renewed for most of its ttl (all but FENCE_MARGIN of it) is no longer
   * ours to use; work on it stops before another process may take it. The margin used to be a third
   * of the ttl, checked only when the next renewal round began: one round slower than a tick (renewals
   * were every third of the ttl) then fenced the process out of every partition at the start of the
   * round after, while its leases had more than a second left (a 5,000-device run: a tracker holding
   * all 16 partitions let them go at once and took them back a second later).
   */
  private fence(now = Date.now()): void {
    const fenced = [...this.owned].filter(([, lease]) => lease.leaving !== 'lost' && lease.validUntil - this.ttlMs * FENCE_MARGIN <= now).map(([p]) => p);
    if (fenced.length === 0) return;
    this.options.logger?.warn({ ownership: this.name, partitions: fenced, ttlMs: this.ttlMs }, `leases not renewed for ${Math.round(this.ttlMs * (1 - FENCE_MARGIN))} ms: stopping work on ${fenced.length} partitions (their next owner takes them once they expire)`);
    for (const p of fenced) this.leave(p, 'lost');
  }

  /** KV reads and writes only; the users' work is queued per partition, not waited for. */
  private async renew(): Promise<void> {
    const now = Date.now();
    this.fence(now);
    // Stopping: leases being handed back are still renewed until they are deleted, nothing more.
    if (!this.stopped) await this.kv.put(this.memberKey(this.id), { owner: this.id, expires: now + this.ttlMs });
    await Promise.all([...this.owned].filter(([, lease]) => lease.leaving !== 'lost').map(([p]) => this.renewLease(p)));
  }

  private async balance(): Promise<void> {
    if (this.stopped) return;
    const members = await this.liveMembers();
    if (this.stopped) return;
    const share = Math.ceil(this.partitions / Math.max(1, members));
    const staying = () => [...this.owned].filter(([, lease]) => !lease.leaving).map(([p]) => p);
    for (const p of staying().sort((a, b) => a - b).slice(share)) this.leave(p, 'handing back'); // the highest go
    if (this.owned.size >= share) return;
    // Start the search at a different place per process, so that joiners do not all race for p0.
    const offset = Number.parseInt(this.id.replace(/[^0-9a-f]/gi, '').slice(0, 6) || '0', 16) % this.partitions;
    for (let i = 0; i < this.partitions && this.owned.size < share && !this.stopped; i++) {
      const p = (offset + i) % this.partitions;
      if (!this.owned.has(p)) await this.tryTake(p);
    }
  }

  private async renewLease(p: number): Promise<void> {
    const lease = this.owned.get(p);
    if (!lease) return;
    const expires = Date.now() + this.ttlMs;
    let ok = false;
    try {
      ok = await this.kv.update(this.leaseKey(p), { owner: this.id, expires }, lease.revision);
    } catch (err) {
      this.options.logger?.warn({ err, ownership: this.name, partition: p }, 'could not renew a lease');
      return; // validUntil stays: the self-fencing check drops it in time
    }
    if (!ok) {
      if (this.owned.get(p) !== lease) return; // handed back and deleted meanwhile
      this.options.logger?.warn({ ownership: this.name, partition: p }, 'lease taken by another process; stopping work on the partition');
      this.leave(p, 'lost');
      return;
    }
    const entry = await this.kv.get(this.leaseKey(p));
    if (entry?.value.owner === this.id && this.owned.get(p) === lease) {
      lease.revision = entry.revision;
      lease.validUntil = expires;
    }
  }

  private async tryTake(p: number): Promise<void> {
    const key = this.leaseKey(p);
    const entry = await this.kv.get(key);
    const now = Date.now();
    if (entry && entry.value.expires > now && entry.value.owner !== this.id) return;
    const expires = now + this.ttlMs;
    if (!(await this.kv.update(key, { owner: this.id, expires }, entry?.revision ?? 0))) return;
    const taken = await this.kv.get(key);
    if (taken?.value.owner !== this.id) return;
    this.owned.set(p, { revision: taken.revision, validUntil: expires });
    this.options.logger?.info({ ownership: this.name, partition: p, from: entry?.value.owner }, 'partition acquired');
    void this.enqueue(p, () => this.acquireUsers(p));
  }

  /** State users first (caches dropped), then work users (consumers, responders) start. */
  private async acquireUsers(p: number): Promise<void> {
    const lease = this.owned.get(p);
    if (!lease || lease.leaving) return;
    const list = this.active.get(p) ?? [];
    this.active.set(p, list);
    const pending = this.users.filter((u) => !list.includes(u)).sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'state' ? -1 : 1));
    try {
      for (const entry of pending) {
        await entry.user.acquire(p);
        list.push(entry);
      }
    } catch (err) {
      this.options.logger?.error({ err, ownership: this.name, partition: p }, 'could not start work on a partition; handing it back');
      this.leave(p, 'handing back');
    }
  }

  /**
   * Work stops first, then state is written back and dropped, in the partition's queue; a lease
   * handed back is deleted afterwards, so the next owner need not wait for it to expire.
   */
  private leave(p: number, why: 'handing back' | 'lost'): void {
    const lease = this.owned.get(p);
    if (!lease) return;
    const first = !lease.leaving;
    if (why === 'lost' || first) lease.leaving = why;
    if (!first) return;
    void this.enqueue(p, async () => {
      const list = this.active.get(p) ?? [];
      this.active.delete(p);
      const began = Date.now();
      /** Users whose release took a second or more, with how long: what a slow hand-over waited for. */
      const slow: Record<string, number> = {};
      for (const entry of [...list.filter((e) => e.kind === 'work').reverse(), ...list.filter((e) => e.kind === 'state').reverse()]) {
        const at = Date.now();
        await entry.user.release(p);
        if (Date.now() - at >= SLOW_RELEASE_MS) slow[entry.user.name ?? `a ${entry.kind} user`] = Date.now() - at;
      }
      this.owned.delete(p);
      const handBack = lease.leaving === 'handing back';
      if (handBack) {
        const entry = await this.kv.get(this.leaseKey(p)).catch(() => undefined);
        if (entry?.value.owner === this.id) await this.kv.delete(this.leaseKey(p)).catch(() => undefined);
      }
      const ms = Date.now() - began;
      if (Object.keys(slow).length > 0) this.options.logger?.info({ ownership: this.name, partition: p, handBack, ms, slow }, `partition released after ${ms} ms`);
      else this.options.logger?.info({ ownership: this.name, partition: p, handBack, ms }, 'partition released');
    });
  }

  /** Runs `task` after whatever the partition's queue holds; failures are logged, and the queue goes on. */
  private enqueue(p: number, task: () => Promise<void>): Promise<void> {
    const next = (this.queues.get(p) ?? Promise.resolve()).then(task).catch((err: unknown) => this.options.logger?.error({ err, ownership: this.name, partition: p }, 'partition hand-over failed'));
    this.queues.set(p, next);
    void next.then(() => {
      if (this.queues.get(p) === next) this.queues.delete(p);
    });
    return next;
  }

  private async liveMembers(): Promise<number> {
    const prefix = `${this.name}.m.`;
    const now = Date.now();
    let live = 0;
    const keys = (await this.kv.keys()).filter((key) => key.startsWith(prefix));
    for (const entry of await Promise.all(keys.map((key) => this.kv.get(key)))) if (entry && entry.value.expires > now) live++;
    return live;
  }

  private leaseKey(p: number): string {
    return `${this.name}.p${p}`;
  }

  private memberKey(id: string): string {
    return `${this.name}.m.${id}`;
  }
}
