/**
 * Partition ownership by leases in the bus's key-value store (NATS KV in a cluster): each of the
 * `partitions` of a key space (`tracker`, `geofence`) is held by at most one process at a time.
 *
 * - A lease is the KV entry `<name>.p<n>` = { owner, expires }; it is taken with compare-and-set on
 *   the entry's revision (create when absent), renewed by its owner every ttl/3 the same way, and may
 *   be taken by another process only once `expires` has passed (wall clock: hosts need clocks within
 *   a fraction of the ttl of each other, which NTP gives).
 * - Members announce themselves as `<name>.m.<id>` = { expires }; each process aims at its fair share,
 *   ceil(partitions / live members): it takes free or expired partitions while below it, and hands
 *   back partitions above it (gracefully: work stops, state is written back, then the lease is deleted).
 * - A process that cannot renew a lease (lost to another, or the KV unreachable until the lease is
 *   about to expire) stops working on that partition at once: it fences itself before anyone else
 *   may take over, as long as its handler finishes within the remaining margin (a third of the ttl).
 * - On acquiring, `state` users (per-key caches) drop what they hold for the partition before `work`
 *   users (consumers, responders) start; so a new owner always starts from the store.
 *
 * docs/cluster.md ("Ownership") explains why leases and what they cost.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../core/log.js';
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

export class LeasedOwnership implements Ownership {
  readonly name: string;
  readonly partitions: number;
  readonly id: string;
  private readonly ttlMs: number;
  private readonly owned = new Map<number, { revision: number; validUntil: number }>();
  private readonly stateUsers: PartitionUser[] = [];
  private readonly workUsers: PartitionUser[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
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

  /** Joins the key space and takes a first share of partitions. */
  static async start(bus: Bus, options: LeaseOptions): Promise<LeasedOwnership> {
    const ownership = new LeasedOwnership(await bus.kv<Lease>('leases'), options);
    await ownership.tick();
    ownership.timer = setInterval(() => void ownership.schedule(), Math.max(50, Math.floor(ownership.ttlMs / 3)));
    ownership.timer.unref();
    return ownership;
  }

  partitionOf(key: string): number {
    return partitionOf(key, this.partitions);
  }

  owns(partition: number): boolean {
    return this.owned.has(partition);
  }

  /** Partitions held now (for logs and tests). */
  get held(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  async attach(user: PartitionUser, kind: 'state' | 'work'): Promise<() => Promise<void>> {
    const list = kind === 'state' ? this.stateUsers : this.workUsers;
    await this.serial(async () => {
      list.push(user);
      for (const p of this.owned.keys()) await user.acquire(p);
    });
    return () =>
      this.serial(async () => {
        const i = list.indexOf(user);
        if (i < 0) return;
        list.splice(i, 1);
        for (const p of this.owned.keys()) await user.release(p);
      });
  }

  /** Hands every partition back (work stops, state written back, leases deleted) and leaves. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.serial(async () => {
      await Promise.all([...this.owned.keys()].map((p) => this.release(p, true)));
      await this.kv.delete(this.memberKey(this.id)).catch(() => undefined);
    });
  }

  private schedule(): Promise<void> {
    return this.serial(() => this.tick());
  }

  /** Everything that changes ownership runs one at a time. */
  private serial(task: () => Promise<void>): Promise<void> {
    const next = this.ticking.then(task);
    this.ticking = next.catch((err: unknown) => this.options.logger?.warn({ err, ownership: this.name }, 'lease round failed; trying again at the next one'));
    return next;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    // Self-fencing first: a lease we could not renew for most of its ttl is no longer ours to use.
    for (const [p, lease] of this.owned) if (lease.validUntil - this.ttlMs / 3 <= now) await this.release(p, false);
    await this.kv.put(this.memberKey(this.id), { owner: this.id, expires: now + this.ttlMs });
    await Promise.all([...this.owned.keys()].map((p) => this.renew(p)));
    const members = await this.liveMembers();
    const share = Math.ceil(this.partitions / Math.max(1, members));
    for (const p of [...this.owned.keys()].sort((a, b) => b - a)) {
      if (this.owned.size <= share) break;
      await this.release(p, true);
    }
    if (this.owned.size >= share) return;
    // Start the search at a different place per process, so that joiners do not all race for p0.
    const offset = Number.parseInt(this.id.replace(/[^0-9a-f]/gi, '').slice(0, 6) || '0', 16) % this.partitions;
    for (let i = 0; i < this.partitions && this.owned.size < share; i++) {
      const p = (offset + i) % this.partitions;
      if (!this.owned.has(p)) await this.tryTake(p);
    }
  }

  private async renew(p: number): Promise<void> {
    const lease = this.owned.get(p)!;
    const expires = Date.now() + this.ttlMs;
    let ok = false;
    try {
      ok = await this.kv.update(this.leaseKey(p), { owner: this.id, expires }, lease.revision);
    } catch (err) {
      this.options.logger?.warn({ err, ownership: this.name, partition: p }, 'could not renew a lease');
      return; // validUntil stays: the self-fencing check above drops it in time
    }
    if (!ok) {
      this.options.logger?.warn({ ownership: this.name, partition: p }, 'lease taken by another process; stopping work on the partition');
      await this.release(p, false);
      return;
    }
    const entry = await this.kv.get(this.leaseKey(p));
    if (entry?.value.owner === this.id) this.owned.set(p, { revision: entry.revision, validUntil: expires });
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
    for (const user of this.stateUsers) await user.acquire(p);
    for (const user of this.workUsers) await user.acquire(p);
  }

  /** Work stops first, then state is written back and dropped; `handBack` deletes the lease so the next owner need not wait for it to expire. */
  private async release(p: number, handBack: boolean): Promise<void> {
    const lease = this.owned.get(p);
    if (!lease) return;
    for (const user of this.workUsers) await user.release(p);
    for (const user of this.stateUsers) await user.release(p);
    this.owned.delete(p);
    if (handBack) {
      const entry = await this.kv.get(this.leaseKey(p)).catch(() => undefined);
      if (entry?.value.owner === this.id) await this.kv.delete(this.leaseKey(p)).catch(() => undefined);
    }
    this.options.logger?.info({ ownership: this.name, partition: p, handBack }, 'partition released');
  }

  private async liveMembers(): Promise<number> {
    const prefix = `${this.name}.m.`;
    const now = Date.now();
    let live = 0;
    for (const key of await this.kv.keys()) {
      if (!key.startsWith(prefix)) continue;
      const entry = await this.kv.get(key);
      if (entry && entry.value.expires > now) live++;
    }
    return live;
  }

  private leaseKey(p: number): string {
    return `${this.name}.p${p}`;
  }

  private memberKey(id: string): string {
    return `${this.name}.m.${id}`;
  }
}
