// Builds a gateway in process for a test file: in-memory PGlite, the Ollama
// test double, an organization with credentials, and helpers that speak HTTP
// to the app's fetch handler as a client would.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp, type App } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { createLlm } from '../../src/llm/ollama.ts';
import { startOllamaDouble, type OllamaDouble, type OllamaDoubleBehavior } from './ollama-double.ts';

export type Credentials = { organizationId: string; clientId: string; clientSecret: string };

export type TestApp = {
  app: App;
  db: Database;
  config: Config;
  ollama: OllamaDouble;
  org: Credentials;
  /** A second organization, for tenancy tests. */
  otherOrg: Credentials;
  /** Creates one more organization. */
  createOrg(name?: string, rateLimitPerHour?: number): Promise<Credentials>;
  request(method: string, path: string, options?: RequestOptions): Promise<Response>;
  /** Sends a request and parses the JSON reply. */
  json<T = any>(method: string, path: string, options?: RequestOptions): Promise<{ status: number; body: T; headers: Headers }>;
  graphql<T = any>(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<{ status: number; body: { data?: T; errors?: any[] } }>;
  /** Serves the app on a real port (HTTP and WebSocket) until close(). */
  listen(): Promise<{ url: string; wsUrl: string }>;
  close(): Promise<void>;
};

export type RequestOptions = {
  /** Sent as JSON unless it is a string. */
  body?: unknown;
  headers?: Record<string, string>;
  /** API key credentials (default: the test organization's), a widget token, or none. */
  auth?: Credentials | { token: string } | null;
};

export const BASE = 'http://gateway.test';

export function authHeaders(auth: RequestOptions['auth']): Record<string, string> {
  if (!auth) return {};
  if ('token' in auth) return { Authorization: `Bearer ${auth.token}` };
  return { 'X-API-Key': auth.clientId, 'X-API-Secret': auth.clientSecret };
}

export async function createTestApp(
  options: { env?: Record<string, string>; ollama?: Partial<OllamaDoubleBehavior>; ollamaHost?: string; databaseUrl?: string; runJobs?: boolean } = {},
): Promise<TestApp> {
  // The double serves the default chat and embedding models unless a test says otherwise.
  const ollama = await startOllamaDouble({ models: ['llama3.2', 'nomic-embed-text'], ...options.ollama });
  const config = loadConfig({ OLLAMA_HOST: options.ollamaHost ?? ollama.url, ...options.env });
  // PGlite in memory, or a PostgreSQL (a throwaway schema of test/utils/postgres.ts).
  const db = await openDatabase({ databaseUrl: options.databaseUrl });
  const app = buildApp({ config, db, llm: createLlm({ host: config.ollamaHost }), runJobs: options.runJobs });

  const createOrg = async (name = 'Test organization', rateLimitPerHour?: number) => {
    const created = await app.services.organizations.create({ name, rateLimitPerHour });
    return { organizationId: created.organizationId, clientId: created.clientId, clientSecret: created.clientSecret };
  };
  const org = await createOrg('Acme');
  const otherOrg = await createOrg('Globex');

  const closers: Array<() => Promise<void>> = [];
  const request = (method: string, path: string, { body, headers = {}, auth = org }: RequestOptions = {}) => {
    const init: RequestInit = { method, headers: { ...authHeaders(auth), ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      if (typeof body !== 'string' || !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        (init.headers as Record<string, string>)['Content-Type'] ??= 'application/json';
      }
    }
    return app.fetch(new Request(`${BASE}${path}`, init));
  };

  return {
    app,
    db,
    config,
    ollama,
    org,
    otherOrg,
    createOrg,
    request,
    async json(method, path, options) {
      const response = await request(method, path, options);
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
    },
    async graphql(query, variables, headers = authHeaders(org)) {
      const response = await app.fetch(
        new Request(`${BASE}/graphql`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
          body: JSON.stringify({ query, variables }),
        }),
      );
      return { status: response.status, body: await response.json() };
    },
    async listen() {
      const server = createServer(app.nodeHandler);
      const sockets = app.attachWebSockets(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      closers.push(async () => {
        await sockets.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
      const { port } = server.address() as AddressInfo;
      return { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/graphql` };
    },
    async close() {
      for (const close of closers.splice(0).reverse()) await close();
      await app.close();
      await db.close();
      await ollama.close();
    },
  };
}
