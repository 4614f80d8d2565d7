// Fails when a committed generated file no longer matches its source:
// schema.graphql (printed from the Pothos schema) and the typed REST operations
// (from codegen.ts). Fix with `npm run schema && npm run codegen`.
import { spawnSync } from 'node:child_process';

const run = (command: string, args: string[]) =>
  spawnSync(command, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' }).status === 0;

let fresh = run(process.execPath, ['scripts/print-schema.ts', '--check']);
if (!run('graphql-codegen', ['--config', 'codegen.ts', '--check', '--silent'])) {
  console.error('src/rest/operations.generated.ts is stale: run `npm run codegen` and commit the result.');
  fresh = false;
}
process.exit(fresh ? 0 : 1);
