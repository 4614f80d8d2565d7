// A Prisma driver adapter factory over PGlite, for the Prisma client and for the WASM schema
// engine alike. It wraps pglite-prisma-adapter (0.7.2) to mend two faults that matter when
// migrating:
// - its executeScript does not await `exec()`, so a failing migration is recorded as applied
//   and the error surfaces later as an unhandled rejection;
// - its shadow database (used to diff migrations) is an in-memory PGlite that is never closed.
import { PGlite, messages } from '@electric-sql/pglite';
import {
  DriverAdapterError,
  type SqlDriverAdapter,
  type Transaction,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { EmbeddedPGlite } from './pglite-in-worker.ts';

let demand = 0;

/**
 * How many statements and transactions, from any caller, are waiting for or
 * running on an embedded database right now. Background work gives way only
 * while someone else wants the database (src/knowledge/pacing.ts); alone, it
 * runs at full speed.
 */
export function embeddedDatabaseDemand(): number {
  return demand;
}

/** Counts `work` in the demand from when it is asked until it settles. */
async function counted<T>(work: () => Promise<T>): Promise<T> {
  demand++;
  try {
    return await work();
  } finally {
    demand--;
  }
}

/** A transaction counts as demand from its start to its commit or rollback: it holds the database throughout. */
function countedTransaction(start: Promise<Transaction>): Promise<Transaction> {
  demand++;
  let ended = false;
  const end = () => {
    if (!ended) demand--;
    ended = true;
  };
  return start.then(
    (tx) =>
      new Proxy(tx, {
        get(target, property) {
          if (property === 'commit' || property === 'rollback') return () => target[property]().finally(end);
          const value = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
    (error) => {
      end();
      throw error;
    },
  );
}

/**
 * A factory for `new PrismaClient({ adapter })` and for the schema engine, over PGlite in a
 * worker or in process. It never closes `pg`.
 */
export function createPGliteAdapterFactory(pg: EmbeddedPGlite): SqlMigrationAwareDriverAdapterFactory {
  // pglite-prisma-adapter 0.7.2 calls only query (rowMode and parsers), exec and transaction on it.
  const inner = new PrismaPGlite(pg as PGlite);
  return {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: async () => withAwaitedScripts(await inner.connect(), pg, async () => {}),
    connectToShadowDb: async () => {
      const shadow = await PGlite.create();
      const adapter = await new PrismaPGlite(shadow).connect();
      return withAwaitedScripts(adapter, shadow, () => shadow.close());
    },
  };
}

function withAwaitedScripts(
  adapter: SqlDriverAdapter,
  pg: EmbeddedPGlite,
  dispose: () => Promise<void>,
): SqlDriverAdapter {
  return {
    provider: adapter.provider,
    adapterName: adapter.adapterName,
    queryRaw: (query) => counted(() => adapter.queryRaw(query)),
    executeRaw: (query) => counted(() => adapter.executeRaw(query)),
    startTransaction: (isolationLevel) => countedTransaction(adapter.startTransaction(isolationLevel)),
    getConnectionInfo: () => adapter.getConnectionInfo?.() ?? { supportsRelationJoins: true },
    async executeScript(script) {
      try {
        await pg.exec(script);
      } catch (error) {
        throw toDriverAdapterError(error);
      }
    },
    dispose,
  };
}

// A Postgres error handed over in this shape reaches the engine with its SQLSTATE and message,
// so a failed migration reports the SQL error itself rather than an opaque "External error".
function toDriverAdapterError(error: unknown): unknown {
  if (!(error instanceof messages.DatabaseError)) return error;
  return new DriverAdapterError({
    kind: 'postgres',
    code: error.code ?? 'N/A',
    severity: error.severity ?? 'N/A',
    message: error.message,
    detail: error.detail,
    column: error.column,
    hint: error.hint,
  });
}
