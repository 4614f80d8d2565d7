import type { TestApp } from './app.ts';

/**
 * The statements the embedded database runs while `work` runs: the SQL of each query, the
 * script of each exec, and "BEGIN" for each transaction (whose own statements are not counted).
 */
export async function statementsDuring<T>(t: TestApp, work: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const pglite = t.db.pglite!;
  const original = { query: pglite.query, exec: pglite.exec, transaction: pglite.transaction };
  const statements: string[] = [];
  pglite.query = ((sql: string, ...rest: unknown[]) => (statements.push(sql), original.query.call(pglite, sql, ...(rest as [])))) as typeof pglite.query;
  pglite.exec = ((sql: string, ...rest: unknown[]) => (statements.push(sql), original.exec.call(pglite, sql, ...(rest as [])))) as typeof pglite.exec;
  pglite.transaction = ((...args: Parameters<typeof pglite.transaction>) => (statements.push('BEGIN'), original.transaction.apply(pglite, args))) as typeof pglite.transaction;
  try {
    return { result: await work(), statements };
  } finally {
    Object.assign(pglite, original);
  }
}
