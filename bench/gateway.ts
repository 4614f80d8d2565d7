// Gateway overhead: requests/s and p50/p99 latency under the same load
// (autocannon, another process, 32 connections) for
//   - our REST list (GET /api/v1/assistants/, 20 rows, authenticated),
//   - the same list as a GraphQL query,
//   - a bare graphql-yoga answering a trivial query,
//   - a bare graphql-yoga answering the same 20-row list from the same PGlite data through Prisma.
// Targets: REST ≥ 0.8× and GraphQL ≥ 0.85× the bare list; REST and GraphQL within 10% of each other.
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { load, type LoadTarget } from './lib/autocannon.ts';
import { spawnNode, tempDir, ROOT, type Child } from './lib/children.ts';
import { pool } from './lib/clock.ts';
import type { BenchConfig } from './config.ts';
import { FigureSet, type Figure } from './lib/figures.ts';
import { raiseRateLimit, startGateway, type Gateway } from './lib/gateway-process.ts';
import { authHeaders, http } from './lib/http.ts';
import { createBenchmarkAssistant } from './lib/assistants.ts';

const LIST_QUERY = /* GraphQL */ `
  query {
    assistants(limit: 20) {
      items { id name description tone language defaultTasks isActive model temperature maxTokens metadata createdAt updatedAt }
      total
      limit
      offset
    }
  }
`;

const TRIVIAL_QUERY = '{ hello }';

const LABELS: Record<string, string> = {
  rest: 'our REST GET /api/v1/assistants/ (20 rows)',
  graphql: 'our GraphQL, the same list',
  bareTrivial: 'bare Yoga, trivial { hello }',
  bareList: 'bare Yoga, same list (no auth/limits/envelope)',
};

const graphqlBody = (query: string) => JSON.stringify({ query });

export async function gatewaySection(config: BenchConfig, log: (line: string) => void): Promise<Figure[]> {
  const { connections, warmupSeconds, durationSeconds, assistants } = config.gateway;
  const data = tempDir('gateway');
  const copy = tempDir('bare');
  let gateway: Gateway | undefined;
  let bare: Child | undefined;
  try {
    log('starting the gateway on an empty DATA_DIR');
    gateway = await startGateway({ label: 'gateway', dataDir: data.dir });
    const org = gateway.credentials;
    if (!org) throw new Error('The first start printed no credentials.');
    await raiseRateLimit(data.dir, org.organizationId);
    await pool(Array.from({ length: assistants }, (_, i) => i), 4, (i) => createBenchmarkAssistant(gateway!.url, org, i));

    // The bare server reads a copy of the same PGlite files, taken while the gateway is stopped.
    await gateway.stop();
    await cp(path.join(data.dir, 'pglite'), path.join(copy.dir, 'pglite'), { recursive: true });
    log('restarting the gateway on its populated DATA_DIR; starting the bare Yoga server on a copy');
    gateway = await startGateway({ label: 'gateway', dataDir: data.dir, cpuProfDir: config.cpuProfDir });
    bare = spawnNode(path.join(ROOT, 'bench/lib/bare-yoga.ts'), [], {
      label: 'bare yoga',
      env: { BENCH_DATA_DIR: copy.dir, BENCH_ORG_ID: org.organizationId },
    });
    const [, bareUrl] = await bare.waitFor(/listening on (http:\/\/\S+)/, 120_000);

    const targets = {
      rest: { name: 'our REST', url: `${gateway.url}/api/v1/assistants/`, headers: authHeaders(org) },
      graphql: {
        name: 'our GraphQL',
        url: `${gateway.url}/graphql`,
        method: 'POST',
        headers: { ...authHeaders(org), 'Content-Type': 'application/json', Accept: 'application/json' },
        body: graphqlBody(LIST_QUERY),
      },
      bareTrivial: { name: 'bare Yoga trivial', url: `${bareUrl}/graphql`, method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: graphqlBody(TRIVIAL_QUERY) },
      bareList: { name: 'bare Yoga list', url: `${bareUrl}/graphql`, method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: graphqlBody(LIST_QUERY) },
    } satisfies Record<string, LoadTarget>;

    await checkAnswers(targets, assistants);

    if (warmupSeconds > 0) {
      log(`warming up (${warmupSeconds} s per target)`);
      for (const target of Object.values(targets)) await load(target, connections, warmupSeconds);
    }

    const figures = new FigureSet('gateway');
    for (let run = 1; run <= config.runs; run++) {
      const rps: Record<string, number> = {};
      // Targets take turns within a run, so that a machine getting busier hurts them alike.
      for (const [key, target] of Object.entries(targets)) {
        const result = await load(target, connections, durationSeconds);
        log(`run ${run}: ${target.name.padEnd(18)} ${result.rps.toFixed(0).padStart(6)} req/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms`);
        rps[key] = result.rps;
        figures.add(`${key}.rps`, `${LABELS[key]}: throughput`, 'req/s', result.rps);
        figures.add(`${key}.p50`, `${LABELS[key]}: latency p50`, 'ms', result.latency.p50);
        figures.add(`${key}.p99`, `${LABELS[key]}: latency p99`, 'ms', result.latency.p99);
      }
      figures.add('ratio.graphql_bareTrivial', 'our GraphQL list / bare Yoga trivial', '×', rps.graphql / rps.bareTrivial);
      // Within 10% either way: neither surface may cost its clients more than the other.
      figures.add('ratio.rest_graphql', 'our REST / our GraphQL (within 10%)', '×', rps.rest / rps.graphql, { op: '>=', value: 0.9 });
      figures.add('ratio.graphql_rest', 'our GraphQL / our REST (within 10%)', '×', rps.graphql / rps.rest, { op: '>=', value: 0.9 });
      figures.add('ratio.rest_bareList', 'our REST / bare Yoga list', '×', rps.rest / rps.bareList, { op: '>=', value: 0.8 });
      figures.add('ratio.graphql_bareList', 'our GraphQL / bare Yoga list', '×', rps.graphql / rps.bareList, { op: '>=', value: 0.85 });
    }
    return figures.list();
  } finally {
    await Promise.allSettled([gateway?.stop(), bare?.stop(5_000)]);
    data.remove();
    copy.remove();
  }
}


/** Every target answers what it should before it is measured: 20 rows everywhere, the same ones. */
async function checkAnswers(targets: Record<string, LoadTarget>, rows: number) {
  const ask = async (target: LoadTarget) => {
    const reply = await http(target.method ?? 'GET', target.url, { headers: target.headers, body: target.body });
    if (reply.status !== 200) throw new Error(`${target.name} answered ${reply.status}: ${reply.text.slice(0, 500)}`);
    return reply.body;
  };
  const rest = await ask(targets.rest);
  const graphql = await ask(targets.graphql);
  const bareList = await ask(targets.bareList);
  const trivial = await ask(targets.bareTrivial);
  const ids = (items: Array<{ id: string }> | undefined) => (items ?? []).map((item) => item.id).join(',');
  const restIds = ids(rest?.data?.items);
  if (rest?.data?.items?.length !== rows) throw new Error(`our REST listed ${rest?.data?.items?.length} assistants, not ${rows}.`);
  if (ids(graphql?.data?.assistants?.items) !== restIds) throw new Error(`our GraphQL listed other rows: ${JSON.stringify(graphql).slice(0, 500)}`);
  if (ids(bareList?.data?.assistants?.items) !== restIds) throw new Error(`the bare list listed other rows: ${JSON.stringify(bareList).slice(0, 500)}`);
  if (trivial?.data?.hello !== 'world') throw new Error(`the bare trivial query answered ${JSON.stringify(trivial)}`);
}
