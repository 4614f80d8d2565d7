// Readiness (/readyz): whether this instance can do its work, not merely run
// (that is /healthz). It checks what a reply needs: the database answers, every
// migration shipped with this version is applied, and Ollama answers with the
// configured chat and embedding models pulled. A failing check names what is
// missing and how to fix it.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Llm } from '../llm/ollama.ts';

export type Check = { name: 'database' | 'migrations' | 'ollama'; ok: boolean; detail: string };

const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '../../prisma/migrations');
/** A readiness probe must answer before the orchestrator's own timeout, even when Ollama hangs. */
const CHECK_TIMEOUT_MS = 3_000;

/** Whether Ollama's name for a pulled model is the configured one (a name without a tag means `:latest`). */
const isModel = (pulled: string, configured: string) => pulled === configured || pulled === `${configured}:latest`;

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createReadiness({ prisma, llm, ollamaHost, models }: { prisma: PrismaClient; llm: Llm; ollamaHost: string; models: string[] }) {
  const shipped = readdir(MIGRATIONS_DIR, { withFileTypes: true }).then((entries) =>
    entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name),
  );

  async function database(): Promise<Check[]> {
    try {
      const applied = await withTimeout(
        prisma.$queryRaw<{ name: string }[]>`
          SELECT migration_name AS name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
        'The database',
      );
      const names = new Set(applied.map((row) => row.name));
      const missing = (await shipped).filter((name) => !names.has(name));
      return [
        { name: 'database', ok: true, detail: 'The database answers.' },
        missing.length === 0
          ? { name: 'migrations', ok: true, detail: 'Every migration is applied.' }
          : { name: 'migrations', ok: false, detail: `Migrations not applied: ${missing.join(', ')}. Restart the gateway to apply them.` },
      ];
    } catch (error) {
      const detail = `The database cannot be queried (${(error as Error).message}). Check DATABASE_URL and that the database server runs.`;
      return [{ name: 'database', ok: false, detail }, { name: 'migrations', ok: false, detail: 'Unknown until the database answers.' }];
    }
  }

  async function ollama(): Promise<Check> {
    try {
      const pulled = await withTimeout(llm.listModels(), `Ollama at ${ollamaHost}`);
      const missing = models.filter((model) => !pulled.some((name) => isModel(name, model)));
      if (missing.length === 0) return { name: 'ollama', ok: true, detail: `Ollama answers with ${models.join(' and ')} pulled.` };
      return { name: 'ollama', ok: false, detail: `Ollama at ${ollamaHost} lacks ${missing.join(' and ')}: run ${missing.map((m) => `\`ollama pull ${m}\``).join(' and ')}.` };
    } catch (error) {
      return { name: 'ollama', ok: false, detail: (error as Error).message };
    }
  }

  return {
    async check(): Promise<{ ready: boolean; checks: Check[] }> {
      const checks = (await Promise.all([database(), ollama()])).flat();
      return { ready: checks.every((check) => check.ok), checks };
    },
  };
}

export type Readiness = ReturnType<typeof createReadiness>;
