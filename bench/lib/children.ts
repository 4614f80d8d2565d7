// Every process and temporary folder the benchmark creates goes through here,
// so that nothing outlives it: on a normal exit, an error, Ctrl-C or SIGTERM,
// live children are killed (SIGKILL) and temporary folders removed.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export type Child = {
  process: ChildProcess;
  pid: number;
  label: string;
  /** What the child wrote so far (the last 256 KB of each stream). */
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** Resolves with the first match in stdout or stderr; rejects on exit or timeout. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<Exit>;
};

const live = new Set<Child>();
const folders = new Set<string>();
const KEEP = 256 * 1024;

// Variables that would point a child at another database, port or limit than the benchmark gives it.
const NOT_INHERITED = [
  'DATA_DIR',
  'DATABASE_URL',
  'PORT',
  'HOST',
  'REDIS_URL',
  'CORS_ORIGINS',
  'RATE_LIMIT_PER_HOUR',
  'LOG_LEVEL',
  'LOG_FORMAT',
  'OLLAMA_HOST',
  'MAX_CONCURRENT_GENERATIONS',
  'GENERATION_QUEUE_SIZE',
  'MAX_GENERATIONS_PER_ORGANIZATION',
  'GENERATION_QUEUE_PER_ORGANIZATION',
  'NODE_OPTIONS',
];

export function childEnv(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !NOT_INHERITED.includes(key)) base[key] = value;
  }
  // Nothing here may reach a real Ollama: unless a section starts the test double, replies fail fast.
  return { ...base, HOST: '127.0.0.1', OLLAMA_HOST: 'http://127.0.0.1:9', ...env };
}

export type SpawnOptions = {
  label: string;
  env?: Record<string, string>;
  /** Node flags before the script (e.g. --expose-gc, --cpu-prof). */
  nodeArgs?: string[];
  /** Opens an IPC channel (child.process.send / 'message'). */
  ipc?: boolean;
};

/** Starts `node [nodeArgs] script [args]` with the project's Node (the one running the benchmark). */
export function spawnNode(script: string, args: string[], options: SpawnOptions): Child {
  const stdio: StdioOptions = options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
    cwd: ROOT,
    env: childEnv(options.env ?? {}),
    stdio,
  });
  let out = '';
  let err = '';
  let exit: Exit | undefined;
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of [...listeners]) listener();
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out = (out + chunk).slice(-KEEP);
    changed();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err = (err + chunk).slice(-KEEP);
    changed();
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (error) => {
      err += `\n${String(error)}`;
      exit ??= { code: null, signal: null };
      live.delete(handle);
      changed();
      resolve(exit);
    });
    child.once('close', (code, signal) => {
      exit ??= { code, signal };
      live.delete(handle);
      changed();
      resolve(exit);
    });
  });
  const handle: Child = {
    process: child,
    pid: child.pid ?? -1,
    label: options.label,
    stdout: () => out,
    stderr: () => err,
    exited,
    hasExited: () => exit !== undefined,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => done(() => reject(new Error(`${options.label} did not print ${pattern} within ${timeoutMs} ms.\n${tail(out, err)}`))),
          timeoutMs,
        );
        const check = () => {
          const match = out.match(pattern) ?? err.match(pattern);
          if (match) return done(() => resolve(match));
          if (exit) done(() => reject(new Error(`${options.label} exited (${exit!.code ?? exit!.signal}) before printing ${pattern}.\n${tail(out, err)}`)));
        };
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 10_000) {
      if (exit) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  live.add(handle);
  return handle;
}

export function tail(out: string, err: string, chars = 3000): string {
  return [out && `--- stdout ---\n${out.slice(-chars)}`, err && `--- stderr ---\n${err.slice(-chars)}`].filter(Boolean).join('\n');
}

/** Runs a script to its end (bounded by timeoutMs) and returns its output. */
export async function runNode(script: string, args: string[], options: SpawnOptions & { timeoutMs: number }) {
  const child = spawnNode(script, args, options);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), options.timeoutMs);
  try {
    const exit = await child.exited;
    return { ...exit, stdout: child.stdout(), stderr: child.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

/** Kills every live child (SIGKILL) and waits for them. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...live].map(async (child) => {
      child.process.kill('SIGKILL');
      await child.exited;
    }),
  );
}

/** A temporary folder, removed when the benchmark exits (or earlier by the returned function). */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), `gateway-bench-${prefix}-`));
  folders.add(dir);
  return {
    dir,
    remove() {
      rmSync(dir, { recursive: true, force: true });
      folders.delete(dir);
    },
  };
}

/** A TCP port on 127.0.0.1 that nobody listens on right now (the tests' helper; the bench imports test utilities already). */
export { freePort } from '../../test/utils/process.ts';

function cleanupNow() {
  for (const child of live) child.process.kill('SIGKILL');
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  folders.clear();
}

process.once('exit', cleanupNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the benchmark and its processes.`);
    cleanupNow();
    process.exit(130);
  });
}
