// The CLI (`npm run --silent cli -- <command>`) as a user runs it: real
// processes on a temporary PGlite data folder, first alone, then beside a
// running gateway (through its control socket), and on PostgreSQL.
import { createHash } from 'node:crypto';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, describe, expect, test } from 'vitest';
import { acquireDataLock } from '../src/db/data-lock.ts';
import { createPostgresAdapterFactory, openDatabase } from '../src/db/database.ts';
import { api, cli, killAll, POSTGRES_URL, run, startServer, tempDir, type Credentials, type Run, type Server } from './utils/process.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const exists = (file: string) => access(file).then(() => true, () => false);

/** The whole of stdout as JSON (fails, showing the output, if anything else is there). */
function json(result: Run): any {
  expect(result, result.stderr).toMatchObject({ code: 0 });
  try {
    return JSON.parse(result.stdout);
  } catch {
    throw new Error(`stdout is not one JSON value:\n${result.stdout}\n(stderr: ${result.stderr})`);
  }
}

function expectCreated(created: any, name: string) {
  expect(Object.keys(created).sort(), name).toEqual(['client_id', 'client_secret', 'organization_id']);
  expect(created.organization_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(created.client_id).toMatch(/^cid_[0-9a-f]{32}$/);
  expect(created.client_secret).toMatch(/^cs_[\w-]{43}$/);
}

const credentialsOf = (created: any): Credentials => ({
  organizationId: created.organization_id,
  clientId: created.client_id,
  clientSecret: created.client_secret,
});

const USAGE = /Usage: npm run --silent cli -- <command>/;

describe('the CLI on an embedded PGlite data folder', () => {
  // One folder for the whole sequence: the CLI alone, then beside one server.
  let env: { DATA_DIR: string };
  let server: Server | undefined;
  let acme: Credentials;
  let acmeSecond: Credentials;
  /** Every secret the CLI has shown, to look for in the database afterwards. */
  const secrets: string[] = [];

  const secretIdOf = async (org: Credentials, secret: string): Promise<string> => {
    const keys = json(await cli(['key', 'list', '--org', org.organizationId, '--json'], env)) as Array<{ secret_id: string; hint: string }>;
    const matching = keys.filter((key) => secret.startsWith(key.hint.replace(/…$/, '')));
    expect(matching).toHaveLength(1);
    return matching[0].secret_id;
  };

  test('without a server, org create --json prints the new organization\'s id, client id and secret as one JSON object and nothing else', async () => {
    const temp = await tempDir('gateway-cli-test-');
    cleanups.push(temp.remove);
    env = { DATA_DIR: temp.dir };

    const created = json(await cli(['org', 'create', '--name', 'Acme', '--json'], env));
    expectCreated(created, 'org create');
    acme = credentialsOf(created);
    secrets.push(acme.clientSecret);
    // The CLI let go of the folder when it finished.
    expect(await exists(path.join(temp.dir, 'gateway.lock'))).toBe(false);
  });

  test('without a server, org list --json lists the organization without its secret', async () => {
    const result = await cli(['org', 'list', '--json'], env);
    const list = json(result);
    expect(list).toEqual([
      expect.objectContaining({ organization_id: acme.organizationId, name: 'Acme', client_id: acme.clientId, is_active: true }),
    ]);
    expect(result.stdout).not.toContain(acme.clientSecret);
  });

  test('key create gives the organization a second secret, and both secrets work against a running server', async () => {
    const created = json(await cli(['key', 'create', '--org', acme.organizationId, '--json'], env));
    expect(created).toMatchObject({ organization_id: acme.organizationId, client_id: acme.clientId });
    expect(created.client_secret).toMatch(/^cs_[\w-]{43}$/);
    expect(created.client_secret).not.toBe(acme.clientSecret);
    acmeSecond = { ...acme, clientSecret: created.client_secret };
    secrets.push(acmeSecond.clientSecret);

    server = await startServer(env);
    // The folder already has an organization: no first one is made.
    expect(server.credentials).toBeUndefined();
    for (const credentials of [acme, acmeSecond]) {
      const reply = await api(server, credentials, 'GET', '/api/v1/assistants/');
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({ status: 'success', status_code: 200 });
    }
  });

  test('with the server running, the CLI works through its control socket and the server keeps working', async () => {
    const socket = path.join(env.DATA_DIR, 'control.sock');
    expect((await stat(socket)).mode & 0o777).toBe(0o600);

    // The server holds the folder: a CLI that opened it itself would be refused.
    const created = json(await cli(['org', 'create', '--name', 'Globex', '--json'], env));
    expectCreated(created, 'org create through the server');
    secrets.push(created.client_secret);
    const list = json(await cli(['org', 'list', '--json'], env)) as Array<{ name: string }>;
    expect(list.map((org) => org.name)).toEqual(['Acme', 'Globex']);

    // The server still holds the folder and answers, the new organization included.
    expect(JSON.parse(await readFile(path.join(env.DATA_DIR, 'gateway.pid'), 'utf8')).pid).toBe(server!.pid);
    expect((await api(server!, credentialsOf(created), 'GET', '/api/v1/assistants/')).status).toBe(200);
    expect((await api(server!, acme, 'GET', '/api/v1/assistants/')).status).toBe(200);
  });

  test('key revoke through the running server takes effect at once: the old secret answers 401 and the new one still works', async () => {
    // Used just before, so the server has it in its credential cache.
    expect((await api(server!, acme, 'GET', '/api/v1/assistants/')).status).toBe(200);
    const secretId = await secretIdOf(acme, acme.clientSecret);
    const revoked = json(await cli(['key', 'revoke', '--org', acme.organizationId, '--key', secretId, '--json'], env));
    expect(revoked).toMatchObject({ secret_id: secretId });
    expect(revoked.revoked_at).toEqual(expect.any(String));

    const old = await api(server!, acme, 'GET', '/api/v1/assistants/');
    expect(old.status).toBe(401);
    expect(old.body).toMatchObject({ status: 'error', status_code: 401 });
    expect((await api(server!, acmeSecond, 'GET', '/api/v1/assistants/')).status).toBe(200);
  });

  test('revoking an organization\'s last live secret is refused and the secret keeps working', async () => {
    const secretId = await secretIdOf(acme, acmeSecond.clientSecret);
    const result = await cli(['key', 'revoke', '--org', acme.organizationId, '--key', secretId, '--json'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/last live secret/);
    expect((await api(server!, acmeSecond, 'GET', '/api/v1/assistants/')).status).toBe(200);
    const keys = json(await cli(['key', 'list', '--org', acme.organizationId, '--json'], env)) as Array<{ secret_id: string; revoked_at: string | null }>;
    expect(keys.find((key) => key.secret_id === secretId)?.revoked_at).toBeNull();
  });

  test('org rate-limit lowers an organization\'s hourly limit at once: with 2 per hour its third request answers 429', async () => {
    const rated = credentialsOf(json(await cli(['org', 'create', '--name', 'Rated', '--json'], env)));
    secrets.push(rated.clientSecret);
    // A first request under the default limit, which the server then caches with the credentials.
    const before = await fetch(`${server!.url}/api/v1/assistants/`, { headers: { 'X-API-Key': rated.clientId, 'X-API-Secret': rated.clientSecret } });
    expect(before.status).toBe(200);
    expect(before.headers.get('X-RateLimit-Limit')).toBe('1000');

    const set = json(await cli(['org', 'rate-limit', '--org', rated.organizationId, '--per-hour', '2', '--json'], env));
    expect(set).toEqual({ organization_id: rated.organizationId, rate_limit_per_hour: 2 });

    const second = await fetch(`${server!.url}/api/v1/assistants/`, { headers: { 'X-API-Key': rated.clientId, 'X-API-Secret': rated.clientSecret } });
    expect(second.status).toBe(200);
    expect(second.headers.get('X-RateLimit-Limit')).toBe('2');
    const third = await api(server!, rated, 'GET', '/api/v1/assistants/');
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ status: 'error', status_code: 429 });
    // Other organizations keep their own budget.
    expect((await api(server!, acmeSecond, 'GET', '/api/v1/assistants/')).status).toBe(200);
  });

  test('signing-key rotate keeps issued widget tokens valid for the grace period, and --revoke-old refuses them at once', async () => {
    const mint = async (previous?: string) => {
      const reply = await api(server!, null, 'POST', '/api/v1/auth/widget-token', { client_id: acme.clientId, ...(previous ? { previous_token: previous } : {}) });
      expect(reply.status).toBe(200);
      return reply.body.token as string;
    };
    const asVisitor = (token: string) =>
      fetch(`${server!.url}/api/v1/assistants/`, { headers: { Authorization: `Bearer ${token}` } }).then((response) => response.status);
    const subject = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub;

    const before = await mint();
    const rotated = json(await cli(['signing-key', 'rotate', '--json'], env));
    expect(rotated).toMatchObject({ key_id: expect.any(String), old_keys_valid_for_seconds: 3600 });
    expect(await asVisitor(before)).toBe(200);
    const renewed = await mint(before);
    expect(subject(renewed)).toBe(subject(before));

    const revoked = json(await cli(['signing-key', 'rotate', '--revoke-old', '--json'], env));
    expect(revoked).toMatchObject({ old_keys_valid_for_seconds: 0, revoked_keys: 2 });
    // Through the running server's control socket: refused at once, both the old token and the one signed by the rotated key.
    expect(await asVisitor(before)).toBe(401);
    expect(await asVisitor(renewed)).toBe(401);
    // Renewing with a revoked token gives a new visitor, not the old one's sessions.
    const fresh = await mint(renewed);
    expect(subject(fresh)).not.toBe(subject(renewed));
    expect(await asVisitor(fresh)).toBe(200);
  });

  test('org origins --set, --list and --clear decide which pages may ask for widget tokens, at once through the running server', async () => {
    const mint = (origin: string) =>
      fetch(`${server!.url}/api/v1/auth/widget-token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: origin },
        body: JSON.stringify({ client_id: acme.clientId }),
      });
    const set = json(await cli(['org', 'origins', '--org', acme.organizationId, '--set', 'https://shop.example, https://www.shop.example', '--json'], env));
    expect(set).toEqual({ organization_id: acme.organizationId, allowed_origins: ['https://shop.example', 'https://www.shop.example'] });
    expect(json(await cli(['org', 'origins', '--org', acme.organizationId, '--list', '--json'], env)).allowed_origins).toHaveLength(2);
    const refused = await mint('https://elsewhere.example');
    expect(refused.status).toBe(403);
    expect((await refused.json()).detail).toContain('https://elsewhere.example');
    expect((await mint('https://www.shop.example')).status).toBe(200);
    expect(json(await cli(['org', 'origins', '--org', acme.organizationId, '--clear', '--json'], env)).allowed_origins).toEqual([]);
    expect((await mint('https://elsewhere.example')).status).toBe(200);
    const wrong = await cli(['org', 'origins', '--org', acme.organizationId, '--set', 'shop.example'], env);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/origins such as https:\/\/shop\.example\.com/);
  });

  test('org identity-secret prints a new secret once; user tokens it signs are accepted until --revoke, listed with hints only', async () => {
    const mint = async (secret: string) => {
      const userToken = await new SignJWT({ sub: 'customer-42' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(secret));
      return fetch(`${server!.url}/api/v1/auth/widget-token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: acme.clientId, user_token: userToken }),
      });
    };
    const first = json(await cli(['org', 'identity-secret', '--org', acme.organizationId, '--json'], env));
    expect(Object.keys(first)).toEqual(['identity_secret']);
    expect(first.identity_secret).toMatch(/^is_[\w-]{43}$/);
    const second = json(await cli(['org', 'identity-secret', '--org', acme.organizationId, '--json'], env));
    expect((await mint(first.identity_secret)).status).toBe(200);
    expect((await mint(second.identity_secret)).status).toBe(200);
    const listed = json(await cli(['org', 'identity-secret', '--org', acme.organizationId, '--list', '--json'], env)) as Array<{ secret_id: string; hint: string; revoked_at: string | null }>;
    expect(listed).toHaveLength(2);
    expect(JSON.stringify(listed)).not.toContain(first.identity_secret);
    const firstId = listed.find((row) => first.identity_secret.startsWith(row.hint.replace(/…$/, '')))!.secret_id;
    const revoked = json(await cli(['org', 'identity-secret', '--org', acme.organizationId, '--revoke', firstId, '--json'], env));
    expect(revoked).toMatchObject({ secret_id: firstId, revoked_at: expect.any(String) });
    const refused = await mint(first.identity_secret);
    expect(refused.status).toBe(401);
    expect((await refused.json()).detail).toMatch(/forged, or signed with a revoked secret/);
    expect((await mint(second.identity_secret)).status).toBe(200);
  });

  test('npm run --silent cli -- org create --name X --json prints only the JSON object', async () => {
    const result = await run(['run', '--silent', 'cli', '--', 'org', 'create', '--name', 'Initech', '--json'], { command: 'npm', env });
    const created = json(result);
    expectCreated(created, 'npm run cli');
    secrets.push(created.client_secret);
    expect((await api(server!, credentialsOf(created), 'GET', '/api/v1/assistants/')).status).toBe(200);
  });

  test.each([
    ['an unknown command', ['org', 'explode']],
    ['an unknown option', ['org', 'list', '--colour']],
    ['a missing required option', ['key', 'create']],
    ['no command at all', []],
  ])('%s exits with code 2 and prints the usage on stderr, also with the server running', async (_, args) => {
    const result = await cli(args, env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(USAGE);
  });

  test('an unknown command without a server exits with code 2 without creating or opening a data folder', async () => {
    const temp = await tempDir('gateway-cli-test-');
    cleanups.push(temp.remove);
    const dataDir = path.join(temp.dir, 'never-made');
    const result = await cli(['orgs', 'list', '--json'], { DATA_DIR: dataDir });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/Unknown command "orgs list"/);
    expect(result.stderr).toMatch(USAGE);
    expect(await exists(dataDir)).toBe(false);
  });

  test('an organization not found in a data folder no gateway runs on says which folder was read and what to set', async () => {
    const temp = await tempDir('gateway-cli-test-');
    cleanups.push(temp.remove);
    const result = await cli(['key', 'list', '--org', '00000000-0000-4000-8000-000000000000'], { DATA_DIR: temp.dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Organization "00000000-0000-4000-8000-000000000000" was not found/);
    expect(result.stderr).toContain(`the embedded database in ${temp.dir}`);
    expect(result.stderr).toMatch(/run the command with the DATA_DIR or DATABASE_URL the gateway uses/);
  });

  test('the data folder stores only SHA-256 hashes of the secrets, never a secret itself', async () => {
    expect(await server!.stop()).toEqual({ code: 0, signal: null });
    expect(secrets.length).toBeGreaterThanOrEqual(5);

    const lock = await acquireDataLock(env.DATA_DIR);
    try {
      const db = await openDatabase({ dataDir: env.DATA_DIR });
      try {
        const stored = await db.prisma.clientSecret.findMany({ select: { hash: true, hint: true } });
        expect(stored).toHaveLength(secrets.length);
        for (const row of stored) expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
        expect(stored.map((row) => row.hash).sort()).toEqual(secrets.map(sha256).sort());
        // The hint is a short prefix, far from the secret.
        for (const row of stored) expect(row.hint.length).toBeLessThanOrEqual(12);

        // No column of any table holds a secret.
        const tables = await db.pglite!.query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        );
        expect(tables.rows.length).toBeGreaterThan(3);
        for (const { table_name } of tables.rows) {
          const rows = JSON.stringify((await db.pglite!.query(`SELECT * FROM "${table_name}"`)).rows);
          for (const secret of secrets) expect(rows, table_name).not.toContain(secret.slice(3));
        }
      } finally {
        await db.close();
      }
    } finally {
      await lock.release();
    }

    // Nor does any file in the folder (tables, write-ahead log, anything else).
    const files = (await readdir(env.DATA_DIR, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
    expect(files.length).toBeGreaterThan(10);
    const needles = secrets.map((secret) => Buffer.from(secret.slice(3)));
    for (const file of files) {
      const content = await readFile(path.join(file.parentPath, file.name));
      for (const needle of needles) expect(content.includes(needle), path.join(file.parentPath, file.name)).toBe(false);
    }
  });
});

describe.skipIf(!POSTGRES_URL)('the CLI on PostgreSQL (DATABASE_URL)', () => {
  const schema = `gateway_cli_${process.pid}_${Date.now().toString(36)}`;
  const databaseUrl = (() => {
    const url = new URL(POSTGRES_URL);
    url.searchParams.set('schema', schema);
    return url.toString();
  })();

  afterAll(async () => {
    await killAll();
    const connection = await createPostgresAdapterFactory(POSTGRES_URL).connect();
    try {
      await connection.executeScript(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await connection.dispose();
    }
  });

  test('the CLI connects directly while a server runs, and a secret it revokes stops working within the 10 s credential cache', async () => {
    const temp = await tempDir('gateway-cli-test-');
    cleanups.push(temp.remove);
    const env = { DATABASE_URL: databaseUrl, DATA_DIR: temp.dir };
    const server = await startServer(env);
    expect(server.credentials).toBeDefined();

    const created = json(await cli(['org', 'create', '--name', 'Acme', '--json'], env));
    expectCreated(created, 'org create on PostgreSQL');
    const first = credentialsOf(created);
    const second = { ...first, clientSecret: json(await cli(['key', 'create', '--org', first.organizationId, '--json'], env)).client_secret };
    for (const credentials of [first, second]) expect((await api(server, credentials, 'GET', '/api/v1/assistants/')).status).toBe(200);

    const keys = json(await cli(['key', 'list', '--org', first.organizationId, '--json'], env)) as Array<{ secret_id: string; hint: string }>;
    const oldId = keys.find((key) => first.clientSecret.startsWith(key.hint.replace(/…$/, '')))!.secret_id;
    expect(json(await cli(['key', 'revoke', '--org', first.organizationId, '--key', oldId, '--json'], env))).toMatchObject({ secret_id: oldId });
    const revokedAt = Date.now();

    // Revoked out of the server's process: its cache may trust the old secret for up to 10 s.
    let status = 200;
    while (status === 200 && Date.now() - revokedAt < 12_000) {
      status = (await api(server, first, 'GET', '/api/v1/assistants/')).status;
      if (status === 200) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(status).toBe(401);
    expect((await api(server, second, 'GET', '/api/v1/assistants/')).status).toBe(200);
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    // No embedded database, lock or socket: only the first start's credentials, for the person to collect.
    expect(await readdir(temp.dir)).toEqual(['first-organization.json']);
  }, 45_000);
});
