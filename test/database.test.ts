import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { afterEach, describe, expect, test } from 'vitest';
import { Prisma } from '../generated/prisma/client.ts';
import { acquireDataLock, DataLockedError, isDataLocked } from '../src/db/data-lock.ts';
import { createPostgresAdapterFactory, openDatabase, type Database } from '../src/db/database.ts';
import { applyMigrations, MigrationError } from '../src/db/migrate.ts';
import { createPGliteAdapterFactory } from '../src/db/pglite-adapter.ts';

// Starting a PGlite (initdb in WebAssembly) takes 2–3 s.
const SLOW = 60_000;
const repoMigrations = path.resolve(import.meta.dirname, '../prisma/migrations');
const modelTables = Object.values(Prisma.ModelName);
// Empty to skip the PostgreSQL tests on a machine without a server.
const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'gateway-db-test-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function open(options: Parameters<typeof openDatabase>[0]): Promise<Database> {
  const db = await openDatabase(options);
  cleanups.push(() => db.close());
  return db;
}

async function migrationNames(): Promise<string[]> {
  const entries = await readdir(repoMigrations, { withFileTypes: true });
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
}

// The project's migrations followed by one whose second statement is a typo.
async function migrationsWithBrokenOne(): Promise<string> {
  const migrationsDir = path.join(await tempDir(), 'migrations');
  await cp(repoMigrations, migrationsDir, { recursive: true });
  await mkdir(path.join(migrationsDir, '29991231000000_broken'));
  await writeFile(
    path.join(migrationsDir, '29991231000000_broken', 'migration.sql'),
    'CREATE TABLE "HalfDone" (id INTEGER);\nCREATE TABLEX "Typo" (id INTEGER);\n',
  );
  return migrationsDir;
}

async function createOrganization(db: Database, name: string) {
  return db.prisma.organization.create({
    data: { name, clientId: `client-${name}`, rateLimitPerHour: 1000 },
  });
}

describe('embedded PGlite', () => {
  test('a fresh in-memory database has a table for every model', { timeout: SLOW }, async () => {
    const db = await open({});
    const tables = await db.prisma.$queryRaw<Array<{ table_name: string }>>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`;

    expect(db.kind).toBe('pglite');
    expect(tables.map((row) => row.table_name)).toEqual(
      expect.arrayContaining([...modelTables, '_prisma_migrations']),
    );
    expect(await db.prisma.organization.count()).toBe(0);
  });

  test('a long statement leaves the event loop free: the database runs in its own thread', { timeout: SLOW }, async () => {
    const db = await open({});
    let longestGap = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    try {
      // Long enough on a fast machine too, so that a stalled event loop would show.
      await db.prisma.$queryRaw`SELECT count(*) FROM generate_series(1, 3000000) AS n WHERE n % 7 = 3`;
    } finally {
      clearInterval(ticker);
    }
    const statementMs = performance.now() - started;
    // In the event loop's thread, the timer would wait for the whole statement.
    expect(statementMs).toBeGreaterThan(200);
    expect(longestGap).toBeLessThan(statementMs / 2);
  });

  test('errors keep their SQLSTATE through the worker, and a failed transaction leaves nothing behind', { timeout: SLOW }, async () => {
    const db = await open({});
    await createOrganization(db, 'first');
    // 23505 reaches Prisma as its unique-constraint error, as with PGlite in process.
    await expect(createOrganization(db, 'first')).rejects.toMatchObject({ code: 'P2002' });
    await expect(db.pglite!.query('SELECT * FROM "NoSuchTable"')).rejects.toMatchObject({ code: '42P01' });

    await expect(
      db.prisma.$transaction(async (tx) => {
        await tx.organization.create({ data: { name: 'half', clientId: 'client-half', rateLimitPerHour: 1 } });
        await tx.organization.create({ data: { name: 'first', clientId: 'client-first', rateLimitPerHour: 1 } });
      }),
    ).rejects.toMatchObject({ code: 'P2002' });
    await db.prisma.$transaction(async (tx) => {
      await tx.organization.create({ data: { name: 'whole', clientId: 'client-whole', rateLimitPerHour: 1 } });
    });
    const names = (await db.prisma.organization.findMany({ select: { name: true }, orderBy: { name: 'asc' } })).map((row) => row.name);
    expect(names).toEqual(['first', 'whole']);
  });

  test('statements sent together through the worker are each answered, one that cannot be sent fails alone, and a transaction sees its own writes', { timeout: SLOW }, async () => {
    const db = await open({});
    const pg = db.pglite!;
    // Sent in one tick, so in one message to the worker; a function cannot be copied to another thread.
    const [first, uncopyable, last] = await Promise.allSettled([
      pg.query<{ n: number }>('SELECT 1 AS n'),
      pg.query('SELECT $1::text AS t', [() => 'not data']),
      pg.query<{ n: number }>('SELECT 3 AS n'),
    ]);
    expect(first).toMatchObject({ status: 'fulfilled', value: { rows: [{ n: 1 }] } });
    expect(uncopyable).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ name: 'DataCloneError' }) });
    expect(last).toMatchObject({ status: 'fulfilled', value: { rows: [{ n: 3 }] } });

    // The first statements of a transaction go before its BEGIN has answered: they still run inside it.
    await pg.query('CREATE TABLE "Tally" (n integer)');
    await expect(
      pg.transaction(async (tx) => {
        await tx.query('INSERT INTO "Tally" VALUES (1)');
        expect((await tx.query<{ count: number }>('SELECT count(*)::int AS count FROM "Tally"')).rows).toEqual([{ count: 1 }]);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect((await pg.query<{ count: number }>('SELECT count(*)::int AS count FROM "Tally"')).rows).toEqual([{ count: 0 }]);
  });

  test('a data folder reopened keeps its rows and applies no migration twice', { timeout: SLOW }, async () => {
    const dataDir = await tempDir();
    const first = await openDatabase({ dataDir });
    const created = await createOrganization(first, 'kept');
    const appliedBefore = await first.prisma.$queryRaw<Array<{ migration_name: string; finished_at: Date }>>`
      SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name`;
    await first.close();

    const again = await open({ dataDir });
    const appliedAfter = await again.prisma.$queryRaw`
      SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name`;

    expect(appliedBefore.map((row) => row.migration_name)).toEqual(await migrationNames());
    expect(appliedAfter).toEqual(appliedBefore);
    expect(await applyMigrations(createPGliteAdapterFactory(again.pglite!), { migrationsDir: repoMigrations }))
      .toEqual({ applied: [] });
    expect(await again.prisma.organization.findUnique({ where: { id: created.id } })).toMatchObject({
      name: 'kept',
    });
  });
});

describe.skipIf(!postgresUrl)('PostgreSQL', () => {
  // A schema of its own per test, so runs never collide; dropped afterwards.
  async function throwawaySchemaUrl(): Promise<string> {
    const schema = `gateway_test_${process.pid}_${Date.now()}`;
    cleanups.push(() => runOnPostgres(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
    const url = new URL(postgresUrl);
    url.searchParams.set('schema', schema);
    return url.toString();
  }

  async function runOnPostgres(sql: string, url = postgresUrl) {
    const connection = await createPostgresAdapterFactory(url).connect();
    try {
      await connection.executeScript(sql);
    } finally {
      await connection.dispose();
    }
  }

  test('a database URL with ?schema= is migrated into that schema, once', { timeout: SLOW }, async () => {
    const url = await throwawaySchemaUrl();
    const schema = new URL(url).searchParams.get('schema');

    const first = await open({ databaseUrl: url });
    await createOrganization(first, 'on-postgres');
    const tables = await first.prisma.$queryRaw<Array<{ table_name: string }>>`
      SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema}`;
    const again = await open({ databaseUrl: url });
    const applied = await again.prisma.$queryRaw<Array<{ migration_name: string }>>`
      SELECT migration_name FROM _prisma_migrations ORDER BY migration_name`;

    expect(first.kind).toBe('postgres');
    expect(tables.map((row) => row.table_name)).toEqual(
      expect.arrayContaining([...modelTables, '_prisma_migrations']),
    );
    expect(applied.map((row) => row.migration_name)).toEqual(await migrationNames());
    expect(await again.prisma.organization.count()).toBe(1);
  });

  test('a server in another time zone agrees with the gateway on what time it is', { timeout: SLOW }, async () => {
    // Timestamps are stored without a zone and written by Prisma in UTC; SQL's now() (job locks)
    // must agree, or a job just claimed looks hours old to the other instances.
    const role = `gateway_tz_${process.pid}_${Date.now()}`;
    await runOnPostgres(`CREATE ROLE "${role}" LOGIN SUPERUSER; ALTER ROLE "${role}" SET timezone = 'America/New_York'`);
    cleanups.push(() => runOnPostgres(`DROP ROLE IF EXISTS "${role}"`));
    const url = new URL(await throwawaySchemaUrl());
    url.username = role;
    const db = await open({ databaseUrl: url.toString() });
    const [{ clock }] = await db.prisma.$queryRaw<{ clock: Date }[]>`SELECT now()::timestamp(3) AS clock`;
    expect(Math.abs(clock.getTime() - Date.now())).toBeLessThan(60_000);
  });

  test('a broken migration on PostgreSQL leaves nothing half applied', { timeout: SLOW }, async () => {
    const url = await throwawaySchemaUrl();
    await runOnPostgres(`CREATE SCHEMA "${new URL(url).searchParams.get('schema')}"`);
    const migrationsDir = await migrationsWithBrokenOne();
    const adapter = createPostgresAdapterFactory(url);

    await expect(applyMigrations(adapter, { migrationsDir })).rejects.toThrow(
      /syntax error at or near "TABLEX"/,
    );

    const db = await open({ databaseUrl: url }).catch((error: Error) => error);
    expect(db).toBeInstanceOf(MigrationError);
    const connection = await adapter.connect();
    cleanups.push(() => connection.dispose());
    const halfDone = await connection.queryRaw({
      sql: `SELECT to_regclass('"HalfDone"')::text AS t`,
      args: [],
      argTypes: [],
    });
    expect(halfDone.rows).toEqual([[null]]);
  });
});

describe('migrations', () => {
  test('a broken migration stops with its SQL error and is never recorded as applied', { timeout: SLOW }, async () => {
    const migrationsDir = await migrationsWithBrokenOne();
    const pg = await PGlite.create();
    cleanups.push(() => pg.close());
    const adapter = createPGliteAdapterFactory(pg);

    const failure = applyMigrations(adapter, { migrationsDir });
    await expect(failure).rejects.toThrow(MigrationError);
    await expect(failure).rejects.toThrow(/syntax error at or near "TABLEX"/);

    const broken = await pg.query<{ finished_at: Date | null }>(
      `SELECT finished_at FROM _prisma_migrations WHERE migration_name = '29991231000000_broken'`,
    );
    expect(broken.rows).toEqual([{ finished_at: null }]);
    expect((await pg.query(`SELECT to_regclass('"HalfDone"') AS t`)).rows).toEqual([{ t: null }]);
    await expect(applyMigrations(adapter, { migrationsDir })).rejects.toThrow(/failed migrations/);
  });

  test('an error thrown by the driver is reported by its own message', async () => {
    const unreachable: SqlMigrationAwareDriverAdapterFactory = {
      provider: 'postgres',
      adapterName: 'unreachable',
      connect: () => Promise.reject(new Error('the database is on the moon')),
      connectToShadowDb: () => Promise.reject(new Error('so is the shadow')),
    };

    const failure = applyMigrations(unreachable, { migrationsDir: repoMigrations });

    await expect(failure).rejects.toThrow('the database is on the moon');
    await expect(failure).rejects.not.toThrow(/External error/);
  });
});

describe('data folder lock', () => {
  // Another process holding the lock, as a second gateway or the CLI would.
  async function holdInAnotherProcess(dataDir: string): Promise<ChildProcess> {
    const lockModule = pathToFileURL(path.resolve(import.meta.dirname, '../src/db/data-lock.ts'));
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { acquireDataLock } from ${JSON.stringify(lockModule.href)};
         await acquireDataLock(process.argv[1]);
         console.log('locked');
         setInterval(() => {}, 60_000);`,
        dataDir,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    // Registered after the folder's own cleanup, so it runs first: the holder must not outlive it.
    cleanups.push(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await once(child, 'exit');
    });
    const [line] = (await once(child.stdout!, 'data')) as [Buffer];
    expect(line.toString().trim()).toBe('locked');
    return child;
  }

  test('a second process is refused, with the holder pid and the folder named', { timeout: SLOW }, async () => {
    const dataDir = await tempDir();
    const holder = await holdInAnotherProcess(dataDir);

    const refusal = acquireDataLock(dataDir);

    await expect(refusal).rejects.toThrow(DataLockedError);
    await expect(refusal).rejects.toMatchObject({ holderPid: holder.pid });
    await expect(refusal).rejects.toThrow(
      `Data folder ${dataDir} is in use by process ${holder.pid} (another gateway or CLI)`,
    );
    expect(await isDataLocked(dataDir)).toBe(true);
  });

  test('the lock of a process that died is taken over at once', { timeout: SLOW }, async () => {
    const dataDir = await tempDir();
    const holder = await holdInAnotherProcess(dataDir);
    holder.kill('SIGKILL');
    await once(holder, 'exit');

    expect(await isDataLocked(dataDir)).toBe(false);
    const lock = await acquireDataLock(dataDir);
    expect(await isDataLocked(dataDir)).toBe(true);
    await lock.release();
    expect(await isDataLocked(dataDir)).toBe(false);
  });

  test('a folder held by this process cannot be taken a second time until released', async () => {
    const dataDir = await tempDir();
    const lock = await acquireDataLock(dataDir);
    cleanups.push(() => lock.release());

    await expect(acquireDataLock(dataDir)).rejects.toMatchObject({ holderPid: process.pid });
    await lock.release();
    const again = await acquireDataLock(dataDir);
    await again.release();
  });
});
