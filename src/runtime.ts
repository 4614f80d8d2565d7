// Starts a gateway process's parts in order: data lock, database (migrated),
// first organization, HTTP server, the CLI's control socket. `npm start` and
// tests that need a real process-like server both use it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { buildApp, type App } from './app.ts';
import { controlSocketPath, startControlSocket } from './cli/control-socket.ts';
import type { Config } from './config.ts';
import { acquireDataLock, type DataLock } from './db/data-lock.ts';
import { openDatabase, type Database } from './db/database.ts';
import type { Llm } from './llm/ollama.ts';
import type { CreatedCredentials } from './services/organization.ts';

export type Gateway = {
  app: App;
  url: string;
  port: number;
  /** Credentials of the organization created on this first start, if it was one. */
  firstCredentials?: CreatedCredentials;
  stop(): Promise<void>;
};

export const FIRST_ORGANIZATION_NAME = 'Default organization';


export async function startGateway(config: Config, options: { llm?: Llm } = {}): Promise<Gateway> {
  const cleanup: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const step of cleanup.reverse()) await step().catch((error) => console.error(error));
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

    const redis = config.redisUrl ? new Redis(config.redisUrl, { lazyConnect: false, maxRetriesPerRequest: 2 }) : undefined;
    if (redis) cleanup.push(async () => redis.quit());

    const app = buildApp({ config, db, llm: options.llm, redis });
    cleanup.push(() => app.close());
    await app.ready;
    await app.services.widgetTokens.ensureKey();
    let firstCredentials: CreatedCredentials | undefined;
    if ((await app.services.organizations.count()) === 0) {
      firstCredentials = await app.services.organizations.create({ name: FIRST_ORGANIZATION_NAME });
    }

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

    if (lock) {
      const control = await startControlSocket(controlSocketPath(config.dataDir), app.services);
      cleanup.push(() => control.close());
    }

    const port = (server.address() as AddressInfo).port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    return { app, port, url: `http://${host}:${port}`, firstCredentials, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
