// `npm run bench [-- --smoke] [--runs N] [--only gateway,messages,startup,knowledge,hostile,serving,rewrite,scaleout] [--cpu-prof] [--strict]`
//
// Measures the gateway against the project's targets (the table's "target"
// column), prints one table and writes the same figures as
// JSON: bench/results/latest.json for a full run (the previous one is kept as
// previous.json and shown in the table's "last" column), smoke.json or
// partial.json otherwise. Exits non-zero when a section fails to run (with
// --strict, also when a target is missed). Every process it starts is killed
// when it ends, however it ends.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchConfig, type BenchConfig } from './config.ts';
import { gatewaySection } from './gateway.ts';
import { hostileSection } from './hostile.ts';
import { knowledgeSection } from './knowledge.ts';
import { killAll, ROOT } from './lib/children.ts';
import type { Figure, SectionName } from './lib/figures.ts';
import { renderTable } from './lib/table.ts';
import { messagesSection } from './messages.ts';
import { rewriteSection } from './rewrite.ts';
import { scaleoutSection } from './scaleout.ts';
import { servingSection } from './serving.ts';
import { startupSection } from './startup.ts';

type Section = { name: SectionName; run: (config: BenchConfig, log: (line: string) => void) => Promise<Figure[]> };

const SECTIONS: Section[] = [
  { name: 'gateway', run: gatewaySection },
  { name: 'messages', run: messagesSection },
  { name: 'startup', run: startupSection },
  { name: 'knowledge', run: knowledgeSection },
  { name: 'hostile', run: hostileSection },
  { name: 'serving', run: servingSection },
  { name: 'rewrite', run: rewriteSection },
  { name: 'scaleout', run: scaleoutSection },
];

const RESULTS = path.join(ROOT, 'bench/results');

function parse() {
  const { values } = parseArgs({
    options: {
      smoke: { type: 'boolean', default: false },
      runs: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('Usage: npm run bench -- [--smoke] [--runs N] [--only gateway,messages,startup,knowledge,hostile,serving,rewrite,scaleout] [--cpu-prof] [--strict]');
    process.exit(0);
  }
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  if (runs !== undefined && (!Number.isInteger(runs) || runs < 1 || runs > 20)) throw new Error('--runs must be a whole number from 1 to 20.');
  const only = values.only?.split(',').map((name) => name.trim()).filter(Boolean);
  for (const name of only ?? []) {
    if (!SECTIONS.some((section) => section.name === name)) throw new Error(`--only: unknown section "${name}" (sections: ${SECTIONS.map((s) => s.name).join(', ')}).`);
  }
  return { smoke: values.smoke, runs, only, cpuProf: values['cpu-prof'], strict: values.strict };
}

function machine() {
  const cpus = os.cpus();
  return {
    cores: os.availableParallelism(),
    cpu: cpus[0]?.model ?? 'unknown',
    memoryGiB: Number((os.totalmem() / 1024 ** 3).toFixed(1)),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map((value) => Number(value.toFixed(2))),
  };
}

function lastFullRun(): Map<string, number> {
  const file = path.join(RESULTS, 'latest.json');
  const map = new Map<string, number>();
  if (!existsSync(file)) return map;
  try {
    const previous = JSON.parse(readFileSync(file, 'utf8')) as { figures?: Figure[] };
    for (const figure of previous.figures ?? []) map.set(`${figure.section}.${figure.key}`, figure.median);
  } catch {}
  return map;
}

async function main(): Promise<number> {
  const options = parse();
  const cpuProfDir = options.cpuProf ? path.join(RESULTS, 'profiles') : undefined;
  if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
  const config = benchConfig({ smoke: options.smoke, runs: options.runs, cpuProfDir });
  const selected = SECTIONS.filter((section) => !options.only || options.only.includes(section.name));
  const info = machine();
  const began = Date.now();
  console.log(`Gateway benchmark (${options.smoke ? 'smoke' : 'full'}, ${config.runs} run${config.runs > 1 ? 's' : ''}; sections: ${selected.map((s) => s.name).join(', ')})`);
  console.log(`Machine: ${info.cores} cores (${info.cpu}), ${info.memoryGiB} GiB, Node ${info.node}, ${info.platform}, load average ${info.loadAverageAtStart.join(' ')}`);
  if (Number(process.versions.node.split('.')[0]) < 24) console.warn('Warning: Node 24 is expected (run through npm run bench).');

  // A run never hangs: past this, whatever runs is killed and the benchmark fails.
  const limitMs = options.smoke ? 600_000 : 120 * 60_000;
  const watchdog = setTimeout(() => {
    console.error(`The benchmark took more than ${limitMs / 1000} s; stopping.`);
    process.exit(1);
  }, limitMs);
  watchdog.unref();

  const figures: Figure[] = [];
  const sections: Record<string, { ok: boolean; seconds: number; error?: string }> = {};
  const failed = new Map<string, string>();
  for (const section of selected) {
    const started = Date.now();
    const log = (line: string) => console.log(`  [${section.name}] ${line}`);
    console.log(`\n== ${section.name}`);
    try {
      figures.push(...(await section.run(config, log)));
      sections[section.name] = { ok: true, seconds: (Date.now() - started) / 1000 };
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      console.error(`  [${section.name}] FAILED: ${message}`);
      sections[section.name] = { ok: false, seconds: (Date.now() - started) / 1000, error: message };
      failed.set(section.name, error instanceof Error ? error.message : String(error));
      await killAll();
    }
  }

  // Smoke sizes are too small for a target to mean anything (8 questions, 1,000
  // passages, one short run): show the figures, judge none of them.
  if (options.smoke) for (const figure of figures) delete figure.pass;

  const last = lastFullRun();
  const seconds = (Date.now() - began) / 1000;
  console.log(`\nResults: medians of ${config.runs} run${config.runs > 1 ? 's' : ''} with min and max; ${info.cores} cores, Node ${info.node}; ${seconds.toFixed(0)} s${options.smoke ? ' (smoke sizes: figures are not comparable)' : ''}`);
  console.log(renderTable(figures, last, failed));

  const full = !options.smoke && !options.only && options.runs === undefined;
  const file = path.join(RESULTS, full ? 'latest.json' : options.smoke ? 'smoke.json' : 'partial.json');
  mkdirSync(RESULTS, { recursive: true });
  if (full && existsSync(file)) renameSync(file, path.join(RESULTS, 'previous.json'));
  const loadAverageAtEnd = os.loadavg().map((value) => Number(value.toFixed(2)));
  console.log(`Load average at the end: ${loadAverageAtEnd.join(' ')} (other work on the machine skews every figure).`);
  const report = {
    generatedAt: new Date().toISOString(),
    mode: options.smoke ? 'smoke' : 'full',
    runs: config.runs,
    seconds,
    machine: { ...info, loadAverageAtEnd },
    config,
    sections,
    figures,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nWritten to ${path.relative(process.cwd(), file)}${cpuProfDir ? `; CPU profiles in ${path.relative(process.cwd(), cpuProfDir)}` : ''}.`);

  const missed = figures.filter((figure) => figure.pass === false);
  if (missed.length > 0) console.log(`Targets missed: ${missed.map((figure) => `${figure.section}: ${figure.label}`).join('; ')}`);
  if (failed.size > 0) return 1;
  return options.strict && missed.length > 0 ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
} finally {
  await killAll();
}
process.exit(code);
