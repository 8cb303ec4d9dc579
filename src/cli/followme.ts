#!/usr/bin/env node
/**
 * `followme`: the platform owner's command line. It works on the same stores as the server (the
 * server may be running: SQLite in WAL mode allows it) with the same FOLLOWME_* settings.
 *
 *   followme start [--roles edge,api,...]
 *   followme tenant create NAME [--slug SLUG] [--json]
 *   followme tenant list [--json]
 *   followme user create --tenant T --email E --name N --role owner|admin|operator|member [--password P] [--json]
 *   followme device create --tenant T NAME [--user USER_ID] [--unique-id ID] [--owntracks-key KEY] [--json]
 *   followme device import FILE --tenant T [--json]
 *   followme tenant provision NAME --owner-email E [--owner-name N] [--owner-password P] [--external-ref R] [--slug S] [--devices N] [--users N]
 *   followme tenant suspend|resume T
 *   followme tenant export T [--out FILE]
 *   followme tenant delete T --out FILE
 *   followme tenant import FILE
 *   followme provision FILE [--dry-run]
 *   followme audit [--tenant T] [--limit N]
 *   followme migrate
 */
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config.js';
import { AppError } from '../core/errors.js';
import { systemContext } from '../core/tenancy.js';
import { createServices, openBus, storeFactory, type Services } from '../roles.js';
import { createLogger } from '../core/log.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseCsv } from '../provisioning/index.js';
import { clientMigrations, type ClientService } from '../services/client/index.js';
import { trackerMigrations } from '../services/tracker/index.js';
import { geofenceMigrations } from '../services/geofence/index.js';
import { notificationMigrations } from '../services/notification/index.js';

const USAGE = `usage:
  followme start [--roles R,R]                     run the platform (same as npm start); --roles: some of
                                                   edge, api, client, tracker, geofence, notification (a cluster)
  followme tenant create NAME [--slug SLUG]        create a tenant
  followme tenant list                             list tenants
  followme user create --tenant T --email E --name N --role R [--password P]
  followme device create --tenant T NAME [--user USER_ID] [--unique-id ID] [--owntracks-key KEY]
                                                   --unique-id: the OsmAnd/Traccar Client device identifier,
                                                   or USER/DEVICE of an OwnTracks topic (external broker)
  followme device import FILE --tenant T           up to 5,000 devices from CSV (header: name,userId,uniqueId,
                                                   owntracksKey) or a JSON array, all or none; prints
                                                   id,name,uniqueId,token as CSV (tokens shown once)
  followme tenant provision NAME --owner-email E [--owner-name N] [--owner-password P]
                            [--external-ref R] [--slug S] [--devices N] [--users N]
                                                   a customer ready for devices: tenant, owner (invitation
                                                   link unless a password is given), plan; idempotent by ref
  followme tenant suspend|resume T                 refuse or readmit a tenant's users and devices
  followme tenant export T [--out FILE]            the tenant's complete data (followme-tenant-export/1)
  followme tenant delete T --out FILE              export to FILE, then purge every row of the tenant
  followme tenant import FILE                      recreate a tenant from an export
  followme provision FILE [--dry-run]              tenants, users, devices, groups from a CSV or JSON file
  followme audit [--tenant T] [--limit N]          the audit log, newest first
  followme migrate                                 create or update every service's schema
options: --json prints the result as JSON. Settings come from FOLLOWME_* variables (see docs/configuration.md).`;

class UsageError extends Error {}

async function withServices<T>(config: Config, fn: (services: Services) => Promise<T>): Promise<T> {
  const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel);
  // The configured bus: on NATS the servers of a cluster hear of the changes (client.changed).
  const bus = await openBus(config, logger);
  const services = await createServices(config, bus, logger);
  try {
    return await fn(services);
  } finally {
    await services.tracker.flush();
    await bus.close();
    await services.closeStores();
  }
}

async function withClient<T>(config: Config, fn: (client: ClientService) => Promise<T>): Promise<T> {
  return withServices(config, (s) => fn(s.client));
}

/** What the CLI changed goes into the audit log like what the API changes. */
async function audit(client: ClientService, action: string, tenantId: string | null, target: string | null): Promise<void> {
  await client.record({ tenantId, actor: { kind: 'cli' }, action, target, detail: { user: process.env.USER ?? null }, ip: null });
}

/** Resolves a tenant given by id or slug. */
async function tenantId(client: ClientService, value: string | undefined): Promise<string> {
  if (!value) throw new UsageError('--tenant is required (id or slug)');
  const bySlug = await client.findTenantBySlug(value);
  return bySlug?.id ?? (await client.getTenant(value)).id;
}

function print(json: boolean, value: unknown, text: string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text);
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      slug: { type: 'string' },
      tenant: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      password: { type: 'string' },
      user: { type: 'string' },
      'unique-id': { type: 'string' },
      'owntracks-key': { type: 'string' },
      roles: { type: 'string' },
      'owner-email': { type: 'string' },
      'owner-name': { type: 'string' },
      'owner-password': { type: 'string' },
      'external-ref': { type: 'string' },
      devices: { type: 'string' },
      users: { type: 'string' },
      out: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      limit: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [noun, verb, ...rest] = positionals;
  if (values.help || !noun) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (noun === 'start') {
    await import('../main.js');
    return -1; // keeps running
  }
  const config = loadConfig();
  const json = values.json ?? false;
  const command = ['provision', 'audit', 'migrate'].includes(noun) ? noun : `${noun} ${verb ?? ''}`.trim();
  switch (command) {
    case 'tenant create': {
      const name = rest.join(' ');
      if (!name) throw new UsageError('tenant create needs a NAME');
      const tenant = await withClient(config, (c) => c.createTenant({ name, slug: values.slug }));
      print(json, tenant, `created tenant ${tenant.id} (slug ${tenant.slug})`);
      return 0;
    }
    case 'tenant list': {
      const tenants = await withClient(config, (c) => c.listTenants());
      print(json, tenants, tenants.map((t) => `${t.id}  ${t.slug}  ${t.status}  ${t.name}`).join('\n') || '(no tenants)');
      return 0;
    }
    case 'user create': {
      const user = await withClient(config, async (c) =>
        c.createUser(systemContext(await tenantId(c, values.tenant)), { email: values.email ?? '', name: values.name ?? '', role: values.role ?? '', password: values.password }),
      );
      print(json, user, `created user ${user.id} (${user.email}, ${user.role})`);
      return 0;
    }
    case 'device create': {
      const name = rest.join(' ') || values.name;
      if (!name) throw new UsageError('device create needs a NAME');
      const created = await withClient(config, async (c) => c.createDevice(systemContext(await tenantId(c, values.tenant)), { name, userId: values.user, uniqueId: values['unique-id'], owntracksKey: values['owntracks-key'] }));
      const unique = created.device.uniqueId ? ` (unique id ${created.device.uniqueId})` : '';
      print(json, created, `created device ${created.device.id}${unique}\ndevice token (shown once): ${created.token}`);
      return 0;
    }
    case 'device import': {
      const file = rest[0];
      if (!file) throw new UsageError('device import needs a FILE (.csv, or .json holding an array of devices)');
      const text = readFileSync(file, 'utf8');
      const rows: unknown = file.endsWith('.csv') ? parseCsv(text) : JSON.parse(text);
      const created = await withClient(config, async (c) => {
        const id = await tenantId(c, values.tenant);
        const made = await c.createDevices(systemContext(id), rows);
        await audit(c, 'device import', id, `${file}: ${made.length} devices`);
        return made;
      });
      const csv = ['id,name,uniqueId,token', ...created.map(({ device, token }) => [device.id, device.name, device.uniqueId ?? '', token].map(csvField).join(','))];
      print(json, created, csv.join('\n'));
      return 0;
    }
    case 'tenant provision': {
      const name = rest.join(' ');
      if (!name) throw new UsageError('tenant provision needs a NAME');
      if (!values['owner-email']) throw new UsageError('tenant provision needs --owner-email');
      const quotas: Record<string, number> = {};
      if (values.devices) quotas.devices = Number(values.devices);
      if (values.users) quotas.users = Number(values.users);
      const made = await withServices(config, async (s) => {
        const result = await s.provisioning.provision({ name, slug: values.slug, externalRef: values['external-ref'], owner: { email: values['owner-email']!, name: values['owner-name'] ?? values['owner-email']!, password: values['owner-password'] }, plan: { quotas } });
        if (result.created) await audit(s.client, 'tenant provision', result.tenant.id, result.tenant.id);
        return result;
      });
      const invite = made.invitation ? `\nowner invitation (shown once, valid 7 days): /invite/${made.invitation.token}` : '';
      print(json, made, `${made.created ? 'provisioned' : 'exists already:'} tenant ${made.tenant.id} (slug ${made.tenant.slug}), owner ${made.owner.email}${invite}`);
      return 0;
    }
    case 'tenant suspend':
    case 'tenant resume': {
      const tenant = await withClient(config, async (c) => {
        const id = await tenantId(c, rest[0] ?? values.tenant);
        const t = await c.setTenantStatus(id, verb === 'suspend' ? 'suspended' : 'active');
        await audit(c, `tenant ${verb}`, id, id);
        return t;
      });
      print(json, tenant, `tenant ${tenant.slug} is ${tenant.status}`);
      return 0;
    }
    case 'tenant export':
    case 'tenant delete': {
      if (verb === 'delete' && !values.out) throw new UsageError('tenant delete needs --out FILE: the tenant is exported there before it is purged');
      const doc = await withServices(config, async (s) => {
        const id = await tenantId(s.client, rest[0] ?? values.tenant);
        if (verb === 'export') return s.provisioning.exportTenant(id);
        const data = await s.provisioning.exportTenant(id);
        writeFileSync(values.out!, JSON.stringify(data)); // written before anything is purged
        await s.provisioning.deleteTenant(id);
        await audit(s.client, 'tenant delete', null, id);
        return data;
      });
      if (values.out) writeFileSync(values.out, JSON.stringify(doc));
      if (values.out) print(json, { out: values.out, tenant: doc.tenant }, `${verb === 'delete' ? 'deleted' : 'exported'} tenant ${doc.tenant.slug}; its data is in ${values.out}`);
      else console.log(JSON.stringify(doc));
      return 0;
    }
    case 'tenant import': {
      const file = rest[0];
      if (!file) throw new UsageError('tenant import needs a FILE');
      const tenant = await withServices(config, async (s) => {
        const t = await s.provisioning.importTenant(JSON.parse(readFileSync(file, 'utf8')));
        await audit(s.client, 'tenant import', t.id, t.id);
        return t;
      });
      print(json, tenant, `imported tenant ${tenant.id} (slug ${tenant.slug})`);
      return 0;
    }
    case 'provision': {
      const file = verb;
      if (!file) throw new UsageError('provision needs a FILE (.csv or .json)');
      const text = readFileSync(file, 'utf8');
      const rows = file.endsWith('.csv') ? parseCsv(text) : (JSON.parse(text) as { rows?: Record<string, unknown>[] }).rows ?? (JSON.parse(text) as Record<string, unknown>[]);
      const dryRun = values['dry-run'] ?? false;
      const results = await withServices(config, async (s) => {
        const r = await s.provisioning.bulk(rows, dryRun);
        if (!dryRun) await audit(s.client, 'provision', null, file);
        return r;
      });
      const lines = results.map((r) => `${String(r.row).padStart(4)}  ${r.kind.padEnd(7)} ${r.status.padEnd(13)} ${r.key}${r.id ? `  ${r.id}` : ''}${r.token ? `  token ${r.token}` : ''}${r.error ? `  ${r.error.reason}` : ''}`);
      print(json, { dryRun, results }, `${dryRun ? 'dry run: nothing was changed\n' : ''}${lines.join('\n')}`);
      return results.some((r) => r.status === 'refused') ? 1 : 0;
    }
    case 'audit': {
      const entries = await withClient(config, async (c) => c.auditLog({ tenantId: values.tenant ? await tenantId(c, values.tenant) : undefined, limit: values.limit ? Number(values.limit) : 50 }));
      print(json, entries, entries.map((e) => `${new Date(e.at).toISOString()}  ${(e.actor as { kind: string }).kind.padEnd(6)} ${e.action}${e.target ? ` ${e.target}` : ''}${e.ip ? ` from ${e.ip}` : ''}`).join('\n') || '(empty)');
      return 0;
    }
    case 'migrate': {
      const stores = storeFactory(config);
      for (const [name, migrations] of [['client', clientMigrations], ['tracker', trackerMigrations], ['geofence', geofenceMigrations], ['notification', notificationMigrations]] as const) {
        await (await stores.open(name, migrations)).close();
      }
      print(json, { migrated: true }, `schemas are up to date (${config.store})`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${positionals.join(' ')}"`);
  }
}

/** A CSV field, quoted when it holds a comma, a quote or a line break. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof UsageError) console.error(`${err.message}\n\n${USAGE}`);
    else if (err instanceof AppError) console.error(`error (${err.code}): ${err.message}`);
    else console.error(err);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
