// Opens the database the gateway runs on, migrated and ready: embedded PGlite by default,
// PostgreSQL when a URL is given. The caller that opens a PGlite data folder holds its data
// lock first (./data-lock.ts).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { PrismaClient } from '../../generated/prisma/client.ts';
import { applyMigrations } from './migrate.ts';
import { createPGliteAdapterFactory } from './pglite-adapter.ts';
import { openPGliteInWorker, type EmbeddedPGlite } from './pglite-in-worker.ts';

export type Database = {
  prisma: PrismaClient;
  kind: 'pglite' | 'postgres';
  /** The embedded database itself (in its worker thread), for what Prisma cannot express (extensions, bulk SQL). */
  pglite?: EmbeddedPGlite;
  /** Disconnects Prisma and closes the database or its pool. */
  close(): Promise<void>;
};

export type OpenDatabaseOptions = {
  /** `postgresql://…`; a Prisma-style `?schema=name` selects (and creates) that schema. */
  databaseUrl?: string;
  /** PGlite keeps its files in `<dataDir>/pglite`; without it, the database lives in memory. */
  dataDir?: string;
};

const migrationsDir = path.resolve(import.meta.dirname, '../../prisma/migrations');

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  return options.databaseUrl ? openPostgres(options.databaseUrl) : openPGlite(options.dataDir);
}

async function openPGlite(dataDir: string | undefined): Promise<Database> {
  let pgliteDir: string | undefined;
  if (dataDir) {
    pgliteDir = path.join(dataDir, 'pglite');
    await mkdir(pgliteDir, { recursive: true });
  }
  // In a thread of its own: its statements would otherwise hold up the event loop (./pglite-worker.ts).
  const pglite = await openPGliteInWorker({ dataDir: pgliteDir });
  try {
    const adapter = createPGliteAdapterFactory(pglite);
    await applyMigrations(adapter, { migrationsDir });
    const prisma = new PrismaClient({ adapter });
    return {
      prisma,
      kind: 'pglite',
      pglite,
      async close() {
        await prisma.$disconnect();
        await pglite.close();
      },
    };
  } catch (error) {
    await pglite.close();
    throw error;
  }
}

async function openPostgres(databaseUrl: string): Promise<Database> {
  const adapter = createPostgresAdapterFactory(databaseUrl);
  const { schema } = splitSchema(databaseUrl);
  if (schema) await createSchema(adapter, schema);
  await applyMigrations(adapter, { migrationsDir });
  const prisma = new PrismaClient({ adapter });
  return { prisma, kind: 'postgres', close: () => prisma.$disconnect() };
}

/** A factory for PostgreSQL that honours Prisma's `?schema=` and applies migrations whole. */
export function createPostgresAdapterFactory(databaseUrl: string): SqlMigrationAwareDriverAdapterFactory {
  const { connectionString, schema } = splitSchema(databaseUrl);
  // pg ignores Prisma's `schema` parameter. The adapter's schema option points the client's
  // queries and the engine's introspection there (without it the engine looks for
  // _prisma_migrations in public and fails on the second start); the search path sends the
  // migrations' unqualified CREATE TABLEs and any raw SQL to the same place.
  // Timestamps are stored without a time zone: Prisma writes them in UTC, so SQL's now()
  // (job locks, back-off) must be UTC too, whatever the server's own zone (PGlite's is UTC).
  const options = ['-c TimeZone=UTC', ...(schema ? [`-c search_path=${quoteIdentifier(schema)}`] : [])].join(' ');
  const factory = new PrismaPg({ connectionString, options }, schema ? { schema } : undefined);
  // @prisma/adapter-pg runs a script one `;`-separated piece at a time: a failing migration
  // stays half applied, and a `;` in a string or a $$ body splits a statement. Sent whole, the
  // script runs as one implicit transaction, as with Prisma's native engine.
  const whole = async (connecting: ReturnType<PrismaPg['connect']>) => {
    const adapter = await connecting;
    adapter.executeScript = async (script) => {
      await adapter.underlyingDriver().query(script);
    };
    return adapter;
  };
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: () => whole(factory.connect()),
    connectToShadowDb: () => whole(factory.connectToShadowDb()),
  };
}

function splitSchema(databaseUrl: string): { connectionString: string; schema?: string } {
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get('schema') ?? undefined;
  url.searchParams.delete('schema');
  return { connectionString: url.toString(), schema };
}

// The engine creates tables in the search path's schema but not the schema itself.
async function createSchema(adapter: SqlMigrationAwareDriverAdapterFactory, schema: string) {
  const connection = await adapter.connect();
  try {
    await connection.executeScript(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
  } finally {
    await connection.dispose();
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
