// Spawns the gateway and the CLI as real processes (the project's Node 24:
// inside vitest, process.execPath), collects their output, waits for lines,
// and makes sure nothing outlives the test file.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const SERVER = path.join(ROOT, 'src/server.ts');
export const CLI = path.join(ROOT, 'src/cli/main.ts');

/** PostgreSQL for the tests that need one; empty to skip them on a machine without a server. */
export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export type Credentials = { organizationId: string; clientId: string; clientSecret: string };

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type Child = {
  process: ChildProcess;
  pid: number;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** Waits until stdout or stderr matches (rejects if the process exits first or time runs out). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal (SIGTERM by default) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
};

const live = new Set<Child>();

// Variables that would point a child at another database or port than the test gives it.
const INHERITED_OUT = ['DATA_DIR', 'DATABASE_URL', 'PORT', 'HOST', 'REDIS_URL', 'CORS_ORIGINS', 'RATE_LIMIT_PER_HOUR', 'LOG_LEVEL', 'LOG_FORMAT'];

/** The environment a child gets: this one without the gateway's variables, plus `env`. */
export function childEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !INHERITED_OUT.includes(key)) base[key] = value;
  }
  // A test must never fall back on the project's own ./data folder.
  for (const [key, value] of Object.entries(env)) {
    if (typeof value !== 'string') throw new Error(`${key} is ${value}: a test gives every variable it sets a value.`);
  }
  if (!env.DATA_DIR) throw new Error('A test process needs its own DATA_DIR (a temporary folder).');
  // An unreachable Ollama: nothing here generates text.
  return { ...base, HOST: '127.0.0.1', OLLAMA_HOST: 'http://127.0.0.1:9', ...env };
}

/** Starts `command args` (default: the project's Node) and tracks it until it exits. */
export function start(args: string[], options: { env?: Record<string, string>; command?: string } = {}): Child {
  const child = spawn(options.command ?? process.execPath, args, {
    cwd: ROOT,
    env: childEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of [...listeners]) listener();
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    changed();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    changed();
  });
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    // 'close': the exit and the end of both pipes, so the output is complete.
    child.once('close', (code, signal) => {
      exit = { code, signal };
      live.delete(handle);
      changed();
      resolve(exit);
    });
  });

  const handle: Child = {
    process: child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.match(pattern) ?? err.match(pattern);
          if (match) return done(() => resolve(match));
          if (exit) {
            done(() => reject(new Error(`${describe(args)} exited (${exit!.code ?? exit!.signal}) before printing ${pattern}:\n${out}\n${err}`)));
          }
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`${describe(args)} did not print ${pattern} within ${timeoutMs} ms:\n${out}\n${err}`))),
          timeoutMs,
        );
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (!exit) child.kill(signal);
      return exited;
    },
  };
  live.add(handle);
  return handle;
}

const describe = (args: string[]) => args.map((arg) => path.relative(ROOT, arg) || arg).join(' ');

/** Kills whatever this file's tests started and has not exited (for afterAll/afterEach). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...live].map(async (child) => {
      child.process.kill('SIGKILL');
      await child.exited.catch(() => {});
    }),
  );
}

// Should the test worker itself stop, its children go with it.
process.once('exit', () => {
  for (const child of live) child.process.kill('SIGKILL');
});

export type Run = Exit & { stdout: string; stderr: string; ms: number };

/** Runs a command to its end. */
export async function run(args: string[], options: { env?: Record<string, string>; command?: string; timeoutMs?: number } = {}): Promise<Run> {
  const began = Date.now();
  const child = start(args, options);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  try {
    const exit = await child.exited;
    return { ...exit, stdout: child.stdout(), stderr: child.stderr(), ms: Date.now() - began };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the CLI (`node src/cli/main.ts ...`) on a data folder or database. */
export function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return run([CLI, ...args], { env });
}

/** A TCP port nobody listens on right now (listen on 0, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export type Server = Child & {
  url: string;
  port: number;
  /** The first organization's credentials, when this start created it. */
  credentials?: Credentials;
};

const LISTENING = /listening on (http:\/\/[^\s"]+)/;

/** Starts `node src/server.ts` on a free port and waits until it listens. */
export async function startServer(env: Record<string, string>, timeoutMs = 60_000): Promise<Server> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child = start([SERVER], { env: { PORT: String(port), ...env } });
    try {
      const [, url] = await child.waitFor(LISTENING, timeoutMs);
      // The first start's line follows in the same tick but may arrive in a later chunk.
      await new Promise((resolve) => setTimeout(resolve, 300));
      return { ...child, url, port, credentials: await printedCredentials(child.stdout()) };
    } catch (error) {
      await child.stop('SIGKILL');
      // Someone took the port between our look and the server's listen: try another.
      if (attempt < 3 && /EADDRINUSE/.test(child.stderr())) continue;
      throw error;
    }
  }
}

/** The first organization's credentials, read from the file a start's log names, if it named one. */
export async function printedCredentials(output: string): Promise<Credentials | undefined> {
  const file = /"credentials_file":"([^"]+)"/.exec(output)?.[1];
  if (!file) return undefined;
  const saved = JSON.parse(await readFile(file, 'utf8'));
  return { organizationId: saved.organization_id, clientId: saved.client_id, clientSecret: saved.client_secret };
}

/** A fresh temporary folder, removed by the returned function. */
export async function tempDir(prefix = 'gateway-process-test-'): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A request to a running server with an organization's API key. */
export async function api(
  server: { url: string },
  auth: { clientId: string; clientSecret: string } | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = auth ? { 'X-API-Key': auth.clientId, 'X-API-Secret': auth.clientSecret } : {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: response.status, body: parsed };
}
