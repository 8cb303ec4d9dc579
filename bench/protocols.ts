/**
 * Ingest load over the other device protocols, with the same seeded walks as the native load
 * (bench/load.ts): OsmAnd over HTTP (one keep-alive connection per device, one request in flight,
 * as a tracker or the Traccar Client app sends) and OwnTracks over MQTT (one client per device on
 * the embedded broker, QoS 1, at most `window` publishes awaiting PUBACK). A position counts once
 * the platform answered 200 `accepted`/`duplicate` (OsmAnd) or acknowledged it (MQTT PUBACK, which
 * the embedded broker sends only after the position is stored).
 *
 * Times: OsmAnd sends epoch milliseconds; OwnTracks' `tst` is epoch seconds, sent with three
 * decimals so that several positions per second and device stay distinct fixes.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { mulberry32 } from '../src/demo/simulator.js';
import { forEachLimited, SampleBuffer, Walk, type Area, type LoadResult } from './load.js';

export interface ProtocolLoadOptions {
  host: string;
  port: number;
  /** Per device: the OsmAnd unique id, or the MQTT username with the device token as password. */
  devices: { uniqueId: string; token: string }[];
  window: number;
  durationMs: number;
  seed: number;
  area: Area;
}

interface Measure {
  acked: number;
  rejected: number;
  errors: number;
  samples: string[];
  latencies: SampleBuffer;
  measuring: boolean;
}

function newMeasure(): Measure {
  return { acked: 0, rejected: 0, errors: 0, samples: [], latencies: new SampleBuffer(), measuring: true };
}

function note(m: Measure, s: string): void {
  if (m.samples.length < 5) m.samples.push(s);
}

function result(m: Measure, devices: number, window: number, elapsedMs: number, connectMs: number): LoadResult {
  return {
    devices,
    window,
    elapsedMs: Math.round(elapsedMs),
    acked: m.acked,
    rejected: m.rejected,
    errors: m.errors,
    rate: Math.round((m.acked / elapsedMs) * 1000),
    latencyMs: m.latencies.summary(),
    connectMs: Math.round(connectMs),
    samples: m.samples,
  };
}

/** OsmAnd over HTTP: each device loops GET /?id=…&lat=…&lon=…&timestamp=<ms>&speed=<knots>&bearing=…&accuracy=…&batt=… */
export async function runOsmandLoad(o: ProtocolLoadOptions): Promise<LoadResult> {
  const random = mulberry32(o.seed);
  const agent = new Agent({ keepAlive: true, maxSockets: o.devices.length + 10 });
  const m = newMeasure();
  const walks = o.devices.map(() => new Walk(mulberry32(Math.floor(random() * 2 ** 32)), o.area));
  const send = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const p = walks[i]!.next(Date.now());
      const path = `/?id=${encodeURIComponent(o.devices[i]!.uniqueId)}&lat=${p.lat}&lon=${p.lon}&timestamp=${p.time}&speed=${(p.speed * 3600 / 1852).toFixed(3)}&bearing=${p.heading}&accuracy=10&batt=80`;
      const sent = performance.now();
      const req = request({ host: o.host, port: o.port, path, agent, method: 'GET' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if (m.measuring) {
            if (res.statusCode === 200 && /"status":"(accepted|duplicate)"/.test(body)) {
              m.acked++;
              m.latencies.push(performance.now() - sent);
            } else {
              m.rejected++;
              note(m, `${res.statusCode}: ${body.slice(0, 200)}`);
            }
          }
          resolve();
        });
      });
      req.on('error', (err) => {
        if (m.measuring) {
          m.errors++;
          note(m, `socket error: ${err.message}`);
        }
        resolve();
      });
      req.end();
    });
  // Open every device's connection before measuring (not measured), 200 more at a time: the keep-alive
  // agent opens a socket only for a request that finds none free, so each wave adds 200. Opening them
  // all in the measured phase measured the kernel's accept queue and the clients' SYN retries (1, 3, 7,
  // 15 s), not the server: p99 17 s then, 3 s with the connections open.
  const connectStart = performance.now();
  m.measuring = false;
  for (let n = Math.min(200, o.devices.length); ; n = Math.min(n + 200, o.devices.length)) {
    await Promise.all(o.devices.slice(0, n).map((_, i) => send(i)));
    if (n === o.devices.length) break;
  }
  const connectMs = performance.now() - connectStart;
  m.measuring = true;
  const start = performance.now();
  const deadline = start + o.durationMs;
  await Promise.all(
    o.devices.map(async (_, i) => {
      while (performance.now() < deadline) await send(i);
    }),
  );
  const elapsedMs = performance.now() - start;
  m.measuring = false;
  agent.destroy();
  return result(m, o.devices.length, 1, elapsedMs, connectMs);
}

/** OwnTracks over MQTT: each device publishes `_type: location` to owntracks/<user>/phone, QoS 1. */
export async function runOwntracksMqttLoad(o: ProtocolLoadOptions): Promise<LoadResult> {
  const random = mulberry32(o.seed);
  const m = newMeasure();
  const clients: MqttClient[] = new Array<MqttClient>(o.devices.length);
  const walks = o.devices.map(() => new Walk(mulberry32(Math.floor(random() * 2 ** 32)), o.area));
  const connectStart = performance.now();
  try {
    await forEachLimited(o.devices, 50, async (d, i) => {
      clients[i] = await mqtt.connectAsync(`mqtt://${o.host}:${o.port}`, { username: d.uniqueId, password: d.token, clientId: `bench-${i}`, reconnectPeriod: 0, protocolVersion: 4 });
    });
  } catch (err) {
    for (const c of clients) c?.end(true);
    throw err;
  }
  const connectMs = performance.now() - connectStart;
  const start = performance.now();
  const deadline = start + o.durationMs;
  const publish = async (i: number): Promise<void> => {
    const p = walks[i]!.next(Date.now());
    const payload = `{"_type":"location","tid":"bm","lat":${p.lat},"lon":${p.lon},"tst":${(p.time / 1000).toFixed(3)},"acc":10,"vel":${Math.round(p.speed * 3.6)},"cog":${Math.round(p.heading) % 360},"batt":80,"bs":1}`;
    const sent = performance.now();
    try {
      await clients[i]!.publishAsync(`owntracks/${o.devices[i]!.uniqueId}/phone`, payload, { qos: 1 });
      if (m.measuring) {
        m.acked++;
        m.latencies.push(performance.now() - sent);
      }
    } catch (err) {
      if (m.measuring) {
        m.errors++;
        note(m, `publish failed: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(
    o.devices.flatMap((_, i) =>
      Array.from({ length: o.window }, async () => {
        while (performance.now() < deadline && clients[i]!.connected) await publish(i);
      }),
    ),
  );
  const elapsedMs = performance.now() - start;
  m.measuring = false;
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  return result(m, o.devices.length, o.window, elapsedMs, connectMs);
}
