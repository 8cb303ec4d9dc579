/**
 * The in-process bus of the embedded deployment. It keeps the Bus port's promises and no more:
 * durable consumers get each message at least once, in order per key (messages are spread over
 * lanes by key, each lane handled one message at a time); a failing handler gets the message again
 * after a back-off; payloads are copied as JSON, as they would be on the wire.
 * It keeps nothing across a restart: in the embedded deployment the stores are the record.
 */
import type { Bus, BusMessage, ConsumeOptions, Handler, KeyValue, KeyValueEntry, Subscription, Topic } from '../ports/bus.js';
import type { Logger } from 'pino';

interface Lane {
  queue: BusMessage<unknown>[];
  running: boolean;
}

interface Consumer {
  durable: string;
  handler: Handler<unknown>;
  lanes: Lane[];
  maxDeliver: number;
}

export interface MemoryBusOptions {
  logger?: Logger;
  /** Lanes per durable consumer: how many keys are handled at once. */
  lanes?: number;
  /** Messages waiting in all queues before publish waits. */
  highWaterMark?: number;
  /** Back-off before a failed message is handed out again, in ms (doubled each time). */
  retryDelayMs?: number;
}

export class MemoryBus implements Bus {
  private readonly consumers = new Map<string, Map<string, Consumer>>();
  private readonly subscribers = new Map<string, Set<Handler<unknown>>>();
  private readonly responders = new Map<string, (request: unknown) => Promise<unknown>>();
  private readonly buckets = new Map<string, MemoryKeyValue<unknown>>();
  private pending = 0;
  private idleWaiters: (() => void)[] = [];
  private spaceWaiters: (() => void)[] = [];
  private closed = false;
  private readonly laneCount: number;
  private readonly highWaterMark: number;
  private readonly retryDelayMs: number;

  constructor(private readonly options: MemoryBusOptions = {}) {
    this.laneCount = options.lanes ?? 16;
    this.highWaterMark = options.highWaterMark ?? 100_000;
    this.retryDelayMs = options.retryDelayMs ?? 50;
  }

  async publish<T>(topic: Topic<T>, key: string, data: T): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    while (this.pending >= this.highWaterMark) await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    const wire = JSON.stringify(data);
    const consumers = this.consumers.get(topic.name);
    if (consumers) {
      for (const consumer of consumers.values()) {
        const lane = consumer.lanes[laneOf(key, consumer.lanes.length)]!;
        lane.queue.push({ topic: topic.name, key, data: JSON.parse(wire) as unknown, redelivered: 0 });
        this.pending++;
        if (!lane.running) void this.run(consumer, lane);
      }
    }
    const subscribers = this.subscribers.get(topic.name);
    if (subscribers) {
      for (const handler of subscribers) {
        const message = { topic: topic.name, key, data: JSON.parse(wire) as unknown, redelivered: 0 };
        queueMicrotask(() => {
          Promise.resolve()
            .then(() => handler(message))
            .catch((err: unknown) => this.options.logger?.error({ err, topic: topic.name }, 'subscriber failed'));
        });
      }
    }
  }

  async consume<T>(topic: Topic<T>, durable: string, handler: Handler<T>, options: ConsumeOptions = {}): Promise<Subscription> {
    let byName = this.consumers.get(topic.name);
    if (!byName) this.consumers.set(topic.name, (byName = new Map()));
    if (byName.has(durable)) throw new Error(`consumer ${durable} on ${topic.name} already exists in this process`);
    const consumer: Consumer = {
      durable,
      handler: handler as Handler<unknown>,
      lanes: Array.from({ length: this.laneCount }, () => ({ queue: [], running: false })),
      maxDeliver: options.maxDeliver ?? 10,
    };
    byName.set(durable, consumer);
    return {
      close: async () => {
        byName.delete(durable);
      },
    };
  }

  async subscribe<T>(topic: Topic<T>, handler: Handler<T>): Promise<Subscription> {
    let set = this.subscribers.get(topic.name);
    if (!set) this.subscribers.set(topic.name, (set = new Set()));
    set.add(handler as Handler<unknown>);
    return {
      close: async () => {
        set.delete(handler as Handler<unknown>);
      },
    };
  }

  async respond<Q, A>(subject: string, handler: (request: Q) => Promise<A>): Promise<Subscription> {
    if (this.responders.has(subject)) throw new Error(`a responder for ${subject} already exists`);
    this.responders.set(subject, handler as (request: unknown) => Promise<unknown>);
    return {
      close: async () => {
        this.responders.delete(subject);
      },
    };
  }

  async request<Q, A>(subject: string, request: Q, timeoutMs = 5000): Promise<A> {
    const responder = this.responders.get(subject);
    if (!responder) throw new Error(`no responders for ${subject}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await Promise.race([
        responder(JSON.parse(JSON.stringify(request)) as unknown),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`request to ${subject} timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return (answer === undefined ? undefined : JSON.parse(JSON.stringify(answer))) as A;
    } finally {
      clearTimeout(timer);
    }
  }

  async kv<T>(bucket: string): Promise<KeyValue<T>> {
    let kv = this.buckets.get(bucket);
    if (!kv) this.buckets.set(bucket, (kv = new MemoryKeyValue()));
    return kv as KeyValue<T>;
  }

  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    this.consumers.clear();
    this.subscribers.clear();
    this.responders.clear();
  }

  private async run(consumer: Consumer, lane: Lane): Promise<void> {
    lane.running = true;
    while (lane.queue.length > 0) {
      const message = lane.queue[0]!;
      try {
        await consumer.handler(message);
      } catch (err) {
        message.redelivered++;
        if (message.redelivered < consumer.maxDeliver) {
          this.options.logger?.warn({ err, topic: message.topic, consumer: consumer.durable, attempt: message.redelivered }, 'handler failed, will redeliver');
          await delay(this.retryDelayMs * 2 ** Math.min(message.redelivered - 1, 6));
          continue;
        }
        this.options.logger?.error({ err, topic: message.topic, consumer: consumer.durable, key: message.key }, 'handler failed too often, message dropped');
      }
      lane.queue.shift();
      this.settle();
    }
    lane.running = false;
  }

  private settle(): void {
    this.pending--;
    if (this.pending < this.highWaterMark && this.spaceWaiters.length > 0) {
      const waiters = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const wake of waiters) wake();
    }
    if (this.pending === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }
}

class MemoryKeyValue<T> implements KeyValue<T> {
  private readonly entries = new Map<string, KeyValueEntry<string>>();
  private revision = 0;

  async get(key: string): Promise<KeyValueEntry<T> | undefined> {
    const entry = this.entries.get(key);
    return entry && { value: JSON.parse(entry.value) as T, revision: entry.revision };
  }

  async put(key: string, value: T): Promise<number> {
    const revision = ++this.revision;
    this.entries.set(key, { value: JSON.stringify(value), revision });
    return revision;
  }

  async update(key: string, value: T, revision: number): Promise<boolean> {
    const current = this.entries.get(key)?.revision ?? 0;
    if (current !== revision) return false;
    await this.put(key, value);
    return true;
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async keys(): Promise<string[]> {
    return [...this.entries.keys()];
  }
}

/** FNV-1a over the key: the same key always lands in the same lane. */
function laneOf(key: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
