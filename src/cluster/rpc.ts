/**
 * Services across processes: `serve` answers a service's methods on the bus's request/reply,
 * `remote` is a typed proxy that calls them. One generic mechanism for every service:
 *
 * - subject `svc.<service>.<method>`; the request is `{ a: args }`, the answer `{ v: value }` or
 *   `{ e: error }`, both JSON with two additions JSON lacks: `undefined` inside arrays (optional
 *   arguments keep their defaults) and `Set`s;
 * - an AppError crosses the wire with its code, message and field problems, and is thrown again as
 *   an AppError on the caller's side, so the API still answers problem+json naming the field; any
 *   other error arrives as a plain Error (an internal error, logged where it happened);
 * - methods listed in `byKey` are answered only by the process owning the key's partition
 *   (`Ownership`), and the proxy routes each call by its key: while a partition changes owner there
 *   are no responders for a moment, and the proxy tries again until its timeout;
 * - methods listed in `batch` (the hot path: a fix's ingest, the reporting interval's queries) are
 *   coalesced: while a request for the same method (and partition) is in flight, further calls
 *   wait and then leave together as one request `{ b: [args, …] }`, answered `{ r: [answer, …] }`.
 *   Under load that turns one bus round trip per call into one per partition and round trip; alone,
 *   a call leaves at once. The server starts a batch's calls in order, so per-key order holds.
 *   These methods are idempotent, so a batch without an answer after HEDGE_MS is asked again while
 *   the first request is still awaited: one taken by a process that was then killed is otherwise
 *   never answered, and NATS does not say so (the caller would wait its whole timeout);
 * - an answer over 256 KiB of JSON travels gzipped (`{ z }`), so a bulk answer fits NATS's max_payload;
 *   one still larger gzipped (the members of a 100,000-device group) is answered in parts: the first
 *   comes as the answer with where to fetch the rest (`more`), the answering process keeps the rest
 *   for a minute and hands each part out on a subject of its own (`svc.<service>._parts.<id>`).
 */
import { randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Logger } from '../core/log.js';
import { AppError, catalog, type ErrorCode, type FieldProblem } from '../core/errors.js';
import { NotOwner, partitionOf, type Bus, type Ownership, type Subscription } from '../ports/bus.js';

type Method<T> = { [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof T] & string;

/** The methods of T that `remote` can call: those returning a promise. */
export type Surface<T, M extends Method<T>> = Pick<T, M>;

interface WireError {
  code?: ErrorCode;
  message: string;
  errors?: FieldProblem[];
}

interface Answer {
  /** An answer larger than PACK_BYTES as JSON: that JSON gzipped, in base64. */
  z?: string;
  v?: unknown;
  e?: WireError;
  /** The answers to a batch, one per call, in order. */
  r?: Answer[];
  /** Not done: the key's partition is leaving the answering process (NotOwner); ask again, reaching the next owner. */
  m?: 1;
  /** `z` is the first of `n` parts; fetch parts 1…n-1 of answer `id` on `subject`. */
  more?: { subject: string; id: string; n: number };
}

type Request = { a: unknown[] } | { b: unknown[][] };

export interface ServeOptions<T> {
  /** Methods answered only by the owner of the key's partition. */
  byKey?: readonly Method<T>[];
  owner?: Ownership | undefined;
  /** Where a failed call of a batch is logged (a single call's failure is logged by the bus). */
  logger?: Logger | undefined;
}

/** Answers `methods` of `impl` on the bus as service `name`; resolves once every responder listens. */
export async function serve<T extends object, M extends Method<T>>(bus: Bus, name: string, impl: T, methods: readonly M[], options: ServeOptions<T> = {}): Promise<Subscription> {
  const subs: Subscription[] = [];
  const parts = new Parts(`svc.${name}._parts.${randomUUID()}`);
  const pack = (answer: Answer) => parts.pack(answer);
  try {
    subs.push(await bus.respond(parts.subject, async (request: { id: string; i: number }) => parts.take(request.id, request.i)));
    for (const method of methods) {
      const fn = (impl[method] as (...args: unknown[]) => Promise<unknown>).bind(impl);
      const keyed = options.byKey?.includes(method) ?? false;
      if (keyed && !options.owner) throw new Error(`${name}.${method} is answered by key, which needs an ownership`);
      const call = async (args: unknown[]): Promise<Answer> => {
        try {
          return { v: toWire(await fn(...(fromWire(args) as unknown[]))) };
        } catch (err) {
          if (err instanceof NotOwner) return { m: 1 };
          if (err instanceof AppError) return { e: { code: err.code, message: err.message, errors: err.errors } };
          throw err;
        }
      };
      const handler = async (request: Request): Promise<Answer> => {
        if ('a' in request) return pack(await call(request.a)); // a plain error is logged by the bus, answered as such
        // A batch: every call starts now, in order; each answers for itself.
        const answers = await Promise.allSettled(request.b.map(call));
        return pack({
          r: answers.map((settled) => {
            if (settled.status === 'fulfilled') return settled.value;
            options.logger?.error({ err: settled.reason, service: name, method }, 'a call of a batch failed');
            return { e: { message: settled.reason instanceof Error ? settled.reason.message : String(settled.reason) } };
          }),
        });
      };
      subs.push(await bus.respond(subject(name, method), handler, keyed ? { owner: options.owner } : {}));
    }
  } catch (err) {
    for (const s of subs) await s.close();
    parts.clear();
    throw err;
  }
  return {
    async close() {
      await Promise.all(subs.map((s) => s.close()));
      parts.clear();
    },
  };
}

export interface RemoteOptions<T> {
  /** For methods served by key: the key of a call, from its arguments. */
  byKey?: { [K in Method<T>]?: (...args: Parameters<Extract<T[K], (...args: never[]) => unknown>>) => string };
  /** Methods whose calls are coalesced into batches (per partition, for methods served by key). */
  batch?: readonly Method<T>[];
  /** Partitions of the key space (the bus's), to group calls served by key into one batch per partition. Default 16. */
  partitions?: number;
  /** Default 60 s: an operator's send fans out to every recipient before it answers. */
  timeoutMs?: number;
  /**
   * Aborted when this process begins to stop. From then on a call does not wait for a service
   * nobody answers (in a cluster stopping as a whole, the other processes are gone for good), and a
   * call in flight is given up after STOPPING_GRACE_MS: the work waiting on it (a consumer's
   * handler) fails and its message is redelivered to the next owner, instead of holding the stop
   * past its budget.
   */
  stopping?: AbortSignal | undefined;
  /**
   * For the methods in `batch` (idempotent, the hot path): when a request has no answer after this
   * long, the same request is sent again while the first is still awaited, and the first answer
   * wins. A request taken by a process that then died (SIGKILL, a crash) is never answered: NATS
   * does not tell the caller, so without this the call would wait out its whole timeout. Default
   * HEDGE_MS; 0 turns it off.
   */
  hedgeMs?: number;
  /** Where a batch asked again (no answer after hedgeMs) is logged, at info. */
  logger?: Logger | undefined;
}

/** A call answered after this long is logged (RemoteOptions.logger), with how many times it found nobody to answer. */
const SLOW_CALL_MS = 5_000;

/** How long a call of a batched method waits for an answer before asking again (RemoteOptions.hedgeMs). */
export const HEDGE_MS = 10_000;

/** How long a call in flight may still take once its process began to stop. */
export const STOPPING_GRACE_MS = 5_000;

/** Most calls in one batch request, and about the most bytes of their arguments (well under NATS's max_payload of 1 MiB). */
const BATCH_CALLS = 256;
const BATCH_BYTES = 256 * 1024;

/** A proxy calling `methods` of service `name` over the bus. */
export function remote<T extends object, M extends Method<T>>(bus: Bus, name: string, methods: readonly M[], options: RemoteOptions<T> = {}): Surface<T, M> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const partitions = options.partitions ?? 16;
  const proxy: Record<string, unknown> = {};
  /** One request, retried while nobody answers (a process starting, a partition changing hands). */
  const stopping = options.stopping;
  // One abort listener per proxy (not per call: thousands of calls in flight would each add one).
  const onStop = new Set<() => void>();
  stopping?.addEventListener('abort', () => onStop.forEach((f) => f()), { once: true });
  /** Rejects STOPPING_GRACE_MS after the process began to stop (never, while it runs). */
  const givenUp = (what: string): { promise: Promise<never>; clear(): void } => {
    if (!stopping) return { promise: new Promise<never>(() => undefined), clear: () => undefined };
    let timer: NodeJS.Timeout | undefined;
    let reject!: (err: Error) => void;
    const promise = new Promise<never>((_, no) => (reject = no));
    promise.catch(() => undefined); // observed by the races in send; never unhandled
    const onAbort = () => {
      timer = setTimeout(() => reject(new Error(`${what} given up: this process is stopping`)), STOPPING_GRACE_MS);
      timer.unref();
    };
    if (stopping.aborted) onAbort();
    else onStop.add(onAbort);
    return { promise, clear: () => (clearTimeout(timer), onStop.delete(onAbort)) };
  };
  const hedgeMs = options.hedgeMs ?? HEDGE_MS;
  /** A batch: asked again every hedgeMs without an answer (the batched methods are idempotent). */
  const sendBatch = (method: string, request: Request, key: string | undefined): Promise<Answer> => {
    const deadline = Date.now() + timeoutMs;
    if (hedgeMs <= 0) return send(method, request, key, deadline);
    const began = Date.now();
    let attempts = 0;
    return hedged(() => {
      if (attempts++ > 0) options.logger?.info({ service: name, method, calls: 'b' in request ? request.b.length : 1, attempt: attempts, ms: Date.now() - began }, `${name}.${method} had no answer after ${Date.now() - began} ms; asking again`);
      return send(method, request, key, deadline);
    }, hedgeMs, deadline);
  };
  const send = async (method: string, request: Request, key: string | undefined, deadline = Date.now() + timeoutMs): Promise<Answer> => {
    const giveUp = givenUp(`${name}.${method}`);
    const began = Date.now();
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const reply = bus.request<Request, Answer>(subject(name, method), request, Math.max(100, deadline - Date.now()), key === undefined ? {} : { key });
          const answer = await Promise.race([reply, giveUp.promise]);
          if (answer.m && !stopping?.aborted && Date.now() + 50 < deadline) {
            // the partition is changing hands: like no responders, ask again in a moment
            await Promise.race([new Promise((resolve) => setTimeout(resolve, backoff(attempt))), giveUp.promise]);
            continue;
          }
          const unpacked = unpack(answer.more ? { z: await Promise.race([fetchParts(bus, answer.z!, answer.more, deadline), giveUp.promise]) } : answer);
          if (Date.now() - began >= SLOW_CALL_MS) options.logger?.info({ service: name, method, ms: Date.now() - began, attempts: attempt + 1 }, `${name}.${method} answered after ${Date.now() - began} ms`);
          return unpacked;
        } catch (err) {
          const absent = /no responders/.test((err as Error).message);
          if (absent && stopping?.aborted) throw new Error(`no responders for ${name}.${method}, and this process is stopping: not waiting for one`, { cause: err });
          if (absent && Date.now() + 50 < deadline) {
            await Promise.race([new Promise((resolve) => setTimeout(resolve, backoff(attempt))), giveUp.promise]);
            continue;
          }
          throw err;
        }
      }
    } finally {
      giveUp.clear();
    }
  };
  for (const method of methods) {
    const keyOf = options.byKey?.[method] as ((...args: unknown[]) => string) | undefined;
    if (options.batch?.includes(method)) {
      const batchers = new Map<number, Batcher>();
      proxy[method] = (...args: unknown[]) => {
        const key = keyOf?.(...args);
        const lane = key === undefined ? -1 : partitionOf(key, partitions);
        let batcher = batchers.get(lane);
        if (!batcher) batchers.set(lane, (batcher = new Batcher((calls) => sendBatch(method, { b: calls.map((c) => c.args) }, calls[0]!.key), timeoutMs)));
        return batcher.call(toWire(args) as unknown[], key).then(unwrap);
      };
    } else {
      proxy[method] = async (...args: unknown[]) => unwrap(await send(method, { a: toWire(args) as unknown[] }, keyOf?.(...args)));
    }
  }
  return proxy as Surface<T, M>;
}

/**
 * Runs `attempt`, and again every `everyMs` (until `deadline`) while none has answered; the first
 * answer wins. Fails as soon as no attempt is running (they all failed: a real error, not a wait).
 */
function hedged<T>(attempt: () => Promise<T>, everyMs: number, deadline: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let running = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const launch = () => {
      timer = undefined;
      running++;
      attempt().then(
        (value) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          running--;
          if (done || running > 0) return;
          done = true;
          clearTimeout(timer);
          reject(err);
        },
      );
      if (!done && Date.now() + everyMs < deadline) timer = setTimeout(launch, everyMs);
    };
    launch();
  });
}

/** The pause before asking again while nobody (or no owner) answers: 25 ms doubled per try, at most 500 ms. */
function backoff(attempt: number): number {
  return Math.min(500, 25 * 2 ** attempt);
}

function unwrap(answer: Answer): unknown {
  if (answer.m) throw new Error('the partition was being handed on and no owner answered in time');
  if (answer.e) {
    const e = answer.e;
    if (e.code && e.code in catalog) throw new AppError(e.code, e.message, e.errors ?? []);
    throw new Error(e.message);
  }
  return fromWire(answer.v);
}

interface Call {
  args: unknown[];
  key: string | undefined;
  bytes: number;
  /** When the caller stops waiting (made + the proxy's timeout): asked again only before it. */
  deadline: number;
  resolve: (answer: Answer) => void;
  reject: (error: unknown) => void;
}

/**
 * Coalesces the calls of one method (and partition): one request in flight at a time; calls made
 * meanwhile leave together when it returns (at most BATCH_CALLS, about BATCH_BYTES, per request).
 */
class Batcher {
  private queue: Call[] = [];
  private inFlight = false;
  /** Batches in a row with calls answered "ask the next owner" (Answer.m): the pause before the next grows. */
  private moved = 0;

  constructor(
    private readonly sendBatch: (calls: Call[]) => Promise<Answer>,
    private readonly timeoutMs: number,
  ) {}

  call(args: unknown[], key: string | undefined): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      this.queue.push({ args, key, bytes: JSON.stringify(args).length, deadline: Date.now() + this.timeoutMs, resolve, reject });
      if (!this.inFlight) this.next();
    });
  }

  private next(): void {
    if (this.queue.length === 0) {
      this.inFlight = false;
      return;
    }
    this.inFlight = true;
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && n < BATCH_CALLS && (n === 0 || bytes + this.queue[n]!.bytes <= BATCH_BYTES)) bytes += this.queue[n++]!.bytes;
    const calls = this.queue.splice(0, n);
    this.sendBatch(calls)
      .then(
        (answer) => {
          const answers = answer.r;
          if (!answers || answers.length !== calls.length) throw new Error(`a batch of ${calls.length} calls was answered with ${answers?.length ?? 'no'} answers`);
          // Calls the old owner of a partition did not begin go again first, in their order, to the next owner.
          const again: Call[] = [];
          calls.forEach((c, i) => {
            if (answers[i]!.m && Date.now() + 50 < c.deadline) again.push(c);
            else c.resolve(answers[i]!);
          });
          this.queue.unshift(...again);
          this.moved = again.length > 0 ? this.moved + 1 : 0;
        },
      )
      .catch((err: unknown) => calls.forEach((c) => c.reject(err)))
      .finally(() => {
        if (this.moved === 0) this.next();
        else setTimeout(() => this.next(), backoff(this.moved - 1));
      });
  }
}

/**
 * Answers above this many bytes of JSON travel gzipped: a bulk answer (5,000 devices with their
 * tokens is about 1.3 MB) would not fit NATS's max_payload of 1 MiB; gzipped it is about a third.
 */
const PACK_BYTES = 256 * 1024;

/** Most characters of gzipped base64 in one answer or part (NATS's max_payload is 1 MiB). */
const PART_CHARS = 768 * 1024;
/** How long a process keeps the parts of an answer nobody fetched. */
const PARTS_KEPT_MS = 60_000;

/** The parts of large answers a serving process keeps until they are fetched. */
class Parts {
  private readonly kept = new Map<string, { parts: string[]; left: number; timer: NodeJS.Timeout }>();

  constructor(readonly subject: string) {}

  pack(answer: Answer): Answer {
    const json = JSON.stringify(answer);
    if (json.length <= PACK_BYTES) return answer;
    const z = gzipSync(json).toString('base64');
    if (z.length <= PART_CHARS) return { z };
    const parts: string[] = [];
    for (let at = 0; at < z.length; at += PART_CHARS) parts.push(z.slice(at, at + PART_CHARS));
    const id = randomUUID();
    const timer = setTimeout(() => this.kept.delete(id), PARTS_KEPT_MS);
    timer.unref();
    this.kept.set(id, { parts, left: parts.length - 1, timer });
    return { z: parts[0], more: { subject: this.subject, id, n: parts.length } };
  }

  /** Part i (1…n-1) of answer id; the answer is forgotten once every part was taken. */
  take(id: string, i: number): { p: string } {
    const entry = this.kept.get(id);
    const part = entry?.parts[i];
    if (!entry || i < 1 || part === undefined) throw new Error(`part ${i} of answer ${id} is gone (kept ${PARTS_KEPT_MS / 1000} s)`);
    if (--entry.left === 0) {
      clearTimeout(entry.timer);
      this.kept.delete(id);
    }
    return { p: part };
  }

  clear(): void {
    for (const entry of this.kept.values()) clearTimeout(entry.timer);
    this.kept.clear();
  }
}

/** The rest of an answer given in parts, fetched in order from the process that answered. */
async function fetchParts(bus: Bus, first: string, more: NonNullable<Answer['more']>, deadline: number): Promise<string> {
  const parts = [first];
  for (let i = 1; i < more.n; i++) {
    const { p } = await bus.request<{ id: string; i: number }, { p: string }>(more.subject, { id: more.id, i }, Math.max(100, deadline - Date.now()));
    parts.push(p);
  }
  return parts.join('');
}

function unpack(answer: Answer): Answer {
  return answer.z === undefined ? answer : (JSON.parse(gunzipSync(Buffer.from(answer.z, 'base64')).toString()) as Answer);
}

function subject(service: string, method: string): string {
  return `svc.${service}.${method}`;
}

/** JSON-safe form: `undefined` in arrays and `Set`s survive the trip. */
export function toWire(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? { $u: 1 } : toWire(v)));
  if (value instanceof Set) return { $set: [...value].map(toWire) };
  if (value instanceof Map) return { $map: [...value].map(([k, v]) => [toWire(k), toWire(v)]) };
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toWire(v);
  return out;
}

export function fromWire(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(fromWire);
  const o = value as Record<string, unknown>;
  if (o.$u === 1 && Object.keys(o).length === 1) return undefined;
  if (Array.isArray(o.$set) && Object.keys(o).length === 1) return new Set(o.$set.map(fromWire));
  if (Array.isArray(o.$map) && Object.keys(o).length === 1) return new Map((o.$map as [unknown, unknown][]).map(([k, v]) => [fromWire(k), fromWire(v)]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = fromWire(v);
  return out;
}
