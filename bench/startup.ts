// Start-up: time from spawning `node src/server.ts` to its first successful
// request (an authenticated GET /api/v1/assistants/), on an empty DATA_DIR
// (migrations, first organization) and on a populated one. Also when it
// printed that it listens. Target: ≤ 3 s on an existing folder.
import type { BenchConfig } from './config.ts';
import { freePort, spawnNode, tail, tempDir } from './lib/children.ts';
import { now, pool, sleep } from './lib/clock.ts';
import { startDouble, type Double } from './lib/double.ts';
import { FigureSet, type Figure } from './lib/figures.ts';
import { printedCredentials, SERVER } from './lib/gateway-process.ts';
import { http, type Auth } from './lib/http.ts';

type Start = { listeningMs: number; firstRequestMs: number; credentials: Auth & { organizationId: string } };

/**
 * Spawns the server, waits for it to say it listens, then sends the request until it succeeds.
 * `afterwards` runs against the still-running server (not timed), before it is stopped.
 */
async function timedStart(
  dataDir: string,
  label: string,
  options: { known?: Auth & { organizationId: string }; expectedRows?: number; ollamaHost?: string; afterwards?: (url: string, credentials: Auth) => Promise<void> } = {},
): Promise<Start> {
  const port = await freePort();
  const spawnedAt = now();
  const env: Record<string, string> = { DATA_DIR: dataDir, PORT: String(port) };
  if (options.ollamaHost) env.OLLAMA_HOST = options.ollamaHost;
  const child = spawnNode(SERVER, [], { label, env });
  try {
    await child.waitFor(/listening on http:\/\//, 120_000);
    const listeningMs = now() - spawnedAt;
    let credentials = options.known;
    if (!credentials) {
      await child.waitFor(/"credentials_file":".*\n/, 10_000);
      credentials = printedCredentials(child.stdout());
      if (!credentials) throw new Error(`${label} printed no credentials.\n${tail(child.stdout(), child.stderr())}`);
    }
    const deadline = now() + 30_000;
    for (;;) {
      const reply = await http('GET', `http://127.0.0.1:${port}/api/v1/assistants/`, { auth: credentials, timeoutMs: 30_000 }).catch((error: Error) => ({
        status: 0,
        text: error.message,
        body: null,
      }));
      if (reply.status === 200) {
        const firstRequestMs = now() - spawnedAt;
        const rows = reply.body?.data?.items?.length;
        if (rows !== (options.expectedRows ?? 0)) throw new Error(`${label}: the first list had ${rows} assistants, not ${options.expectedRows ?? 0}.`);
        await options.afterwards?.(`http://127.0.0.1:${port}`, credentials);
        return { listeningMs, firstRequestMs, credentials };
      }
      if (now() > deadline || child.hasExited()) throw new Error(`${label} never answered the first request (last: ${reply.status} ${reply.text.slice(0, 300)}).\n${tail(child.stdout(), child.stderr())}`);
      await sleep(5);
    }
  } finally {
    const exit = await child.stop(15_000);
    if (exit.signal === 'SIGKILL') throw new Error(`${label} did not stop within 15 s of SIGTERM.`);
  }
}

export async function startupSection(config: BenchConfig, log: (line: string) => void): Promise<Figure[]> {
  const figures = new FigureSet('startup');
  const populated = tempDir('startup-populated');
  const { assistants, sessions, messagesPerSession } = config.startup;
  let double: Double | undefined;
  try {
    // Replies for the messages that populate a folder.
    double = await startDouble();
    await double.configure({ tokens: 8, tokenDelayMs: 0 });

    if (!config.smoke) {
      // Warm-up: one start that is not measured (the file cache now holds node_modules).
      const warm = tempDir('startup-warmup');
      await timedStart(warm.dir, 'gateway (warm-up)');
      warm.remove();
    }

    let credentials: (Auth & { organizationId: string }) | undefined;
    for (let run = 1; run <= config.runs; run++) {
      // The last empty folder is then populated (after the measurement) for the populated starts.
      const last = run === config.runs;
      const empty = last ? populated : tempDir('startup-empty');
      const start = await timedStart(empty.dir, 'gateway (empty DATA_DIR)', {
        ollamaHost: double.url,
        afterwards: last
          ? async (url, auth) => {
              log(`populating a DATA_DIR: ${assistants} assistants, ${sessions} sessions with ${messagesPerSession} messages each`);
              await populate(url, auth, config);
            }
          : undefined,
      });
      if (last) credentials = start.credentials;
      else empty.remove();
      log(`run ${run}: empty DATA_DIR: listening after ${start.listeningMs.toFixed(0)} ms, first request answered after ${start.firstRequestMs.toFixed(0)} ms`);
      figures.add('empty.listening', 'empty DATA_DIR: spawn → listening', 'ms', start.listeningMs);
      figures.add('empty.first_request', 'empty DATA_DIR: spawn → first request answered', 'ms', start.firstRequestMs);
    }

    for (let run = 1; run <= config.runs; run++) {
      const start = await timedStart(populated.dir, 'gateway (populated DATA_DIR)', { known: credentials, expectedRows: Math.min(20, assistants) });
      log(`run ${run}: populated DATA_DIR: listening after ${start.listeningMs.toFixed(0)} ms, first request answered after ${start.firstRequestMs.toFixed(0)} ms`);
      figures.add('populated.listening', 'populated DATA_DIR: spawn → listening', 'ms', start.listeningMs);
      figures.add('populated.first_request', 'populated DATA_DIR: spawn → first request answered', 'ms', start.firstRequestMs, { op: '<=', value: 3000 });
    }
    return figures.list();
  } finally {
    await double?.close();
    populated.remove();
  }
}

async function populate(url: string, auth: Auth, config: BenchConfig) {
  const { assistants, sessions, messagesPerSession } = config.startup;
  const assistantIds = await pool(Array.from({ length: assistants }, (_, i) => i), 4, async (i) => {
    const reply = await http('POST', `${url}/api/v1/assistants/`, { auth, body: { name: `Assistant ${i}`, tone: 'friendly' } });
    if (reply.status !== 201) throw new Error(`Creating an assistant answered ${reply.status}: ${reply.text}`);
    return reply.body.data.id as string;
  });
  await pool(Array.from({ length: sessions }, (_, i) => i), 4, async (i) => {
    const session = await http('POST', `${url}/api/v1/sessions/`, { auth, body: { assistant_id: assistantIds[i % assistantIds.length] } });
    if (session.status !== 201) throw new Error(`Creating a session answered ${session.status}: ${session.text}`);
    for (let m = 0; m < messagesPerSession; m++) {
      const reply = await http('POST', `${url}/api/v1/sessions/${session.body.data.id}/messages`, { auth, body: { content: `Question ${m}` } });
      if (reply.status !== 201) throw new Error(`Sending a message answered ${reply.status}: ${reply.text}`);
    }
  });
}
