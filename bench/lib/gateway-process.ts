// The gateway under test, as its own process: `node src/server.ts` with a
// temporary DATA_DIR, a free port on 127.0.0.1 and OLLAMA_HOST pointing where
// the section says. Credentials come from the first start's output; the CLI
// (through the running gateway's control socket) raises rate limits.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, ROOT, runNode, spawnNode, tail, type Child } from './children.ts';
import type { Auth } from './http.ts';

export const SERVER = path.join(ROOT, 'src/server.ts');
export const CLI = path.join(ROOT, 'src/cli/main.ts');
const PROBE = path.join(ROOT, 'bench/lib/probe.ts');

export type GatewayOptions = {
  label: string;
  dataDir: string;
  ollamaHost?: string;
  env?: Record<string, string>;
  /** Preloads the memory probe (IPC, --expose-gc). */
  probe?: boolean;
  /** Writes a CPU profile into this folder when the process exits. */
  cpuProfDir?: string;
  startTimeoutMs?: number;
  /**
   * Whether this start creates the first organization and prints its credentials. Guessed from
   * the data folder when absent; with DATABASE_URL the folder says nothing, so say it.
   */
  firstStart?: boolean;
};

export type HeapSpaces = Record<string, { size: number; used: number }>;
export type MemoryUsage = NodeJS.MemoryUsage & { spaces: HeapSpaces };

export type Gateway = {
  child: Child;
  url: string;
  port: number;
  /** Set when this start created the first organization. */
  credentials?: Auth & { organizationId: string };
  /** Memory of the gateway process (needs `probe`); `gc` collects garbage first. */
  memory(gc?: boolean): Promise<MemoryUsage>;
  stop(): Promise<void>;
};

const LISTENING = /listening on (http:\/\/[^\s"]+)/;

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  // A folder without a database gets one, and the first organization's credentials are printed.
  const pgliteDir = path.join(options.dataDir, 'pglite');
  const firstStart = options.firstStart ?? (!existsSync(pgliteDir) || readdirSync(pgliteDir).length === 0);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const nodeArgs: string[] = [];
    if (options.probe) nodeArgs.push('--expose-gc', '--import', PROBE);
    if (options.cpuProfDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfDir, '--cpu-prof-name', `${options.label.replace(/\W+/g, '-')}-${Date.now()}.cpuprofile`);
    const child = spawnNode(SERVER, [], {
      label: options.label,
      ipc: options.probe,
      nodeArgs,
      env: {
        DATA_DIR: options.dataDir,
        PORT: String(port),
        ...(options.ollamaHost ? { OLLAMA_HOST: options.ollamaHost } : {}),
        ...options.env,
      },
    });
    try {
      const [, url] = await child.waitFor(LISTENING, options.startTimeoutMs ?? 120_000);
      // The line naming the credentials' file is written in the same tick but may arrive in a later chunk.
      if (firstStart) await child.waitFor(/"credentials_file":".*\n/, 10_000);
      return { child, url, port, credentials: printedCredentials(child.stdout()), memory: memoryOf(child), stop: () => stopGateway(child) };
    } catch (error) {
      await child.stop(2_000);
      if (attempt < 3 && /EADDRINUSE|already in use/.test(child.stderr())) continue;
      throw error;
    }
  }
}

async function stopGateway(child: Child) {
  const exit = await child.stop(15_000);
  if (exit.signal === 'SIGKILL') throw new Error(`${child.label} did not stop within 15 s of SIGTERM.\n${tail(child.stdout(), child.stderr())}`);
}

/** The first organization's credentials, from the file that a first start's log line names. */
export function printedCredentials(output: string): (Auth & { organizationId: string }) | undefined {
  const file = /"credentials_file":"([^"]+)"/.exec(output)?.[1];
  if (!file) return undefined;
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  return { organizationId: saved.organization_id, clientId: saved.client_id, clientSecret: saved.client_secret };
}

function memoryOf(child: Child) {
  let nextId = 1;
  return (gc = true) =>
    new Promise<MemoryUsage>((resolve, reject) => {
      if (!child.process.send) return reject(new Error(`${child.label} was started without the memory probe.`));
      const id = nextId++;
      const timer = setTimeout(() => {
        child.process.off('message', onMessage);
        reject(new Error(`${child.label} did not report its memory within 10 s.`));
      }, 10_000);
      const onMessage = (message: { type?: string; id?: number; usage?: NodeJS.MemoryUsage; spaces?: HeapSpaces; gc?: boolean }) => {
        if (message?.type !== 'memory' || message.id !== id) return;
        clearTimeout(timer);
        child.process.off('message', onMessage);
        if (gc && !message.gc) return reject(new Error(`${child.label} could not collect garbage (no --expose-gc).`));
        resolve({ ...message.usage!, spaces: message.spaces ?? {} });
      };
      child.process.on('message', onMessage);
      child.process.send({ type: 'memory', id, gc });
    });
}

/**
 * Runs the CLI on a data folder (through the running gateway's control socket when there is one);
 * returns its JSON. `env` adds variables (DATABASE_URL: the CLI connects to PostgreSQL itself).
 */
export async function cli(dataDir: string, args: string[], env: Record<string, string> = {}): Promise<any> {
  const result = await runNode(CLI, [...args, '--json'], { label: `cli ${args.slice(0, 2).join(' ')}`, env: { ...env, DATA_DIR: dataDir }, timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`CLI ${args.join(' ')} failed (${result.code ?? result.signal}):\n${result.stderr}${result.stdout}`);
  return JSON.parse(result.stdout);
}

/** Raises an organization's hourly limit far beyond what a benchmark sends (services.organizations.setRateLimit). */
export async function raiseRateLimit(dataDir: string, organizationId: string) {
  const reply = await cli(dataDir, ['org', 'rate-limit', `--org=${organizationId}`, '--per-hour', '1000000000']);
  if (reply.rate_limit_per_hour !== 1_000_000_000) throw new Error(`The rate limit was not raised: ${JSON.stringify(reply)}`);
}
