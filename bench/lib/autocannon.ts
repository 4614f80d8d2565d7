// Runs one autocannon load (bench/lib/load.ts) in a child process and returns its figures.
import path from 'node:path';
import { ROOT, runNode } from './children.ts';

/**
 * `urls`: several servers answering the same request (instances behind a balancer); the
 * connections are dealt out over them in turn, and each keeps its server (`url` is then the first).
 */
export type LoadTarget = { name: string; url: string; urls?: string[]; method?: string; headers?: Record<string, string>; body?: string };

export type LoadResult = {
  /** Answered. */
  requests: number;
  /** Sent, including those still unanswered when the run ended. */
  sent: number;
  ok: number;
  durationSeconds: number;
  rps: number;
  latency: { p50: number; p99: number; mean: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, { count: number }>;
};

export async function load(target: LoadTarget, connections: number, durationSeconds: number): Promise<LoadResult> {
  const options = { url: target.url, urls: target.urls, method: target.method, headers: target.headers, body: target.body, connections, durationSeconds };
  const run = await runNode(path.join(ROOT, 'bench/lib/load.ts'), [JSON.stringify(options)], {
    label: `autocannon ${target.name}`,
    timeoutMs: (durationSeconds + 30) * 1000,
  });
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  if (run.code !== 0 || !line.startsWith('{')) throw new Error(`autocannon against ${target.name} failed (${run.code ?? run.signal}):\n${run.stderr.slice(-2000)}`);
  const result = JSON.parse(line) as LoadResult;
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0 || result.ok === 0) {
    throw new Error(`${target.name}: ${result.ok} answers 2xx, ${result.non2xx} not (${JSON.stringify(result.statusCodes)}), ${result.errors} errors, ${result.timeouts} timeouts.`);
  }
  return result;
}
