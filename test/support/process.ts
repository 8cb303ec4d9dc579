/**
 * The embedded deployment as a real process (`node dist/src/main.js`) on a data folder, for tests
 * that kill it with SIGKILL: nothing of it runs after the signal, as in a crash. The next start is
 * usually an in-process startTestPlatform on the same folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ADMIN_KEY, eventually } from '../helpers.js';
import { freePort } from './cluster.js';

export interface PlatformProcess {
  url: string;
  child: ChildProcess;
  /** The signal it ended with (null for an exit of its own). */
  exited: Promise<NodeJS.Signals | null>;
  /** Calls the API as the admin; returns status and parsed JSON. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  kill(): void;
}

/** Starts main.js on `dataDir` with `env` and waits until it says ready. */
export async function startPlatformProcess(env: Record<string, string>, dataDir: string): Promise<PlatformProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/src/main.js'], {
    env: { PATH: process.env.PATH ?? '', ...env, HOST: '127.0.0.1', PORT: String(port), FOLLOWME_DATA_DIR: dataDir, FOLLOWME_DEMO: 'off', FOLLOWME_ADMIN_KEY: ADMIN_KEY, FOLLOWME_SQLITE_SYNC: 'normal', FOLLOWME_OSMAND_PORT: 'off', FOLLOWME_MQTT_PORT: 'off', FOLLOWME_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = ''; // its errors, to say why if it never gets ready
  for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let gone = false;
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => {
      gone = true;
      resolve(signal);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const kill = () => void child.kill('SIGKILL');
  try {
    await eventually(async () => {
      if (gone) throw new Error(`the process exited before it was ready: ${output}`);
      return (await fetch(`${url}/readyz`)).ok;
    }, 60_000, 'process ready');
  } catch (err) {
    kill();
    throw err;
  }
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  return { url, child, exited, api, kill };
}
