// `npm start` as a user runs it: real `node src/server.ts` processes on a
// temporary PGlite data folder (and on PostgreSQL), talked to over HTTP.
import { access, readdir, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { acquireDataLock } from '../src/db/data-lock.ts';
import { createPostgresAdapterFactory, openDatabase } from '../src/db/database.ts';
import {
  api,
  POSTGRES_URL,
  ROOT,
  SERVER,
  killAll,
  start,
  startServer,
  tempDir,
  type Credentials,
  type Server,
} from './utils/process.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const exists = (file: string) => access(file).then(() => true, () => false);

describe('npm start on an embedded PGlite data folder', () => {
  // The tests below follow one folder through a first start, a restart and a reopen.
  let dataDir: string;
  let first: Server;
  let credentials: Credentials;
  let assistantId: string;

  test('the first start on an empty folder keeps the first organization\'s client id and secret in a file its log names, and they work on the API', async () => {
    const temp = await tempDir();
    cleanups.push(temp.remove);
    dataDir = temp.dir;
    first = await startServer({ DATA_DIR: dataDir });

    expect(first.credentials).toBeDefined();
    credentials = first.credentials!;
    expect(credentials.organizationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(credentials.clientId).toMatch(/^cid_/);
    expect(credentials.clientSecret).toMatch(/^cs_.{40,}$/);
    expect(first.stdout()).toContain(path.resolve(dataDir));
    // The secret is in the file (this user's only), never in the log.
    const file = path.join(dataDir, 'first-organization.json');
    expect(first.stdout()).toContain(JSON.stringify(file));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(first.stdout() + first.stderr()).not.toContain(credentials.clientSecret);

    const list = await api(first, credentials, 'GET', '/api/v1/assistants/');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ status: 'success', status_code: 200, data: { items: [], total: 0 } });
    expect(typeof list.body.detail).toBe('string');

    const wrong = await api(first, { clientId: credentials.clientId, clientSecret: `${credentials.clientSecret}x` }, 'GET', '/api/v1/assistants/');
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ status: 'error', status_code: 401 });

    const created = await api(first, credentials, 'POST', '/api/v1/assistants/', { name: 'Survives restarts' });
    expect(created.status).toBe(201);
    assistantId = created.body.data.id;
  });

  test('a second server on the same data folder refuses to start, naming the first one\'s pid', async () => {
    const second = start([SERVER], { env: { DATA_DIR: dataDir, PORT: '0' } });
    const exit = await second.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(second.stderr()).toContain(`process ${first.pid}`);
    expect(second.stdout()).not.toMatch(/listening/);
    // The first one is untouched.
    expect((await api(first, credentials, 'GET', `/api/v1/assistants/${assistantId}`)).status).toBe(200);
  });

  test('SIGTERM stops the server promptly with exit code 0 and frees the data folder', async () => {
    expect(await exists(path.join(dataDir, 'control.sock'))).toBe(true);
    const began = Date.now();
    const exit = await first.stop('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(await exists(path.join(dataDir, 'control.sock'))).toBe(false);
    expect(await exists(path.join(dataDir, 'gateway.lock'))).toBe(false);
  });

  test('a restart on the same folder prints no credentials, keeps the assistant, and the first credentials still work', async () => {
    const again = await startServer({ DATA_DIR: dataDir });
    try {
      expect(again.credentials).toBeUndefined();
      expect(again.stdout()).not.toMatch(/client secret|First start/);
      const list = await api(again, credentials, 'GET', '/api/v1/assistants/');
      expect(list.status).toBe(200);
      expect(list.body.data.total).toBe(1);
      expect(list.body.data.items[0]).toMatchObject({ id: assistantId, name: 'Survives restarts' });
    } finally {
      expect(await again.stop()).toEqual({ code: 0, signal: null });
    }
  });

  test('a PORT that another program already listens on stops start-up with a message naming PORT and frees the folder', async () => {
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (other.address() as AddressInfo).port;
      const server = start([SERVER], { env: { DATA_DIR: dataDir, PORT: String(port) } });
      const exit = await server.exited;
      expect(exit.code).toBe(1);
      expect(server.stderr()).toMatch(new RegExp(`port ${port}.*PORT`));
      expect(server.stderr()).not.toMatch(/^\s+at /m);
      expect(await exists(path.join(dataDir, 'gateway.lock'))).toBe(false);
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  test('a first start whose port is taken keeps the new secret, and the next start names its file', async () => {
    const temp = await tempDir();
    cleanups.push(temp.remove);
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', () => resolve()));
    const port = (other.address() as AddressInfo).port;
    const failed = start([SERVER], { env: { DATA_DIR: temp.dir, PORT: String(port) } });
    expect((await failed.exited).code).toBe(1);
    await new Promise((resolve) => other.close(resolve));
    const next = await startServer({ DATA_DIR: temp.dir });
    try {
      expect(next.credentials).toBeDefined();
      expect((await api(next, next.credentials!, 'GET', '/api/v1/assistants/')).status).toBe(200);
    } finally {
      await next.stop();
    }
    // Named once: a third start says nothing more of it.
    const third = await startServer({ DATA_DIR: temp.dir });
    try {
      expect(third.credentials).toBeUndefined();
    } finally {
      await third.stop();
    }
  }, 90_000);

  test('every line the server writes is JSON; an access line per request carries its id, route and status, and no secret', async () => {
    const temp = await tempDir();
    cleanups.push(temp.remove);
    const server = await startServer({ DATA_DIR: temp.dir });
    const credentials = server.credentials!;
    await api(server, credentials, 'GET', '/api/v1/assistants/');
    await api(server, { ...credentials, clientSecret: 'cs_wrong-guess' }, 'GET', '/api/v1/assistants/');
    const minted = await api(server, null, 'POST', '/api/v1/auth/widget-token', { client_id: credentials.clientId });
    await fetch(`${server.url}/api/v1/sessions/${crypto.randomUUID()}`, {
      headers: { Authorization: `Bearer ${minted.body.token}`, 'X-Request-Id': 'trace-me-42' },
    });
    expect(await server.stop()).toEqual({ code: 0, signal: null });

    const lines = server.stdout().split('\n').filter(Boolean);
    const entries = lines.map((line) => JSON.parse(line));
    const access = entries.filter((entry) => entry.msg === 'request');
    expect(access.map((entry) => [entry.method, entry.route, entry.status])).toEqual([
      ['GET', '/api/v1/assistants', 200],
      ['GET', '/api/v1/assistants', 401],
      ['POST', '/api/v1/auth/widget-token', 200],
      ['GET', '/api/v1/sessions/:id', 404],
    ]);
    expect(access[0].organization_id).toBe(credentials.organizationId);
    expect(access.at(-1)).toMatchObject({ request_id: 'trace-me-42', organization_id: credentials.organizationId });
    for (const entry of access) expect(entry.ms).toEqual(expect.any(Number));
    const everything = server.stdout() + server.stderr();
    for (const secret of [credentials.clientSecret, 'cs_wrong-guess', minted.body.token]) expect(everything).not.toContain(secret);
  }, 60_000);

  test('after the restart each migration is recorded once and there is still one organization', async () => {
    const lock = await acquireDataLock(dataDir);
    try {
      const db = await openDatabase({ dataDir });
      try {
        const rows = await db.prisma.$queryRawUnsafe<Array<{ migration_name: string; finished_at: Date | null; rolled_back_at: Date | null }>>(
          'SELECT migration_name, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY migration_name',
        );
        const folders = (await readdir(path.join(ROOT, 'prisma/migrations'), { withFileTypes: true }))
          .filter((entry) => entry.isDirectory())
          .map((entry) => entry.name)
          .sort();
        expect(rows.map((row) => row.migration_name)).toEqual(folders);
        for (const row of rows) {
          expect(row.finished_at).not.toBeNull();
          expect(row.rolled_back_at).toBeNull();
        }
        expect(await db.prisma.organization.count()).toBe(1);
      } finally {
        await db.close();
      }
    } finally {
      await lock.release();
    }
  });

  test.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://localhost/db'],
  ])('a wrong %s (%s) stops start-up with a message naming it', async (name, value) => {
    const temp = await tempDir();
    cleanups.push(temp.remove);
    const server = start([SERVER], { env: { DATA_DIR: temp.dir, PORT: '0', [name]: value } });
    const exit = await server.exited;
    expect(exit.code).toBe(1);
    expect(server.stderr()).toContain(name);
    expect(server.stderr()).toContain(value);
    // A message, not a stack trace.
    expect(server.stderr()).not.toMatch(/^\s+at /m);
    expect(server.stdout()).not.toMatch(/listening/);
  });
});

describe.skipIf(!POSTGRES_URL)('npm start on PostgreSQL (DATABASE_URL)', () => {
  const schema = `gateway_startup_${process.pid}_${Date.now().toString(36)}`;
  const databaseUrl = (() => {
    const url = new URL(POSTGRES_URL);
    url.searchParams.set('schema', schema);
    return url.toString();
  })();

  afterEach(killAll);
  afterAll(async () => {
    const connection = await createPostgresAdapterFactory(POSTGRES_URL).connect();
    try {
      await connection.executeScript(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await connection.dispose();
    }
  });

  test('the first start prints credentials that work, and a second instance on the same database starts without printing any', async () => {
    const temp = await tempDir();
    cleanups.push(temp.remove);
    const env = { DATABASE_URL: databaseUrl, DATA_DIR: temp.dir };

    const first = await startServer(env);
    expect(first.stdout()).toContain('"database":"PostgreSQL"');
    expect(first.credentials).toBeDefined();
    const credentials = first.credentials!;
    const list = await api(first, credentials, 'GET', '/api/v1/assistants/');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ status: 'success', status_code: 200, data: { total: 0 } });
    const created = await api(first, credentials, 'POST', '/api/v1/assistants/', { name: 'On PostgreSQL' });
    expect(created.status).toBe(201);

    // With PostgreSQL every instance simply connects; the second one finds the migrations applied.
    const second = await startServer(env);
    expect(second.credentials).toBeUndefined();
    const seen = await api(second, credentials, 'GET', `/api/v1/assistants/${created.body.data.id}`);
    expect(seen.status).toBe(200);
    expect(seen.body.data.name).toBe('On PostgreSQL');

    expect(await second.stop()).toEqual({ code: 0, signal: null });
    expect(await first.stop()).toEqual({ code: 0, signal: null });
    // Nothing of the embedded database was made in DATA_DIR: only the first organization's credentials are kept there.
    expect(await readdir(temp.dir)).toEqual(['first-organization.json']);
  });
});
