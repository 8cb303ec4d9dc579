import { Migrator, type Kysely, type Migration as KyselyMigration } from 'kysely';
import type { Migration } from '../ports/store.js';

/**
 * Kysely's migrator looks for its tables through the catalogue of every schema; on PostgreSQL a
 * schema dropped by someone else meanwhile (another deployment or test run sharing the database)
 * fails that look with invalid_schema_name naming the other schema. Nothing of ours is wrong: look again.
 */
const CATALOGUE_RACE = '3F000';
const ATTEMPTS = 5;

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
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator.migrateToLatest();
    if (!error) return;
    const code = (error as { code?: unknown }).code;
    const ours = schema !== undefined && String((error as Error).message).includes(`"${schema}"`);
    if (code === CATALOGUE_RACE && !ours && attempt < ATTEMPTS) {
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      continue;
    }
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '?'} failed: ${String(error)}`, { cause: error });
  }
}
