import { Migrator, type Kysely, type Migration as KyselyMigration } from 'kysely';
import type { Migration } from '../ports/store.js';

/** Applies a service's migrations in order; each name runs once per database. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- schema work is untyped
export async function migrate(db: Kysely<any>, migrations: Migration[], schema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    migrationTableSchema: schema,
    provider: {
      async getMigrations() {
        const all: Record<string, KyselyMigration> = {};
        for (const m of migrations) all[m.name] = { up: m.up };
        return all;
      },
    },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${String(error)}`, { cause: error });
  }
}
