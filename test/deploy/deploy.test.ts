/**
 * The deployment files in deploy/, tested as far as a machine without a container engine allows:
 * they parse, the Kubernetes manifests validate against the Kubernetes API schema (the OpenAPI
 * definitions packaged by kubernetes-models) and have what we promise
 * (probes on routes that exist, resources, rolling updates that never go below the replica count),
 * every FOLLOWME_* key they set is a real setting, and the image's start command and health check
 * work when run outside a container.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { settings } from '../../src/config.js';
import { createHttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/core/log.js';
import { freePort } from '../support/cluster.js';

const KEYS = new Set(Object.values(settings).map((s) => s.env));
const dockerfile = readFileSync('deploy/Dockerfile', 'utf8');
const manifests = readdirSync('deploy/kubernetes')
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join('deploy/kubernetes', f), 'utf8')).map((d) => {
      assert.deepEqual(d.errors, [], `${f} parses`);
      return { file: f, doc: d.toJS() as any };
    }),
  )
  .filter((m) => m.doc !== null);

/** Kubernetes resource names: DNS-1123 labels. */
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

describe('deployment files', () => {
  it('compose: parses, and every role runs with settings the program knows', () => {
    const compose = parse(readFileSync('deploy/compose.yaml', 'utf8'), { merge: true });
    const services = compose.services as Record<string, any>;
    for (const name of ['nats', 'postgres', 'migrate', 'edge-1', 'edge-2', 'tracker', 'geofence', 'notification', 'api', 'client']) assert.ok(services[name], `service ${name}`);
    assert.ok(services.nats.command.includes('-js'), 'NATS with JetStream');
    assert.deepEqual(services.migrate.command.slice(-2), ['dist/src/cli/followme.js', 'migrate']);
    const roles = new Set<string>();
    for (const [name, service] of Object.entries(services)) {
      if (!service.image?.startsWith('followme')) continue;
      for (const key of Object.keys(service.environment ?? {})) assert.ok(KEYS.has(key), `${name}: ${key} is a setting in src/config.ts`);
      if (service.environment.FOLLOWME_ROLES) roles.add(service.environment.FOLLOWME_ROLES);
      if (name !== 'migrate') assert.equal(service.depends_on.migrate.condition, 'service_completed_successfully', `${name} waits for the migrations`);
    }
    assert.deepEqual([...roles].sort(), ['api', 'client', 'edge', 'geofence', 'notification', 'tracker']);
  });

  it('kubernetes: every object validates against the Kubernetes API schema', async () => {
    for (const { file, doc } of manifests) {
      // kubernetes-models has one module per API group/version and one class per kind, each validating with the API's own schema
      const group = doc.apiVersion === 'v1' ? 'v1' : doc.apiVersion;
      const models = (await import(`kubernetes-models/${group}`)) as Record<string, new (data: unknown) => { validate(): void }>;
      const Model = models[doc.kind];
      assert.ok(Model, `${file}: ${doc.apiVersion} ${doc.kind} is a Kubernetes kind`);
      assert.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name} validates`);
    }
    // and the check can fail: a port given as text is refused
    const { Deployment } = await import('kubernetes-models/apps/v1');
    const broken = structuredClone(manifests.find((m) => m.doc.kind === 'Deployment')!.doc);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    assert.throws(() => new Deployment(broken).validate(), /containerPort must be integer/);
  });

  it('kubernetes: every object has what the API server requires', () => {
    assert.ok(manifests.length >= 10);
    for (const { file, doc } of manifests) {
      assert.equal(typeof doc.apiVersion, 'string', `${file}: apiVersion`);
      assert.equal(typeof doc.kind, 'string', `${file}: kind`);
      assert.match(doc.metadata?.name ?? '', DNS1123, `${file}: metadata.name`);
      if (doc.kind === 'Deployment' || doc.kind === 'Job') {
        assert.equal(doc.apiVersion, doc.kind === 'Deployment' ? 'apps/v1' : 'batch/v1');
        const pod = doc.spec.template;
        if (doc.kind === 'Deployment') {
          for (const [k, v] of Object.entries(doc.spec.selector.matchLabels)) assert.equal(pod.metadata.labels[k], v, `${doc.metadata.name}: the selector matches the pod's labels`);
        }
        assert.ok(pod.spec.containers.length > 0);
        for (const c of pod.spec.containers) {
          assert.match(c.name, DNS1123);
          assert.equal(typeof c.image, 'string');
          for (const kind of ['requests', 'limits']) for (const r of ['cpu', 'memory']) assert.ok(c.resources?.[kind]?.[r], `${doc.metadata.name}: resources.${kind}.${r}`);
          for (const e of c.env ?? []) assert.ok(KEYS.has(e.name), `${doc.metadata.name}: ${e.name} is a setting`);
        }
      }
      if (doc.kind === 'Service') {
        for (const p of doc.spec.ports) assert.ok(Number.isInteger(p.port) && p.targetPort !== undefined);
        assert.ok(manifests.some((m) => m.doc.kind === 'Deployment' && Object.entries(doc.spec.selector).every(([k, v]) => m.doc.spec.template.metadata.labels[k] === v)), `${doc.metadata.name} selects pods`);
      }
      if (doc.kind === 'ConfigMap') for (const key of Object.keys(doc.data)) assert.ok(KEYS.has(key), `ConfigMap: ${key} is a setting`);
      if (doc.kind === 'Secret') for (const key of Object.keys(doc.stringData)) assert.ok(KEYS.has(key), `Secret: ${key} is a setting`);
    }
  });

  it('kubernetes: one Deployment per role, probed on routes that exist, rolled without going below its replicas', async () => {
    const deployments = manifests.filter((m) => m.doc.kind === 'Deployment').map((m) => m.doc);
    const roles = deployments.map((d) => d.spec.template.spec.containers[0].env.find((e: any) => e.name === 'FOLLOWME_ROLES').value).sort();
    assert.deepEqual(roles, ['api', 'client', 'edge', 'geofence', 'notification', 'tracker']);
    const http = createHttpServer({ logger: createLogger('silent'), bodyLimit: 1024, ready: () => true });
    try {
      for (const d of deployments) {
        assert.equal(d.spec.strategy.type, 'RollingUpdate');
        assert.equal(d.spec.strategy.rollingUpdate.maxUnavailable, 0);
        const c = d.spec.template.spec.containers[0];
        assert.equal(c.readinessProbe.httpGet.path, '/readyz');
        assert.equal(c.livenessProbe.httpGet.path, '/healthz');
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          assert.ok(c.ports.some((p: any) => p.name === probe.httpGet.port), 'the probe names a declared port');
          assert.equal((await http.inject({ method: 'GET', url: probe.httpGet.path })).statusCode, 200, `${probe.httpGet.path} answers`);
        }
      }
    } finally {
      await http.close();
    }
    const job = manifests.find((m) => m.doc.kind === 'Job')!.doc;
    assert.deepEqual(job.spec.template.spec.containers[0].command, ['node', 'dist/src/cli/followme.js', 'migrate']);
    assert.ok(['OnFailure', 'Never'].includes(job.spec.template.spec.restartPolicy));
  });

  it('Dockerfile: multi-stage on node:20, npm ci, a non-root user, a health check on /readyz', () => {
    const froms = dockerfile.match(/^FROM node:20\S*/gm) ?? [];
    assert.ok(froms.length >= 2, 'two stages on node:20');
    assert.match(dockerfile, /^RUN npm ci\b/m);
    assert.match(dockerfile, /^USER node$/m);
    assert.match(dockerfile, /^HEALTHCHECK [\s\S]*\/readyz/m);
    assert.match(dockerfile, /^CMD \[/m);
  });

  it("runs the image's start command and health check outside a container, and stops on SIGTERM", async () => {
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    const health = /^\s*CMD (node -e .*)$/m.exec(dockerfile.slice(dockerfile.indexOf('HEALTHCHECK')))![1]!;
    const healthScript = /node -e "(.*)"$/.exec(health)![1]!;
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    for (const line of /^ENV ([\s\S]*?)\n(?!\s)/m.exec(dockerfile)![1]!.split('\n')) {
      const m = /(\w+)=(\S+)/.exec(line);
      if (m) env[m[1]!] = m[2]!;
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'followme-image-'));
    const port = await freePort();
    Object.assign(env, { HOST: '127.0.0.1', PORT: String(port), FOLLOWME_DATA_DIR: dataDir, FOLLOWME_OSMAND_PORT: 'off', FOLLOWME_MQTT_PORT: 'off', FOLLOWME_LOG_LEVEL: 'warn' });
    assert.equal(cmd[0], 'node');
    const child = spawn(process.execPath, cmd.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      let healthy = false;
      for (let i = 0; i < 100 && !healthy; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        healthy = spawnSync(process.execPath, ['-e', healthScript], { env }).status === 0;
      }
      assert.ok(healthy, `the HEALTHCHECK command passes once started; output: ${output}`);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      assert.notEqual(spawnSync(process.execPath, ['-e', healthScript], { env }).status, 0, 'and fails once stopped');
    } finally {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
