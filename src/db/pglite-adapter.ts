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
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';

/** A factory for `new PrismaClient({ adapter })` and for the schema engine. It never closes `pg`. */
export function createPGliteAdapterFactory(pg: PGlite): SqlMigrationAwareDriverAdapterFactory {
  const inner = new PrismaPGlite(pg);
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
  pg: PGlite,
  dispose: () => Promise<void>,
): SqlDriverAdapter {
  return {
    provider: adapter.provider,
    adapterName: adapter.adapterName,
    queryRaw: (query) => adapter.queryRaw(query),
    executeRaw: (query) => adapter.executeRaw(query),
    startTransaction: (isolationLevel) => adapter.startTransaction(isolationLevel),
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
