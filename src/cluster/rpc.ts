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
 *   are no responders for a moment, and the proxy tries again until its timeout.
 */
import { AppError, catalog, type ErrorCode, type FieldProblem } from '../core/errors.js';
import type { Bus, Ownership, Subscription } from '../ports/bus.js';

type Method<T> = { [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof T] & string;

/** The methods of T that `remote` can call: those returning a promise. */
export type Surface<T, M extends Method<T>> = Pick<T, M>;

interface WireError {
  code?: ErrorCode;
  message: string;
  errors?: FieldProblem[];
}

interface Answer {
  v?: unknown;
  e?: WireError;
}

export interface ServeOptions<T> {
  /** Methods answered only by the owner of the key's partition. */
  byKey?: readonly Method<T>[];
  owner?: Ownership | undefined;
}

/** Answers `methods` of `impl` on the bus as service `name`; resolves once every responder listens. */
export async function serve<T extends object, M extends Method<T>>(bus: Bus, name: string, impl: T, methods: readonly M[], options: ServeOptions<T> = {}): Promise<Subscription> {
  const subs: Subscription[] = [];
  try {
    for (const method of methods) {
      const fn = (impl[method] as (...args: unknown[]) => Promise<unknown>).bind(impl);
      const keyed = options.byKey?.includes(method) ?? false;
      if (keyed && !options.owner) throw new Error(`${name}.${method} is answered by key, which needs an ownership`);
      const handler = async (request: { a: unknown[] }): Promise<Answer> => {
        try {
          return { v: toWire(await fn(...(fromWire(request.a) as unknown[]))) };
        } catch (err) {
          if (err instanceof AppError) return { e: { code: err.code, message: err.message, errors: err.errors } };
          throw err; // logged by the bus, answered as a plain error
        }
      };
      subs.push(await bus.respond(subject(name, method), handler, keyed ? { owner: options.owner } : {}));
    }
  } catch (err) {
    for (const s of subs) await s.close();
    throw err;
  }
  return {
    async close() {
      await Promise.all(subs.map((s) => s.close()));
    },
  };
}

export interface RemoteOptions<T> {
  /** For methods served by key: the key of a call, from its arguments. */
  byKey?: { [K in Method<T>]?: (...args: Parameters<Extract<T[K], (...args: never[]) => unknown>>) => string };
  /** Default 60 s: an operator's send fans out to every recipient before it answers. */
  timeoutMs?: number;
}

/** A proxy calling `methods` of service `name` over the bus. */
export function remote<T extends object, M extends Method<T>>(bus: Bus, name: string, methods: readonly M[], options: RemoteOptions<T> = {}): Surface<T, M> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const proxy: Record<string, unknown> = {};
  for (const method of methods) {
    const keyOf = options.byKey?.[method] as ((...args: unknown[]) => string) | undefined;
    proxy[method] = async (...args: unknown[]) => {
      const deadline = Date.now() + timeoutMs;
      const key = keyOf?.(...args);
      for (let attempt = 0; ; attempt++) {
        let answer: Answer;
        try {
          answer = await bus.request<{ a: unknown }, Answer>(subject(name, method), { a: toWire(args) }, Math.max(100, deadline - Date.now()), key === undefined ? {} : { key });
        } catch (err) {
          // No process answers this (partition of the) service right now: it is starting, or a partition is changing hands.
          if (/no responders/.test((err as Error).message) && Date.now() + 50 < deadline) {
            await new Promise((resolve) => setTimeout(resolve, Math.min(500, 25 * 2 ** attempt)));
            continue;
          }
          throw err;
        }
        if (answer.e) {
          const e = answer.e;
          if (e.code && e.code in catalog) throw new AppError(e.code, e.message, e.errors ?? []);
          throw new Error(e.message);
        }
        return fromWire(answer.v);
      }
    };
  }
  return proxy as Surface<T, M>;
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
