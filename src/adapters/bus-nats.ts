/**
 * The Bus on NATS JetStream, for the cluster deployment. It keeps the Bus port's promises across
 * processes; docs/architecture.md ("Bus on NATS JetStream") describes the layout.
 *
 * Layout, for prefix `followme` and topic `tracker.position`:
 * - one stream per topic, `followme_tracker_position`, on the subjects `followme.tracker.position.>`,
 *   file storage, interest retention (a message is kept until every durable consumer that existed
 *   when it was published has acknowledged it, and at most `maxAgeMs`);
 * - a message with key K is published to `followme.tracker.position.<P>.<K'>`, where P is the
 *   partition (FNV-1a of K modulo `partitions`) and K' is K encoded as one subject token;
 * - a durable consumer D of the port is `partitions` JetStream durable pull consumers
 *   `D_p0` … `D_p15`, each filtered to one partition, explicit ack, `max_ack_pending` 1.
 *
 * Why partitions with `max_ack_pending` 1: the port promises order per key, and that a failed
 * message holds back the later messages of its key until it succeeds or is given up. With
 * `max_ack_pending` 1 the server hands out the next message of a partition only after the current
 * one was acknowledged (or terminated), to whichever process pulls next: order per key holds across
 * every process sharing the durable, including while a message waits for its redelivery (a nak with
 * a delay keeps it pending). One consumer for the whole topic would serialise every key; in-process
 * lanes behind one consumer with many messages in flight would keep order only inside one process,
 * and two processes pulling from it would interleave one key's messages. Partitions give parallelism
 * (up to `partitions` keys handled at once per durable, spread over the processes that consume it)
 * at the cost of head-of-line blocking within a partition, which is what the in-process bus does with
 * its lanes too. The partition count is part of the subject layout: every process must use the same
 * one (it is written into the stream's description and checked).
 */
import { connect, type NatsConnection, type Subscription as NatsSubscription } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import { registry } from '../core/metrics.js';
import { Slots } from '../core/slots.js';
import { partitionOf, type Bus, type ConsumeOptions, type Handler, type KeyValue, type KeyValueEntry, type RequestOptions, type RespondOptions, type Subscription, type Topic } from '../ports/bus.js';

export interface NatsBusOptions {
  /** NATS server URL(s), comma-separated. */
  servers: string;
  /** First subject token(s) and stream/bucket name prefix of everything this bus creates. Default `followme`. */
  prefix?: string;
  logger?: Logger;
  /** Partition consumers per durable: how many keys are handled at once. Same in every process. Default 16. */
  partitions?: number;
  /**
   * Messages in flight per partition of a durable consumed with an owner (only the owning process
   * pulls it): handled in order per key, several keys at once. Durables without an owner keep 1.
   * Default 64.
   */
  window?: number;
  /**
   * Handlers of owned durables running at once in this process, over every durable and partition
   * together (each partition may hold `window` messages; those beyond wait for a slot, and are nak'd
   * for the next owner if their partition is released meanwhile). Keeps the database work queued by
   * background consumers short, so that interactive calls are not stuck behind it. Default 128.
   */
  handlers?: number;
  /**
   * JetStream publishes waiting for the server's ack at once; more wait their turn in this process.
   * A burst (100,000 devices dropped at once, each publishing a connection event) otherwise sends
   * them all and most time out waiting for the server. Default 256.
   */
  publishes?: number;
  /** Back-off before a failed message is handed out again, in ms (doubled each time, at most 64×). Default 50. */
  retryDelayMs?: number;
  /** How long the server waits for an ack before it hands the message to another process. Default 30 s. */
  ackWaitMs?: number;
  /** How long a stream keeps a message nobody acknowledged. Default 7 days. */
  maxAgeMs?: number;
  /** Stream and bucket replicas (1 on a single server, 3 in a NATS cluster). Default 1. */
  replicas?: number;
  /** Connection name shown by the server. */
  name?: string;
}

interface Partition {
  consumer: string;
  /** Highest stream sequence this process acknowledged (or gave up) on this partition, with nothing before it outstanding. */
  handledSeq: number;
  messages?: ConsumerMessages;
  loop?: Promise<void>;
  /** Settles when the partition is released: handlers still waiting for a slot give up their turn. */
  released?: Promise<void>;
  release?: () => void;
}

/**
 * What a new owner of a partition found handed out to someone else and not acknowledged (a killed
 * or fenced previous owner): `count` messages up to stream sequence `upTo`. Newer messages wait
 * until those came back (after the ack wait) and were queued first, so that order per key holds.
 */
interface Backlog {
  count: number;
  upTo: number;
  until: number;
}

interface Durable {
  topic: string;
  stream: string;
  durable: string;
  handler: Handler<unknown>;
  maxDeliver: number;
  /** Messages in flight per partition: 1, or `window` when only the owner pulls. */
  window: number;
  partitions: Partition[];
  /** With an owner: stops following it. */
  detach?: (() => Promise<void>) | undefined;
}

const NS = 1_000_000;
const API_STREAM_NAME_IN_USE = 10058;
const API_CONSUMER_EXISTS = [10013, 10105, 10148];
const API_WRONG_LAST_SEQUENCE = [10071, 10164];

/** Every open NATS bus of this process, for the gauge below. */
const inProcess = new Set<NatsBus>();
new Gauge({
  name: 'followme_bus_handlers',
  help: 'Handlers of owned consumers in this process: running, or waiting for one of FOLLOWME_NATS_HANDLERS slots',
  labelNames: ['state'],
  registers: [registry],
  collect() {
    this.reset();
    for (const bus of inProcess) {
      this.inc({ state: 'running' }, bus.handlers.busy);
      this.inc({ state: 'waiting' }, bus.handlers.queued);
    }
  },
});

export class NatsBus implements Bus {
  private readonly js: JetStreamClient;
  private readonly kvm: Kvm;
  private readonly prefix: string;
  private readonly namePrefix: string;
  private readonly partitionCount: number;
  private readonly retryDelayMs: number;
  private readonly ackWaitMs: number;
  private readonly window: number;
  /** Slots shared by the handlers of every owned consumer (NatsBusOptions.handlers). */
  readonly handlers: Slots;
  private readonly publishSlots: Slots;
  private readonly streams = new Map<string, Promise<string>>();
  private readonly durables = new Map<string, Durable>();
  private readonly subscriptions = new Set<NatsSubscription>();
  private readonly responders = new Map<string, { close(): Promise<void> }>();
  /** Per topic, per partition: the stream sequence of the last message this process published. */
  private readonly published = new Map<string, number[]>();
  private readonly publishing = new Set<Promise<unknown>>();
  private publishCount = 0;
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly options: NatsBusOptions,
  ) {
    this.js = jetstream(nc);
    this.kvm = new Kvm(nc);
    this.prefix = options.prefix ?? 'followme';
    if (!SUBJECT.test(this.prefix)) throw new Error(`bus prefix must be dot-separated tokens of letters, digits, "-" and "_", got "${this.prefix}"`);
    this.namePrefix = this.prefix.replaceAll('.', '_');
    this.partitionCount = options.partitions ?? 16;
    this.retryDelayMs = options.retryDelayMs ?? 50;
    this.ackWaitMs = options.ackWaitMs ?? 30_000;
    this.window = options.window ?? 64;
    this.handlers = new Slots(options.handlers ?? 128);
    this.publishSlots = new Slots(options.publishes ?? 256);
    inProcess.add(this);
  }

  /** Connects to NATS and checks that JetStream is enabled. */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({ servers: options.servers.split(',').map((s) => s.trim()), name: options.name ?? 'followme', maxReconnectAttempts: -1 });
    try {
      const jsm = await jetstreamManager(nc);
      return new NatsBus(nc, jsm, options);
    } catch (err) {
      await nc.close();
      throw new Error(`NATS at ${options.servers} has no JetStream (start nats-server with -js): ${(err as Error).message}`, { cause: err });
    }
  }

  /** Partition consumers per durable (the same in every process). */
  get partitions(): number {
    return this.partitionCount;
  }

  /** Largest message the server takes (its max_payload), in bytes. */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1_048_576;
  }

  /**
   * Publishes and waits for JetStream's ack: once this resolves the message is stored.
   * `options.id` sets Nats-Msg-Id, so the server drops a second publish with that id within its
   * duplicate window; without it nothing is deduplicated.
   */
  async publish<T>(topic: Topic<T>, key: string, data: T, options: { id?: string } = {}): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    const stream = await this.stream(topic.name);
    const payload = this.encode(data, `topic ${topic.name}`);
    const partition = partitionOf(key, this.partitionCount);
    const subject = `${this.prefix}.${topic.name}.${partition}.${encodeToken(key)}`;
    // FIFO slots keep one key's publishes in order; the server's ack timeout runs only once sent
    const sending = this.publishSlots.take().then(() => this.js.publish(subject, payload, options.id === undefined ? {} : { msgID: options.id }).finally(() => this.publishSlots.give()));
    this.publishing.add(sending);
    try {
      const ack = await sending;
      if (ack.stream !== stream) throw new Error(`message on ${subject} landed in stream ${ack.stream}, expected ${stream}: subjects of two topics overlap`);
      let last = this.published.get(topic.name);
      if (!last) this.published.set(topic.name, (last = new Array<number>(this.partitionCount).fill(0)));
      last[partition] = Math.max(last[partition]!, ack.seq);
      this.publishCount++;
    } finally {
      this.publishing.delete(sending);
    }
  }

  async consume<T>(topic: Topic<T>, durable: string, handler: Handler<T>, options: ConsumeOptions = {}): Promise<Subscription> {
    if (this.closed) throw new Error('bus is closed');
    const id = `${topic.name}\u0000${durable}`;
    if (this.durables.has(id)) throw new Error(`consumer ${durable} on ${topic.name} already exists in this process`);
    if (!/^[A-Za-z0-9_-]+$/.test(durable)) throw new Error(`durable consumer names are letters, digits, "-" and "_", got "${durable}"`);
    const stream = await this.stream(topic.name);
    const maxDeliver = options.maxDeliver ?? 10;
    const state: Durable = {
      topic: topic.name,
      stream,
      durable,
      handler: handler as Handler<unknown>,
      maxDeliver,
      window: options.owner ? this.window : 1,
      partitions: Array.from({ length: this.partitionCount }, (_, p) => ({ consumer: `${durable}_p${p}`, handledSeq: 0 })),
    };
    this.durables.set(id, state);
    try {
      await Promise.all(state.partitions.map((partition, p) => this.ensureConsumer(stream, partition.consumer, this.consumerConfig(topic.name, partition.consumer, p, maxDeliver, state.window))));
      if (options.owner) {
        if (options.owner.partitions !== this.partitionCount) throw new Error(`ownership ${options.owner.name} has ${options.owner.partitions} partitions, the bus ${this.partitionCount}`);
        // Only the partitions this process owns, started and stopped as ownership moves.
        state.detach = await options.owner.attach({ name: `consumer ${durable}`, acquire: (p) => this.startPartition(state, state.partitions[p]!), release: (p) => this.stopPartition(state.partitions[p]!) }, 'work');
      } else {
        for (const partition of state.partitions) await this.startPartition(state, partition);
      }
    } catch (err) {
      await this.stop(state);
      throw err;
    }
    return { close: () => this.stop(state) };
  }

  private async startPartition(state: Durable, partition: Partition): Promise<void> {
    if (partition.messages || this.closed) return;
    const consumer = await this.js.consumers.get(state.stream, partition.consumer);
    if (state.window === 1) {
      partition.messages = await consumer.consume({ max_messages: 8 });
      partition.loop = this.run(state, partition, partition.messages);
      return;
    }
    const info = await consumer.info();
    partition.released = new Promise((resolve) => (partition.release = resolve));
    const backlog = info.num_ack_pending > 0 ? { count: info.num_ack_pending, upTo: info.delivered.stream_seq, until: Date.now() + 2 * this.ackWaitMs } : undefined;
    partition.messages = await consumer.consume({ max_messages: state.window });
    partition.loop = this.runWindow(state, partition, partition.messages, backlog);
  }

  /** Stops pulling; the message being handled finishes (and is acknowledged) first. */
  private async stopPartition(partition: Partition): Promise<void> {
    const messages = partition.messages;
    partition.messages = undefined;
    partition.release?.();
    partition.release = undefined;
    if (messages) await messages.close();
    await partition.loop;
  }

  async subscribe<T>(topic: Topic<T>, handler: Handler<T>): Promise<Subscription> {
    if (this.closed) throw new Error('bus is closed');
    assertTopic(topic.name);
    const base = `${this.prefix}.${topic.name}.`;
    const sub = this.nc.subscribe(`${base}>`, {
      callback: (err, msg) => {
        if (err) {
          this.options.logger?.error({ err, topic: topic.name }, 'subscription failed');
          return;
        }
        Promise.resolve()
          .then(() => handler({ topic: topic.name, key: keyOf(msg.subject), data: msg.json<T>(), redelivered: 0 }))
          .catch((error: unknown) => this.options.logger?.error({ err: error, topic: topic.name }, 'subscriber failed'));
      },
    });
    this.subscriptions.add(sub);
    await this.nc.flush();
    return {
      close: async () => {
        if (!this.subscriptions.delete(sub)) return;
        await sub.drain();
      },
    };
  }

  async respond<Q, A>(subject: string, handler: (request: Q) => Promise<A>, options: RespondOptions = {}): Promise<Subscription> {
    if (this.closed) throw new Error('bus is closed');
    if (this.responders.has(subject)) throw new Error(`a responder for ${subject} already exists`);
    const base = this.rpcSubject(subject);
    const inFlight = new Set<Promise<unknown>>();
    const listen = (natsSubject: string): NatsSubscription =>
      this.nc.subscribe(natsSubject, {
        queue: 'responders',
        callback: (err, msg) => {
          if (err) {
            this.options.logger?.error({ err, subject }, 'responder subscription failed');
            return;
          }
          const answering = Promise.resolve()
            .then(() => handler(msg.json<Q>()))
            .then(
              (answer) => ({ ok: answer }),
              (error: unknown) => {
                this.options.logger?.warn({ err: error, subject }, 'responder failed');
                return { error: error instanceof Error ? error.message : String(error) };
              },
            )
            .then((reply) => msg.respond(this.encode(reply, `the answer to ${subject}`)))
            .catch((error: unknown) => {
              this.options.logger?.error({ err: error, subject }, 'could not answer a request');
              msg.respond(JSON.stringify({ error: `the answer could not be sent: ${(error as Error).message}` }));
            })
            .finally(() => inFlight.delete(answering));
          inFlight.add(answering);
        },
      });
    // Stops taking requests, then waits for the answers in progress (said in the log when that takes a while).
    const quiesce = async (sub: NatsSubscription): Promise<void> => {
      await sub.drain();
      const began = Date.now();
      // said again every SLOW_QUIESCE_MS, so that a stop running over its budget shows what it still waits for
      const slow = setInterval(() => this.options.logger?.info({ subject, inFlight: inFlight.size }, `${subject}: still answering ${inFlight.size} requests after ${Date.now() - began} ms of stopping`), SLOW_QUIESCE_MS);
      slow.unref();
      await Promise.allSettled([...inFlight]);
      clearInterval(slow);
    };
    let responder: { close(): Promise<void> };
    if (options.owner) {
      // One subject per partition (`<subject>.p<n>`), listened to while this process owns the partition.
      const owner = options.owner;
      if (owner.partitions !== this.partitionCount) throw new Error(`ownership ${owner.name} has ${owner.partitions} partitions, the bus ${this.partitionCount}`);
      const subs = new Map<number, NatsSubscription>();
      const detach = await owner.attach(
        {
          name: `responder ${subject}`,
          acquire: async (p) => {
            if (subs.has(p) || this.closed) return;
            subs.set(p, listen(`${base}.p${p}`));
            await this.nc.flush();
          },
          release: async (p) => {
            const sub = subs.get(p);
            subs.delete(p);
            if (sub) await quiesce(sub);
          },
        },
        'work',
      );
      responder = {
        close: async () => {
          await detach();
          await Promise.all([...subs.values()].map((sub) => quiesce(sub)));
          subs.clear();
        },
      };
    } else {
      const sub = listen(base);
      await this.nc.flush();
      responder = { close: () => quiesce(sub) };
    }
    this.responders.set(subject, responder);
    return {
      close: async () => {
        if (this.responders.get(subject) !== responder) return;
        this.responders.delete(subject);
        await responder.close();
      },
    };
  }

  async request<Q, A>(subject: string, request: Q, timeoutMs = 5000, options: RequestOptions = {}): Promise<A> {
    if (this.closed) throw new Error('bus is closed');
    let reply;
    const target = options.key === undefined ? this.rpcSubject(subject) : `${this.rpcSubject(subject)}.p${partitionOf(options.key, this.partitionCount)}`;
    try {
      reply = await this.nc.request(target, this.encode(request, `a request to ${subject}`), { timeout: timeoutMs });
    } catch (err) {
      const cause = (err as Error).cause ?? err;
      const kind = (cause as Error).name;
      if (kind === 'NoRespondersError') throw new Error(`no responders for ${subject}`, { cause: err });
      if (kind === 'TimeoutError') throw new Error(`request to ${subject} timed out after ${timeoutMs} ms`, { cause: err });
      throw err;
    }
    const answer = reply.json<{ ok?: A; error?: string }>();
    if (answer.error !== undefined) throw new Error(`${subject} failed: ${answer.error}`);
    return answer.ok as A;
  }

  async kv<T>(bucket: string): Promise<KeyValue<T>> {
    if (!/^[A-Za-z0-9_-]+$/.test(bucket)) throw new Error(`bucket names are letters, digits, "-" and "_", got "${bucket}"`);
    const name = `${this.namePrefix}_${bucket}`;
    const kv = await this.kvm.create(name, { history: 1, replicas: this.options.replicas ?? 1 });
    return new NatsKeyValue<T>(kv, this.jsm, name, (value) => this.encode(value, `bucket ${bucket}`));
  }

  /**
   * Resolves when every message this process published so far (including what its handlers publish
   * meanwhile) has been acknowledged, or given up, by every durable consumer running in this process:
   * for each partition that got one of those messages, the consumer's ack floor has passed it, or the
   * partition has nothing pending. In a cluster that ack may have come from another process sharing
   * the durable; consumers that run only in other processes, and messages other processes
   * published, are not waited for.
   */
  async drain(): Promise<void> {
    for (;;) {
      await Promise.allSettled([...this.publishing]);
      const seen = this.publishCount;
      for (const durable of [...this.durables.values()]) {
        const last = this.published.get(durable.topic);
        if (!last) continue;
        for (const [p, partition] of durable.partitions.entries()) {
          if (last[p]! > 0) await this.handled(durable, partition, last[p]!);
        }
      }
      if (this.publishCount === seen && this.publishing.size === 0) return;
    }
  }

  /** Stops the consumers (letting handlers in progress finish), drains subscriptions and closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    inProcess.delete(this);
    await Promise.all([...this.durables.values()].map((durable) => this.stop(durable)));
    await Promise.allSettled([...this.publishing]);
    await Promise.all([...this.responders.values()].map((responder) => responder.close()));
    await Promise.all([...this.subscriptions].map((sub) => sub.drain()));
    this.subscriptions.clear();
    this.responders.clear();
    await this.nc.drain();
  }

  private async handled(durable: Durable, partition: Partition, seq: number): Promise<void> {
    for (;;) {
      if (partition.handledSeq >= seq || !this.durables.has(`${durable.topic}\u0000${durable.durable}`)) return;
      const info = await this.jsm.consumers.info(durable.stream, partition.consumer);
      if (info.ack_floor.stream_seq >= seq || (info.num_pending === 0 && info.num_ack_pending === 0)) return;
      await delay(10);
    }
  }

  private async run(durable: Durable, partition: Partition, messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) await this.handle(durable, partition, m);
    } catch (err) {
      if (!this.closed) this.options.logger?.error({ err, topic: durable.topic, consumer: partition.consumer }, 'consumer stopped');
    }
  }

  /**
   * An owned partition with `window` messages in flight: one lane per key (a key's messages one
   * after another, in stream order), several keys at once. A failed message is retried here, in its
   * lane, rather than nak'd: a redelivery would come back behind later messages of its key. When the
   * partition is released, messages not yet started are given back: once the running ones finished,
   * they are nak'd in stream order (the server hands them out again in the order of the naks), for
   * the next owner.
   */
  private async runWindow(durable: Durable, partition: Partition, messages: ConsumerMessages, backlog: Backlog | undefined): Promise<void> {
    const lanes = new Map<string, Promise<void>>();
    /** Messages started and not finished, with their stream sequence. */
    const running = new Map<Promise<void>, number>();
    const startedSeqs = new Set<number>();
    /** Waiting for the backlog, by stream sequence (a second copy of one replaces the first: the newer claim counts). */
    const held = new Map<number, JsMsg>();
    /** Taken and not started when the partition went, by stream sequence (the newest copy of each): nak'd together, in order, at the end. */
    const givenBack = new Map<number, JsMsg>();
    let newest = partition.handledSeq;
    // drain() relies on handledSeq: everything this process took up to it is done
    const settle = () => {
      let first = Infinity;
      for (const seq of running.values()) first = Math.min(first, seq);
      for (const seq of held.keys()) first = Math.min(first, seq);
      for (const seq of givenBack.keys()) first = Math.min(first, seq);
      partition.handledSeq = first === Infinity ? newest : Math.max(partition.handledSeq, first - 1);
    };
    const start = (m: JsMsg): void => {
      const key = keyOf(m.subject);
      // claimed from now on: behind its key's lane or waiting for a slot, it must not time out and
      // come back to this process as a second copy
      const keepAlive = this.keepAlive(durable, partition, m);
      startedSeqs.add(m.info.streamSequence);
      const task: Promise<void> = (lanes.get(key) ?? Promise.resolve())
        .then(() => this.handleInLane(durable, partition, m, givenBack))
        .finally(() => {
          clearInterval(keepAlive);
          if (lanes.get(key) === task) lanes.delete(key);
          running.delete(task);
          startedSeqs.delete(m.info.streamSequence);
          settle();
        });
      lanes.set(key, task);
      running.set(task, m.info.streamSequence);
    };
    const release = () => {
      if (!backlog || (backlog.count > 0 && Date.now() < backlog.until)) return;
      if (backlog.count > 0) this.options.logger?.info({ topic: durable.topic, consumer: partition.consumer, missing: backlog.count, upTo: backlog.upTo, held: held.size }, 'backlog of the previous owner not all back after two ack waits; starting what is here');
      backlog = undefined;
      clearInterval(holding);
      const ready = [...held.values()].sort((a, b) => a.info.streamSequence - b.info.streamSequence);
      held.clear();
      for (const m of ready) start(m);
    };
    // While the backlog comes back, held messages keep their claim. Every tick the server says how
    // many messages are handed out and not acknowledged: once those are all held here, the rest of
    // the backlog was acknowledged late by the previous owner (finishing its last handlers) and will
    // not come back, so waiting on for it would only stall the partition. Past `until` they go anyway.
    let asking = false;
    const holding = setInterval(() => {
      for (const m of held.values()) m.working();
      if (backlog && backlog.count > 0 && !asking) {
        asking = true;
        this.jsm.consumers
          .info(durable.stream, partition.consumer)
          .then((info) => {
            if (backlog && info.num_ack_pending <= held.size) {
              backlog.count = 0;
              release();
            }
          })
          .catch(() => undefined) // asked again at the next tick
          .finally(() => (asking = false));
      }
      release();
    }, Math.max(100, Math.min(1000, Math.floor(this.ackWaitMs / 3))));
    holding.unref();
    if (!backlog) clearInterval(holding);
    try {
      for await (const m of messages) {
        newest = Math.max(newest, m.info.streamSequence);
        if (startedSeqs.has(m.info.streamSequence)) continue; // a second copy of one being handled here: that one acknowledges it
        if (partition.messages !== messages) {
          givenBack.set(m.info.streamSequence, m); // released: the next owner takes it, in order
          continue;
        }
        if (backlog && m.info.streamSequence <= backlog.upTo) {
          // Held too: the server hands a backlog back in the order it got it back (naks, expired
          // claims), not in stream order. Started together, sorted, once all of it is here.
          if (!held.has(m.info.streamSequence)) backlog.count--;
          held.set(m.info.streamSequence, m);
          release();
        } else if (backlog) {
          held.set(m.info.streamSequence, m);
          release();
        } else start(m);
        if (running.size >= durable.window) await Promise.race(running.keys());
      }
    } catch (err) {
      if (!this.closed) this.options.logger?.error({ err, topic: durable.topic, consumer: partition.consumer }, 'consumer stopped');
    }
    clearInterval(holding);
    for (const [seq, m] of held) if (!givenBack.has(seq)) givenBack.set(seq, m);
    held.clear();
    const claiming = setInterval(() => {
      for (const m of givenBack.values()) m.working();
    }, Math.max(100, Math.floor(this.ackWaitMs / 3)));
    claiming.unref();
    await Promise.allSettled([...running.keys()]);
    clearInterval(claiming);
    for (const seq of [...givenBack.keys()].sort((a, b) => a - b)) givenBack.get(seq)!.nak();
    givenBack.clear();
    settle();
  }

  /** Runs the handler on a message until it succeeds or `maxDeliver` attempts in this process failed (then it is dropped, logged). */
  private async handleInLane(durable: Durable, partition: Partition, m: JsMsg, givenBack: Map<number, JsMsg>): Promise<void> {
    if (this.closed || partition.messages === undefined) {
      givenBack.set(m.info.streamSequence, m); // released before its turn: the next owner takes it, behind what its key had before
      return;
    }
    // the server's delivery count also counts hand-overs: attempts are counted here
    for (let attempt = 1; ; attempt++) {
      if (!(await this.handlers.take(partition.released)) || this.closed || partition.messages === undefined) {
        givenBack.set(m.info.streamSequence, m); // released while it waited for a slot: the next owner takes it
        return;
      }
      try {
        await durable.handler({ topic: durable.topic, key: keyOf(m.subject), data: m.json<unknown>(), redelivered: m.info.deliveryCount - 1 + attempt - 1 });
        m.ack();
        return;
      } catch (err) {
        if (this.closed || partition.messages === undefined) {
          givenBack.set(m.info.streamSequence, m); // stopping: the next owner tries again
          return;
        }
        if (attempt >= durable.maxDeliver) {
          this.options.logger?.error({ err, topic: durable.topic, consumer: durable.durable, key: keyOf(m.subject), seq: m.seq }, 'handler failed too often, message dropped');
          m.term();
          return;
        }
        this.options.logger?.warn({ err, topic: durable.topic, consumer: durable.durable, attempt }, 'handler failed, will retry');
      } finally {
        this.handlers.give();
      }
      await delay(this.retryDelayMs * 2 ** Math.min(attempt - 1, 6)); // without a slot
    }
  }

  /** A handler that runs long keeps its claim on the message; one that hangs keeps it until the connection goes. */
  private keepAlive(durable: Durable, partition: Partition, m: JsMsg): NodeJS.Timeout {
    const timer = setInterval(() => {
      try {
        m.working();
      } catch (err) {
        this.options.logger?.warn({ err, topic: durable.topic, consumer: partition.consumer }, 'could not extend the ack wait');
        clearInterval(timer);
      }
    }, Math.max(100, Math.floor(this.ackWaitMs / 3)));
    timer.unref();
    return timer;
  }

  private async handle(durable: Durable, partition: Partition, m: JsMsg): Promise<void> {
    const attempt = m.info.deliveryCount;
    const keepAlive = this.keepAlive(durable, partition, m);
    try {
      await durable.handler({ topic: durable.topic, key: keyOf(m.subject), data: m.json<unknown>(), redelivered: attempt - 1 });
      m.ack();
    } catch (err) {
      if (attempt < durable.maxDeliver) {
        this.options.logger?.warn({ err, topic: durable.topic, consumer: durable.durable, attempt }, 'handler failed, will redeliver');
        m.nak(this.retryDelayMs * 2 ** Math.min(attempt - 1, 6));
        return;
      }
      this.options.logger?.error({ err, topic: durable.topic, consumer: durable.durable, key: keyOf(m.subject), seq: m.seq }, 'handler failed too often, message dropped');
      m.term(); // no reason: nats-server 2.9 does not understand "+TERM reason" and would let the message wait out its ack wait
    } finally {
      clearInterval(keepAlive);
    }
    partition.handledSeq = Math.max(partition.handledSeq, m.info.streamSequence);
  }

  private async stop(durable: Durable): Promise<void> {
    if (this.durables.get(`${durable.topic}\u0000${durable.durable}`) === durable) this.durables.delete(`${durable.topic}\u0000${durable.durable}`);
    const detach = durable.detach;
    durable.detach = undefined;
    await detach?.();
    await Promise.all(durable.partitions.map((partition) => this.stopPartition(partition)));
  }

  private consumerConfig(topic: string, name: string, partition: number, maxDeliver: number, window: number): Partial<ConsumerConfig> {
    // No `backoff` list: on nats-server 2.9 it overrides the delay of a nak, and a failed message
    // would wait a whole ack wait. Handler failures are retried through nak(delay), doubled each time.
    return {
      durable_name: name,
      filter_subject: `${this.prefix}.${topic}.${partition}.>`,
      deliver_policy: DeliverPolicy.All,
      ack_policy: AckPolicy.Explicit,
      ack_wait: this.ackWaitMs * NS,
      // An owned partition's messages are handed out again at every hand-over (given back, or held
      // by a killed owner), which the server counts as deliveries: with max_deliver 10, a message
      // waiting behind its key through ten hand-overs was dropped without a handler ever failing on
      // it. Failures are counted by the owner itself (handleInLane); the server's limit only stops a
      // message that kills every process taking it.
      max_deliver: window > 1 ? OWNED_MAX_DELIVER : maxDeliver,
      max_ack_pending: window,
    };
  }

  private async ensureConsumer(stream: string, name: string, config: Partial<ConsumerConfig>): Promise<void> {
    try {
      await this.jsm.consumers.add(stream, config);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || !API_CONSUMER_EXISTS.includes(err.code)) throw err;
      // another process made it with other settings (an older maxDeliver, ack wait): ours win
      const { durable_name: _, filter_subject: __, deliver_policy: ___, ...changeable } = config;
      await this.jsm.consumers.update(stream, name, changeable);
    }
  }

  /** Creates the topic's stream once (or finds it, made by another process); resolves to its name. */
  private stream(topic: string): Promise<string> {
    let made = this.streams.get(topic);
    if (!made) {
      made = this.makeStream(topic);
      made.catch(() => this.streams.delete(topic));
      this.streams.set(topic, made);
    }
    return made;
  }

  private async makeStream(topic: string): Promise<string> {
    assertTopic(topic);
    const name = `${this.namePrefix}_${topic.replaceAll('.', '_')}`;
    const description = `followme bus topic ${topic}, ${this.partitionCount} partitions`;
    try {
      await this.jsm.streams.add({
        name,
        description,
        subjects: [`${this.prefix}.${topic}.>`],
        retention: RetentionPolicy.Interest,
        storage: StorageType.File,
        max_age: (this.options.maxAgeMs ?? 7 * 86_400_000) * NS,
        num_replicas: this.options.replicas ?? 1,
      });
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== API_STREAM_NAME_IN_USE) {
        throw new Error(`could not create stream ${name} for topic ${topic}: ${(err as Error).message}`, { cause: err });
      }
      const info = await this.jsm.streams.info(name);
      if (info.config.description !== description) {
        throw new Error(`stream ${name} exists as "${info.config.description ?? ''}", but this process expects "${description}": every process must use the same partition count`);
      }
    }
    return name;
  }

  private rpcSubject(subject: string): string {
    if (!SUBJECT.test(subject)) throw new Error(`request subjects are dot-separated tokens of letters, digits, "-" and "_", got "${subject}"`);
    return `${this.prefix}.rpc.${subject}`;
  }

  private encode(value: unknown, what: string): Uint8Array {
    const bytes = Buffer.from(JSON.stringify(value) ?? 'null');
    if (bytes.length > this.maxPayload - 1024) {
      throw new Error(`${what}: message of ${bytes.length} bytes is larger than the NATS server accepts (max_payload ${this.maxPayload} bytes, less 1 KiB for headers)`);
    }
    return bytes;
  }
}

class NatsKeyValue<T> implements KeyValue<T> {
  constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
    private readonly encode: (value: T) => Uint8Array,
  ) {}

  async get(key: string): Promise<KeyValueEntry<T> | undefined> {
    const entry = await this.kv.get(encodeToken(key));
    if (!entry || entry.operation !== 'PUT') return undefined;
    return { value: entry.json<T>(), revision: entry.revision };
  }

  put(key: string, value: T): Promise<number> {
    return this.kv.put(encodeToken(key), this.encode(value));
  }

  async update(key: string, value: T, revision: number): Promise<boolean> {
    try {
      if (revision === 0) await this.kv.create(encodeToken(key), this.encode(value));
      else await this.kv.update(encodeToken(key), this.encode(value), revision);
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError && API_WRONG_LAST_SEQUENCE.includes(err.code)) return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(encodeToken(key));
  }

  /**
   * Each key holding a value, once. Not the client's listing, a consumer walking the bucket's
   * stream: a key written while it runs either comes twice (counted twice, one process's renewed
   * member entry made another see ten members where there were two, keep a fifth of its share and
   * hand partitions back and forth every few seconds) or not at all (its old entry gone before the
   * walk reached it, the new one after the walk's end). The stream's subjects are one snapshot of
   * the server's state; each is then read, and deleted keys (a delete marker) are left out.
   */
  async keys(): Promise<string[]> {
    const prefix = `$KV.${this.bucket}.`;
    const info = await this.jsm.streams.info(`KV_${this.bucket}`, { subjects_filter: `${prefix}>` });
    const tokens = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
    const entries = await Promise.all(tokens.map((token) => this.kv.get(token)));
    return tokens.filter((_, i) => entries[i]?.operation === 'PUT').map(decodeToken);
  }
}

/** The server's delivery limit for owned partitions' consumers (consumerConfig): far beyond any run of hand-overs. */
const OWNED_MAX_DELIVER = 1000;

/** A responder stopping that still answers requests after this long says so in the log. */
const SLOW_QUIESCE_MS = 2000;

/** Dot-separated tokens of letters, digits, "-" and "_": safe as part of a NATS subject. */
const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

function assertTopic(topic: string): void {
  if (!SUBJECT.test(topic)) throw new Error(`topic names are dot-separated tokens of letters, digits, "-" and "_", got "${topic}"`);
  if (topic === 'rpc' || topic.startsWith('rpc.')) throw new Error(`topic names may not start with "rpc": that subject space is for request/reply, got "${topic}"`);
}

/**
 * A key as one subject token (also a valid KV key): letters, digits, "-" and "_" stay, everything
 * else becomes "=XX" per UTF-8 byte; the empty key is "=". Reversible, so handlers see the key as published.
 */
export function encodeToken(key: string): string {
  if (key === '') return '=';
  return encodeURIComponent(key)
    .replace(/[.!~*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replaceAll('%', '=');
}

export function decodeToken(token: string): string {
  return token === '=' ? '' : decodeURIComponent(token.replaceAll('=', '%'));
}

function keyOf(subject: string): string {
  return decodeToken(subject.slice(subject.lastIndexOf('.') + 1));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
