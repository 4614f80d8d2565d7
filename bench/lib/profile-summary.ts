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
