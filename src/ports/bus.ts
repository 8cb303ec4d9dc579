/**
 * The Bus port: how the edge and the services meet. Modelled on what NATS JetStream gives,
 * so that the in-process adapter promises nothing the NATS one cannot:
 * - publish: the message is accepted when the promise resolves;
 * - consume: a durable, named consumer gets every message at least once, in publish order
 *   per key; a handler that throws gets the message again after a back-off (redelivered > 0),
 *   so handlers must be idempotent;
 * - subscribe: an ephemeral, at-most-once listener (live views), which misses what was published
 *   while it was away;
 * - request/respond: typed queries between processes;
 * - kv: shared key-value state with revisions for compare-and-set.
 */
export interface Topic<T> {
  readonly name: string;
  /** Phantom field carrying the payload type; never set. */
  readonly _payload?: T;
}

export function topic<T>(name: string): Topic<T> {
  return { name };
}

/**
 * A service changed settings of a tenant that processes cache (tracking settings, rules …). Every
 * process running that service drops its copy on this one signal (an ephemeral `subscribe`: every
 * process gets it, in a cluster over NATS), so a change made through any process holds everywhere.
 */
export interface SettingsChanged {
  tenantId: string;
  /** The service whose settings changed; only its caches listen. */
  service: 'tracker' | 'notification';
  /** What changed, for the log: `tracking`, `visibility`, `rules`, `tenant` (imported or purged). */
  what: string;
}

export const settingsChanged = topic<SettingsChanged>('settings.changed');

export interface BusMessage<T> {
  topic: string;
  /** Ordering key (a device id, a message id): messages with one key are handled in order. */
  key: string;
  data: T;
  /** How many times this message was handed out before (0 the first time). */
  redelivered: number;
}

export type Handler<T> = (message: BusMessage<T>) => Promise<void> | void;

export interface Subscription {
  close(): Promise<void>;
}

export interface ConsumeOptions {
  /** Give up after this many failed attempts and log the message as dead. Default 10. (With an owner: attempts in one owner; hand-overs do not count.) */
  maxDeliver?: number;
  /**
   * Cluster: consume only the partitions this process owns (see Ownership), so that the state a
   * handler caches per key has one owner at a time. The in-process bus has one process: it ignores it.
   */
  owner?: Ownership;
}

export interface RespondOptions {
  /** Cluster: answer only requests for keys of the partitions this process owns (requests name their key). */
  owner?: Ownership;
}

export interface RequestOptions {
  /** Routes the request to the process owning this key's partition (the responder was registered with an owner). */
  key?: string;
}

/** Something that works on a partition while this process owns it: consumers, responders, per-key caches. */
export interface PartitionUser {
  /** What it is, for the log (e.g. "consumer geofence"): a release that takes long names the users that held it. */
  name?: string;
  /** The partition is now this process's: load or drop cached state, start work. */
  acquire(partition: number): Promise<void> | void;
  /** The partition is going (or gone) elsewhere: finish work in progress, write back, drop cached state. */
  release(partition: number): Promise<void> | void;
}

/**
 * Which partitions of a key space this process owns, one owner at a time across the cluster
 * (src/cluster/leases.ts; docs/cluster.md "Ownership"). Users attached as `state` acquire before and
 * release after users attached as `work`, so caches are fresh before messages flow and written back
 * after they stopped.
 */
export interface Ownership {
  readonly name: string;
  readonly partitions: number;
  partitionOf(key: string): number;
  owns(partition: number): boolean;
  /** Whether the partition is being handed on from this process: work on it in progress finishes, new work goes to the next owner (NotOwner). */
  leaving(partition: number): boolean;
  attach(user: PartitionUser, kind: 'state' | 'work'): Promise<() => Promise<void>>;
}

/**
 * Thrown by a service asked for a key whose partition this process does not own, or is handing on
 * (Ownership.leaving): nothing was done, and the caller asks again, reaching the (next) owner. A
 * stop does not wait for calls that have not begun, and the next owner, which reads the state this
 * one writes back, does them in their order.
 */
export class NotOwner extends Error {
  constructor(readonly partition: number) {
    super(`partition ${partition} is not worked on here: ask its owner`);
    this.name = 'NotOwner';
  }
}

/** FNV-1a over the key modulo `partitions`: the bus's partitions and the ownership's agree on it. */
export function partitionOf(key: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % partitions;
}

export interface KeyValueEntry<T> {
  value: T;
  revision: number;
}

export interface KeyValue<T> {
  get(key: string): Promise<KeyValueEntry<T> | undefined>;
  /** Writes unconditionally; returns the new revision. */
  put(key: string, value: T): Promise<number>;
  /** Writes only when the stored revision is `revision` (0: only when absent); false otherwise. */
  update(key: string, value: T, revision: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** The keys holding a value, each once (also while others write: the leases count members by it). */
  keys(): Promise<string[]>;
}

export interface Bus {
  publish<T>(topic: Topic<T>, key: string, data: T): Promise<void>;
  consume<T>(topic: Topic<T>, durable: string, handler: Handler<T>, options?: ConsumeOptions): Promise<Subscription>;
  subscribe<T>(topic: Topic<T>, handler: Handler<T>): Promise<Subscription>;
  respond<Q, A>(subject: string, handler: (request: Q) => Promise<A>, options?: RespondOptions): Promise<Subscription>;
  request<Q, A>(subject: string, request: Q, timeoutMs?: number, options?: RequestOptions): Promise<A>;
  kv<T>(bucket: string): Promise<KeyValue<T>>;
  /** Resolves when every message accepted so far has been handled by every durable consumer. */
  drain(): Promise<void>;
  close(): Promise<void>;
}
