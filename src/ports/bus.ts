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
  /** Give up after this many attempts and log the message as dead. Default 10. */
  maxDeliver?: number;
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
  keys(): Promise<string[]>;
}

export interface Bus {
  publish<T>(topic: Topic<T>, key: string, data: T): Promise<void>;
  consume<T>(topic: Topic<T>, durable: string, handler: Handler<T>, options?: ConsumeOptions): Promise<Subscription>;
  subscribe<T>(topic: Topic<T>, handler: Handler<T>): Promise<Subscription>;
  respond<Q, A>(subject: string, handler: (request: Q) => Promise<A>): Promise<Subscription>;
  request<Q, A>(subject: string, request: Q, timeoutMs?: number): Promise<A>;
  kv<T>(bucket: string): Promise<KeyValue<T>>;
  /** Resolves when every message accepted so far has been handled by every durable consumer. */
  drain(): Promise<void>;
  close(): Promise<void>;
}
