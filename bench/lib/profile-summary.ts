// `node bench/lib/profile-summary.ts <file.cpuprofile> [top]`: where a CPU profile
// (from `npm run bench -- --cpu-prof`) spent its time, by function (self time)
// and by package or project folder, without opening DevTools.
import { readFileSync } from 'node:fs';

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('Usage: node bench/lib/profile-summary.ts <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map<number, number>();
profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const totalUs = profile.endTime - profile.startTime;

function where(url: string): string {
  if (!url) return '(native/V8)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules !== -1) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node (core)';
  // Each WebAssembly module (PGlite's Postgres, Prisma's query compiler) under its own name.
  if (url.startsWith('wasm://')) return `wasm module ${url.split('/').pop()}`;
  const project = /\/(src|generated|bench|test)\/(.*)$/.exec(url);
  return project ? `${project[1]}/${project[2]}` : url;
}

const functions = new Map<string, number>();
const places = new Map<string, number>();
for (const [id, us] of selfUs) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const place = where(url);
  const name = `${functionName || '(anonymous)'}  ${place}${url ? `:${lineNumber + 1}` : ''}`;
  functions.set(name, (functions.get(name) ?? 0) + us);
  const group = place.startsWith('src/') || place.startsWith('wasm') ? place : place.split(':')[0];
  places.set(group, (places.get(group) ?? 0) + us);
}

const print = (title: string, map: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [name, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(us / 1000).toFixed(0).padStart(8)} ms  ${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${name}`);
  }
};
console.log(`${file}: ${(totalUs / 1e6).toFixed(1)} s profiled`);
print('Self time by package or file', places);
print('Self time by function', functions);

// Long busy stretches: the event loop ran without a break (no idle sample) for a long time,
// which is what delays every token relayed meanwhile. What ran during them, by package.
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const idleIds = new Set(profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((node) => node.id));
type Stretch = { startUs: number; us: number; samples: number[] };
const stretches: Stretch[] = [];
let current: Stretch | null = null;
let clock = profile.startTime;
profile.samples.forEach((id, i) => {
  clock += profile.timeDeltas[i] ?? 0;
  const delta = profile.timeDeltas[i + 1] ?? 0;
  if (idleIds.has(id)) {
    if (current) stretches.push(current);
    current = null;
    return;
  }
  current ??= { startUs: clock, us: 0, samples: [] };
  current.us += delta;
  current.samples.push(id);
});
if (current) stretches.push(current);
const longMs = 10;
const long = stretches.filter((stretch) => stretch.us >= longMs * 1000);
const histogram = [1, 2, 5, 10, 20, 50, 100].map((ms) => [ms, stretches.filter((stretch) => stretch.us >= ms * 1000).length]);
console.log(`\nBusy stretches (no idle sample between): ${stretches.length}; at least N ms: ${histogram.map(([ms, n]) => `${ms} ms: ${n}`).join(', ')}`);
if (long.length > 0) {
  // For each sample in a long stretch, the outermost frame from our own code or a package tells who started the work.
  const inLong = new Map<string, number>();
  for (const stretch of long) {
    for (const id of stretch.samples) {
      const node = byId.get(id)!;
      const place = where(node.callFrame.url);
      const key = place.startsWith('src/') || place.startsWith('wasm') ? place : place.split(':')[0];
      inLong.set(key, (inLong.get(key) ?? 0) + 1);
    }
  }
  const total = [...inLong.values()].reduce((a, b) => a + b, 0);
  console.log(`Self time inside the ${long.length} stretches of ≥ ${longMs} ms, by package or file:`);
  for (const [key, n] of [...inLong].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${((100 * n) / total).toFixed(1).padStart(7)}%  ${key}`);
  const longest = [...long].sort((a, b) => b.us - a.us).slice(0, 5);
  for (const stretch of longest) {
    const stacks = new Map<string, number>();
    for (const id of stretch.samples) {
      const frames: string[] = [];
      for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
        const frame = byId.get(node)!.callFrame;
        if (frame.url && !frame.url.startsWith('node:')) frames.push(`${frame.functionName || '(anonymous)'} ${where(frame.url)}`);
      }
      const mine = frames.find((frame) => / src\//.test(frame)) ?? frames.at(-1) ?? '(native)';
      stacks.set(mine, (stacks.get(mine) ?? 0) + 1);
    }
    const top3 = [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([frame, n]) => `${frame} (${n})`).join('; ');
    console.log(`  ${(stretch.us / 1000).toFixed(1)} ms at +${((stretch.startUs - profile.startTime) / 1e6).toFixed(2)} s: ${top3}`);
  }
}
