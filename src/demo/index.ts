/**
 * The demo: on first start with an empty data folder, a demo tenant in Berlin with people,
 * devices, groups, fences and a rule; on every start of a data folder that has it, the simulator
 * moves its devices over the real device protocol. FOLLOWME_DEMO=off starts empty.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newSecret } from '../core/ids.js';
import { systemContext } from '../core/tenancy.js';
import type { Platform } from '../roles.js';
import type { Tenant } from '../services/client/index.js';
import { demoFences } from './city.js';
import { Simulator } from './simulator.js';

export const DEMO_SLUG = 'demo';

interface DemoCredentials {
  tenant: string;
  email: string;
  password: string;
}

export interface Demo {
  stop(): Promise<void>;
}

/** Provisions the demo tenant (first start only) and starts the simulator; undefined when there is no demo to run. */
export async function startDemo(platform: Platform): Promise<Demo | undefined> {
  const { client, config, logger } = platform;
  let tenant: Tenant | undefined = await client.findTenantBySlug(DEMO_SLUG);
  const credentialsFile = join(config.dataDir, 'demo-login.json');
  if (!tenant) {
    if ((await client.listTenants()).length > 0) return undefined; // not a fresh data folder: leave it alone
    tenant = await provision(platform, credentialsFile);
  }
  const ctx = systemContext(tenant.id);
  // Device tokens are kept only hashed, so the simulator takes fresh ones for the demo devices at each start.
  const devices = await client.listDevices(ctx);
  const tokens: string[] = [];
  for (const device of devices) tokens.push((await client.rotateDeviceToken(ctx, device.id)).token);
  const simulator = new Simulator({ url: `${platform.url.replace(/^http/, 'ws')}/device/v1`, tokens, logger });
  simulator.start();
  let login: DemoCredentials | undefined;
  try {
    login = JSON.parse(readFileSync(credentialsFile, 'utf8')) as DemoCredentials;
  } catch (err) {
    logger.warn({ err, file: credentialsFile }, 'demo login file is missing; create a user with `followme user create`');
  }
  logger.info(
    { tenant: tenant.slug, devices: devices.length, login },
    `Demo: ${devices.length} simulated devices move through Berlin. Log in at ${platform.url}/api/v1/auth/login with ${JSON.stringify(login ?? {})}; API docs at ${platform.url}/api/v1/docs`,
  );
  return { stop: () => simulator.stop() };
}

async function provision(platform: Platform, credentialsFile: string): Promise<Tenant> {
  const { client, geofence, notification, config, logger } = platform;
  const tenant = await client.createTenant({ name: 'Demo', slug: DEMO_SLUG });
  const ctx = systemContext(tenant.id);
  const password = newSecret().slice(0, 16);
  const operator = await client.createUser(ctx, { email: 'operator@demo.followme.local', name: 'Demo Operator', role: 'owner', password });
  writeFileSync(credentialsFile, JSON.stringify({ tenant: DEMO_SLUG, email: operator.email, password } satisfies DemoCredentials, null, 2), { mode: 0o600 });

  const responders: string[] = [];
  const field: string[] = [];
  for (let i = 0; i < config.demoDevices; i++) {
    const n = String(i + 1).padStart(3, '0');
    const member = await client.createUser(ctx, { email: `member${n}@demo.followme.local`, name: `Member ${n}`, role: 'member' });
    const { device } = await client.createDevice(ctx, { name: `Phone ${n}`, userId: member.id });
    (i % 10 === 0 ? responders : field).push(device.id);
  }
  const responderGroup = await client.createGroup(ctx, { name: 'Responders', deviceIds: responders });
  await client.createGroup(ctx, { name: 'Field team', deviceIds: field });
  const fences = [];
  for (const f of demoFences) fences.push(await geofence.createFence(ctx, { name: f.name, geometry: f.geometry, radius: f.radius }));
  const watched = fences[0]!;
  await notification.createRule(ctx, {
    name: `Alert responders on entering ${watched.name}`,
    on: 'enter',
    fenceId: watched.id,
    target: { groupIds: [responderGroup.id] },
    title: '{device} entered {fence}',
    body: '{device} {event} {fence} at {time}.',
    priority: 'high',
  });
  logger.info({ tenant: tenant.id, devices: config.demoDevices, fences: fences.length }, 'demo tenant provisioned');
  return tenant;
}
