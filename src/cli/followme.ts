#!/usr/bin/env node
/**
 * `followme`: the platform owner's command line. It works on the same stores as the server (the
 * server may be running: SQLite in WAL mode allows it) with the same FOLLOWME_* settings.
 *
 *   followme start
 *   followme tenant create NAME [--slug SLUG] [--json]
 *   followme tenant list [--json]
 *   followme user create --tenant T --email E --name N --role owner|admin|operator|member [--password P] [--json]
 *   followme device create --tenant T NAME [--user USER_ID] [--unique-id ID] [--owntracks-key KEY] [--json]
 *   followme migrate
 */
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config.js';
import { AppError } from '../core/errors.js';
import { systemContext } from '../core/tenancy.js';
import { MemoryBus } from '../adapters/bus-memory.js';
import { storeFactory } from '../roles.js';
import { ClientService, clientMigrations, type ClientDB } from '../services/client/index.js';
import { trackerMigrations } from '../services/tracker/index.js';
import { geofenceMigrations } from '../services/geofence/index.js';
import { notificationMigrations } from '../services/notification/index.js';

const USAGE = `usage:
  followme start                                   run the platform (same as npm start)
  followme tenant create NAME [--slug SLUG]        create a tenant
  followme tenant list                             list tenants
  followme user create --tenant T --email E --name N --role R [--password P]
  followme device create --tenant T NAME [--user USER_ID] [--unique-id ID] [--owntracks-key KEY]
                                                   --unique-id: the OsmAnd/Traccar Client device identifier,
                                                   or USER/DEVICE of an OwnTracks topic (external broker)
  followme migrate                                 create or update every service's schema
options: --json prints the result as JSON. Settings come from FOLLOWME_* variables (see docs/configuration.md).`;

class UsageError extends Error {}

async function withClient<T>(config: Config, fn: (client: ClientService) => Promise<T>): Promise<T> {
  const bus = new MemoryBus();
  const store = await storeFactory(config).open<ClientDB>('client', clientMigrations);
  try {
    return await fn(new ClientService(store, bus));
  } finally {
    await store.close();
    await bus.close();
  }
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
  switch (`${noun} ${verb ?? ''}`.trim()) {
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
