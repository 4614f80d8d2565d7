// Starts a gateway process's parts in order: data lock, database (migrated),
// first organization, HTTP server, the CLI's control socket. `npm start` and
// tests that need a real process-like server both use it.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { buildApp, type App } from './app.ts';
import { controlSocketPath, startControlSocket } from './cli/control-socket.ts';
import type { Config } from './config.ts';
import { acquireDataLock, type DataLock } from './db/data-lock.ts';
import { openDatabase, type Database } from './db/database.ts';
import type { Llm } from './llm/ollama.ts';
import type { Logger } from './log.ts';
import type { CreatedCredentials } from './services/organization.ts';

export type Gateway = {
  app: App;
  url: string;
  port: number;
  /** The first organization's credentials, until a start has told where they are (see FIRST_CREDENTIALS_FILE). */
  unshownCredentials?: { file: string; credentials: Pick<CreatedCredentials, 'organizationId' | 'clientId' | 'clientSecret'> };
  /** Records that the credentials' file was named to the person starting the gateway. */
  credentialsShown(): Promise<void>;
  stop(): Promise<void>;
};

export const FIRST_ORGANIZATION_NAME = 'Default organization';
/**
 * Where the first organization's client id and secret are kept (mode 0600, in
 * DATA_DIR), written as soon as the organization exists: a start that fails
 * later (its port taken) cannot lose the secret, which is stored nowhere else
 * but as a hash. The person deletes the file once the secret is safe.
 */
export const FIRST_CREDENTIALS_FILE = 'first-organization.json';

type CredentialsFile = { organization_id: string; client_id: string; client_secret: string; created_at: string; shown_at: string | null };

/** Replaces the file whole (a new file renamed over it): whoever reads it meanwhile sees the old one or the new one. */
async function writeCredentialsFile(file: string, record: CredentialsFile) {
  const partial = `${file}.${process.pid}.tmp`;
  await writeFile(partial, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(partial, file);
}

async function readCredentialsFile(file: string): Promise<CredentialsFile | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as CredentialsFile;
  } catch {
    return null;
  }
}


export async function startGateway(config: Config, options: { llm?: Llm; logger?: Logger } = {}): Promise<Gateway> {
  const cleanup: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => options.logger?.error({ err: error }, 'stopping failed'));
    cleanup.length = 0;
  };
  try {
    // PGlite allows one process per folder; with PostgreSQL every instance simply connects.
    let lock: DataLock | undefined;
    if (!config.databaseUrl) {
      lock = await acquireDataLock(config.dataDir);
      cleanup.push(() => lock!.release());
    }
    const db: Database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.databaseUrl ? undefined : config.dataDir });
    cleanup.push(() => db.close());

    // Auto-pipelining sends the commands of one turn of the event loop together: each token of a
    // reply is a PUBLISH (its watchers) and an RPUSH (its resumable log), one round trip instead of two.
    const redis = config.redisUrl ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2, enableAutoPipelining: true }) : undefined;
    if (redis) cleanup.push(async () => redis.quit());

    const app = buildApp({ config, db, llm: options.llm, redis, logger: options.logger });
    cleanup.push(() => app.close());
    await app.ready;
    await app.services.widgetTokens.ensureKey();
    const credentialsFile = path.join(config.dataDir, FIRST_CREDENTIALS_FILE);
    if ((await app.services.organizations.count()) === 0) {
      const created = await app.services.organizations.create({ name: FIRST_ORGANIZATION_NAME });
      const record: CredentialsFile = {
        organization_id: created.organizationId,
        client_id: created.clientId,
        client_secret: created.clientSecret,
        created_at: new Date().toISOString(),
        shown_at: null,
      };
      await mkdir(config.dataDir, { recursive: true });
      await writeCredentialsFile(credentialsFile, record);
    }
    const pending = await readCredentialsFile(credentialsFile);
    const unshownCredentials =
      pending && !pending.shown_at
        ? { file: credentialsFile, credentials: { organizationId: pending.organization_id, clientId: pending.client_id, clientSecret: pending.client_secret } }
        : undefined;
    const credentialsShown = async () => {
      if (!pending || pending.shown_at) return;
      await writeCredentialsFile(credentialsFile, { ...pending, shown_at: new Date().toISOString() });
    };

    const server: Server = createServer(app.nodeHandler);
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    const sockets = app.attachWebSockets(server);
    cleanup.push(() => sockets.close());
    // First of all when stopping: take no new connection, end the replies in progress (their
    // streams end with an error event, their partial replies are stored), let those events out.
    cleanup.push(async () => {
      server.close();
      server.closeIdleConnections();
      await app.stopServing();
      await new Promise((resolve) => setTimeout(resolve, 200));
    });

    if (lock) {
      const control = await startControlSocket(controlSocketPath(config.dataDir), app.services);
      cleanup.push(() => control.close());
    }

    const port = (server.address() as AddressInfo).port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    return { app, port, url: `http://${host}:${port}`, unshownCredentials, credentialsShown, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
