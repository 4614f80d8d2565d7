// A throwaway schema on the machine's PostgreSQL, so that runs never collide.
import { createPostgresAdapterFactory } from '../../src/db/database.ts';

export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function throwawaySchema(prefix = 'gateway_test'): Promise<{ url: string; drop(): Promise<void> }> {
  const schema = `${prefix}_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('schema', schema);
  return {
    url: url.toString(),
    async drop() {
      const connection = await createPostgresAdapterFactory(POSTGRES_URL).connect();
      try {
        await connection.executeScript(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await connection.dispose();
      }
    },
  };
}
