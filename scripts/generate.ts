// Generates the Prisma client and the Pothos Prisma types into ./generated.
// Runs as the project's postinstall, offline: `prisma generate` uses WebAssembly,
// but the CLI looks for a schema-engine binary first; pointing it at any existing
// file stops it from trying (and failing) to download one.
import { spawnSync } from 'node:child_process';

const result = spawnSync('prisma', ['generate'], {
  stdio: ['ignore', 'ignore', 'inherit'],
  shell: process.platform === 'win32',
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  },
});
if (result.status !== 0) {
  console.error('prisma generate failed; see the messages above.');
  process.exit(result.status ?? 1);
}
