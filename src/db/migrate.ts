// Applies and creates standard Prisma migrations offline, through Prisma's WASM schema engine
// (the `prisma migrate` CLI needs a native binary that cannot be had here). The folders and the
// `_prisma_migrations` table are the CLI's own, so `prisma migrate deploy` stays usable wherever
// the binary is available.
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import {
  bindMigrationAwareSqlAdapterFactory,
  type ErrorRegistry,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import * as engineBindings from '@prisma/schema-engine-wasm/schema_engine_bg';
import type {
  MigrationDirectory,
  MigrationList,
  SchemaEngine,
} from '@prisma/schema-engine-wasm/schema_engine_bg';

export type MigrationsOptions = {
  /** A Prisma migrations folder: `<timestamp>_<name>/migration.sql` and `migration_lock.toml`. */
  migrationsDir: string;
};

/** A schema engine failure, with any `External error id#N` replaced by the error it stands for. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

const MIGRATION_FILE = 'migration.sql';
const LOCKFILE = 'migration_lock.toml';
// No table or enum in our database is managed outside Prisma; the engine insists on being told.
const filters = { externalTables: [], externalEnums: [] };

/**
 * Applies the migrations not yet recorded in `_prisma_migrations`, in folder-name order. A failed
 * migration is recorded as failed and stops this and every later run (Prisma's P3009) until it
 * is resolved; nothing after it is applied.
 */
export async function applyMigrations(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  options: MigrationsOptions,
): Promise<{ applied: string[] }> {
  const migrationsList = await readMigrationsList(options.migrationsDir);
  return withSchemaEngine(adapterFactory, async (engine) => {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters });
    return { applied: appliedMigrationNames };
  });
}

/**
 * The SQL that takes a database from the existing migrations to the Prisma schema, or null when
 * they already agree. The migrations are replayed on the factory's shadow database, so any
 * throwaway database will do as the main one.
 */
export async function diffMigrationSql(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  options: MigrationsOptions & { schemaPath: string },
): Promise<string | null> {
  const migrationsList = await readMigrationsList(options.migrationsDir);
  const schema = { path: options.schemaPath, content: await readFile(options.schemaPath, 'utf8') };
  return withSchemaEngine(adapterFactory, async (engine) => {
    const result = await engine.diff({
      // Before the first migration there is no lockfile to tell the engine the provider.
      from: migrationsList.migrationDirectories.length
        ? { tag: 'migrations', ...migrationsList }
        : { tag: 'empty' },
      to: { tag: 'schemaDatamodel', files: [schema] },
      script: true,
      // With exitCode set, the engine answers 2 for a non-empty diff: the reliable emptiness test.
      exitCode: true,
      filters,
    });
    return result.exitCode === 2 ? (result.stdout ?? '') : null;
  });
}

async function readMigrationsList(migrationsDir: string): Promise<MigrationList> {
  const baseDir = path.resolve(migrationsDir);
  const entries = await readdir(baseDir, { withFileTypes: true }).catch(orEmptyWhenMissing);
  const names = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  const migrationDirectories = await Promise.all(
    names.map(async (name): Promise<MigrationDirectory> => {
      const file = path.join(baseDir, name, MIGRATION_FILE);
      // The engine reports an unreadable migration itself, naming the folder, as the CLI does.
      const content = await readFile(file, 'utf8').then(
        (value) => ({ tag: 'ok' as const, value }),
        (error: Error) => ({ tag: 'error' as const, value: error.message }),
      );
      return { path: name, migrationFile: { path: MIGRATION_FILE, content } };
    }),
  );
  const lockfile = await readFile(path.join(baseDir, LOCKFILE), 'utf8').catch(() => null);
  return {
    baseDir,
    lockfile: { path: LOCKFILE, content: lockfile },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}

function orEmptyWhenMissing(error: NodeJS.ErrnoException): [] {
  if (error.code === 'ENOENT') return [];
  throw error;
}

/**
 * Runs one engine session and leaves nothing behind: the engine opens connections of its own
 * through the factory and never closes them (a pg pool would keep the process alive), and its
 * timeout on the migration advisory lock is a timer it never clears.
 */
async function withSchemaEngine<T>(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  run: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const { SchemaEngine } = await loadSchemaEngineModule();
  const connections = trackConnections(adapterFactory);
  const bound = bindMigrationAwareSqlAdapterFactory(connections.factory);
  activeSessions++;
  let engine: SchemaEngine | undefined;
  try {
    // The engine logs its start at INFO level; nothing in its log is worth a user's attention.
    engine = await SchemaEngine.new({ datamodels: undefined }, () => {}, bound);
    return await run(engine);
  } catch (error) {
    throw explainEngineError(error, bound.errorRegistry);
  } finally {
    engine?.free();
    await connections.closeAll();
    if (--activeSessions === 0) clearEngineTimers();
  }
}

function trackConnections(factory: SqlMigrationAwareDriverAdapterFactory) {
  const opened: SqlDriverAdapter[] = [];
  const track = async (connecting: Promise<SqlDriverAdapter>) => {
    const adapter = await connecting;
    // Disposing twice would fail for a pg shadow database (it drops the database on dispose).
    const dispose = adapter.dispose.bind(adapter);
    let disposed: Promise<void> | undefined;
    adapter.dispose = () => (disposed ??= dispose());
    opened.push(adapter);
    return adapter;
  };
  return {
    factory: {
      provider: factory.provider,
      adapterName: factory.adapterName,
      connect: () => track(factory.connect()),
      connectToShadowDb: () => track(factory.connectToShadowDb()),
    } satisfies SqlMigrationAwareDriverAdapterFactory,
    closeAll: async () => {
      await Promise.allSettled(opened.map((adapter) => adapter.dispose()));
    },
  };
}

// Errors the adapter throws that are not database errors reach us only as this placeholder;
// the bound factory's registry holds the originals.
const EXTERNAL_ERROR = /External error id#(\d+)/g;

function explainEngineError(error: unknown, registry: ErrorRegistry): MigrationError {
  if (!(error instanceof Error)) return new MigrationError(String(error));
  let cause: unknown = error;
  const message = error.message.trim().replace(EXTERNAL_ERROR, (placeholder, id: string) => {
    const record = registry.consumeError(Number(id));
    if (!record) return placeholder;
    cause = record.error;
    return describe(record.error);
  });
  return new MigrationError(message, { cause });
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && !error.message) {
    return error.errors.map(describe).join('; ');
  }
  if (error instanceof Error) return error.message || String((error as { code?: unknown }).code);
  return String(error);
}

// ---- The WASM module: instantiated once per process, its timers kept on a leash. ----

type EngineModule = typeof engineBindings;
let engineModule: Promise<EngineModule> | undefined;
let activeSessions = 0;
const engineTimers = new Set<NodeJS.Timeout>();

function loadSchemaEngineModule(): Promise<EngineModule> {
  engineModule ??= instantiateSchemaEngine().catch((error: unknown) => {
    engineModule = undefined;
    throw error;
  });
  return engineModule;
}

// The package's default entry imports the .wasm file as an ES module, which Node 24 does only
// with an ExperimentalWarning shown to users (and Node 20 not at all). Instantiating the bytes
// ourselves with the package's own JS bindings is silent on both.
async function instantiateSchemaEngine(): Promise<EngineModule> {
  const require = createRequire(import.meta.url);
  const bindingsFile = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
  const wasmFile = path.join(path.dirname(bindingsFile), 'schema_engine_bg.wasm');
  const imports: Record<string, unknown> = { ...engineBindings };
  for (const name of Object.keys(imports)) {
    if (name.startsWith('__wbg_setTimeout_')) imports[name] = setEngineTimer;
  }
  const { instance } = await WebAssembly.instantiate(await readFile(wasmFile), {
    './schema_engine_bg.js': imports as WebAssembly.ModuleImports,
  });
  engineBindings.__wbg_set_wasm(instance.exports);
  (instance.exports.__wbindgen_start as () => void)();
  return engineBindings;
}

// Applying migrations arms a 10 s timer (the timeout on `pg_advisory_lock`) that is never
// cancelled, which kept a finished process alive for 10 s. Unref'd, it cannot hold the process
// open; cleared once no session is running, it cannot fire into an engine that has been freed.
function setEngineTimer(callback: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(() => {
    engineTimers.delete(timer);
    callback();
  }, ms >>> 0);
  timer.unref();
  engineTimers.add(timer);
  return timer;
}

function clearEngineTimers(): void {
  for (const timer of engineTimers) clearTimeout(timer);
  engineTimers.clear();
}
