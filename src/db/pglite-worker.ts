// The embedded database's own thread. PGlite is PostgreSQL compiled to
// WebAssembly: every statement runs synchronously on the thread that calls
// it. On the gateway's main thread each one held up every token being relayed
// meanwhile (at 100 concurrent chats, a third of that thread's time went to
// PGlite). Here the statements run beside the event loop; the main thread's
// end is ./pglite-in-worker.ts, which speaks the messages below.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, messages, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { postBatch } from './post-batch.ts';

/** Options of a statement that can cross threads; `rawTypes` are the column types the caller parses itself. */
export type WireQueryOptions = { rowMode?: 'array' | 'object'; paramTypes?: number[]; rawTypes?: number[] };

/** `session`: a transaction begun by `begin`, whose statements must run inside it. */
export type WorkerRequest =
  | { id: number; op: 'query'; session?: number; sql: string; params?: unknown[]; options: WireQueryOptions }
  | { id: number; op: 'exec'; session?: number; sql: string; options: WireQueryOptions }
  /** Opens transaction `session`; the caller does not wait for it before sending the session's statements. */
  | { id: number; op: 'begin'; session: number }
  /** The transaction's own rollback(): it stays open, closed, until `end`. */
  | { id: number; op: 'rollback'; session: number }
  /** Commits (unless rolled back already) or rolls back, as PGlite's transaction() does when its callback settles. */
  | { id: number; op: 'end'; session: number; commit: boolean }
  | { id: number; op: 'close' };

/** A PostgreSQL error keeps its SQLSTATE and fields (`database`), so the other end can rebuild it as PGlite's DatabaseError. */
export type WireError = { name: string; message: string; database?: { length: number; fields: Record<string, unknown> } };

export type WorkerResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

/** The first message: the database is open, or could not be. */
export type WorkerReady = { ready: true } | { ready: false; error: WireError };

export type WorkerOptions = { dataDir?: string };

type Session = {
  /** Settles once BEGIN has run: the session's statements wait for it. */
  tx: Promise<Transaction>;
  /** Settles the callback of PGlite's transaction(): resolved commits, rejected rolls back. */
  finish: PromiseWithResolvers<void>;
  /** PGlite's transaction() itself: settles after COMMIT or ROLLBACK. */
  done: Promise<void>;
  /** The session's requests one after the other, in the order they were sent. */
  last: Promise<unknown>;
};

const ROLLED_BACK = new Error('rolled back');

export function toWireError(error: unknown): WireError {
  if (error instanceof messages.DatabaseError) {
    // PGlite adds the statement's options, parsers (functions) included, which cannot cross threads.
    const { name, message, length, queryOptions, ...fields } = error as messages.DatabaseError & { queryOptions?: unknown };
    return { name, message, database: { length, fields } };
  }
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'Error', message: String(error) };
}

/** Column types the caller parses itself come back as the text PostgreSQL sent. */
function parsersFor(rawTypes: number[] | undefined) {
  if (!rawTypes?.length) return undefined;
  return Object.fromEntries(rawTypes.map((type) => [type, (text: string) => text]));
}

function queryOptions({ rowMode, paramTypes, rawTypes }: WireQueryOptions) {
  return { rowMode, paramTypes, parsers: parsersFor(rawTypes) };
}

async function serve(pg: PGlite, port: NonNullable<typeof parentPort>) {
  const sessions = new Map<number, Session>();

  function begin(id: number): Promise<unknown> {
    const opened = Promise.withResolvers<Transaction>();
    const finish = Promise.withResolvers<void>();
    const done = pg.transaction(async (tx) => {
      opened.resolve(tx);
      await finish.promise;
    });
    done.catch((error: unknown) => opened.reject(error));
    // Registered at once: statements that arrive before BEGIN has run queue behind it.
    sessions.set(id, { tx: opened.promise, finish, done, last: opened.promise });
    return opened.promise.then(() => undefined);
  }

  async function end(session: Session, id: number, commit: boolean) {
    sessions.delete(id);
    if (commit) session.finish.resolve();
    else session.finish.reject(ROLLED_BACK);
    await session.done.catch((error: unknown) => {
      if (error !== ROLLED_BACK) throw error;
    });
  }

  function run(request: WorkerRequest): Promise<unknown> {
    switch (request.op) {
      case 'begin':
        return begin(request.session);
      case 'close':
        return pg.close();
      case 'query':
      case 'exec':
      case 'rollback':
      case 'end': {
        const sessionId = 'session' in request ? request.session : undefined;
        if (sessionId === undefined) {
          if (request.op === 'query') return pg.query(request.sql, request.params, queryOptions(request.options));
          if (request.op === 'exec') return pg.exec(request.sql, queryOptions(request.options));
          throw new Error(`${request.op} needs a transaction.`);
        }
        const session = sessions.get(sessionId);
        if (!session) return Promise.reject(new Error('Transaction is closed'));
        const step = async (): Promise<unknown> => {
          if (request.op === 'end') return end(session, sessionId, request.commit);
          // A transaction whose BEGIN failed has nothing to roll back (the Prisma adapter asks
          // without waiting for the answer, so a failure here would go unhandled); its
          // statements and its end fail with BEGIN's error.
          if (request.op === 'rollback') return session.tx.then((tx) => tx.rollback(), () => undefined);
          const tx = await session.tx;
          switch (request.op) {
            case 'query':
              return tx.query(request.sql, request.params, queryOptions(request.options));
            default:
              return tx.exec(request.sql, queryOptions(request.options));
          }
        };
        const result = session.last.then(step, step);
        session.last = result.catch(() => {});
        return result;
      }
    }
  }

  // Answers go back together, once the statements that were waiting have run (setImmediate
  // follows the turn that handled the requests): the other end then resolves them in one turn,
  // so that what their callers ask next falls in one tick too, where Prisma batches the
  // findUniques of concurrent requests into one statement (40 messages at once: 3 statements
  // instead of 120). Alone, a statement's answer waits for nothing.
  let answers: WorkerResponse[] = [];
  let closing = false;
  const flush = () => {
    const batch = answers;
    answers = [];
    // An answer that cannot be copied to the other thread still answers, as the error it is.
    postBatch(port, batch, (answer, error) => port.postMessage([{ id: answer.id, ok: false, error: toWireError(error) } satisfies WorkerResponse]));
    // Closed: nothing keeps the thread alive any more, so it ends.
    if (closing) port.close();
  };
  const answer = (response: WorkerResponse) => {
    if (answers.length === 0) setImmediate(flush);
    answers.push(response);
  };

  // Requests come in batches: those the other end made in the same tick, in order.
  port.on('message', (requests: WorkerRequest[]) => {
    for (const request of requests) receive(request);
  });
  function receive(request: WorkerRequest) {
    // run() is called now, not in a later tick: a BEGIN registers its session before the
    // session's first statement, sent right behind it, looks for it.
    let running: Promise<unknown>;
    try {
      running = run(request);
    } catch (error) {
      running = Promise.reject(error);
    }
    running
      .then(
        (value) => answer({ id: request.id, ok: true, value }),
        (error: unknown) => answer({ id: request.id, ok: false, error: toWireError(error) }),
      )
      .then(() => {
        if (request.op === 'close') closing = true;
      });
  }
}

if (parentPort) {
  const port = parentPort;
  const { dataDir } = workerData as WorkerOptions;
  try {
    // pgvector ships as a PGlite extension; loaded here, enabled by src/knowledge/vectors.ts.
    const pg = await PGlite.create({ dataDir, extensions: { vector } });
    await serve(pg, port);
    port.postMessage({ ready: true } satisfies WorkerReady);
  } catch (error) {
    port.postMessage({ ready: false, error: toWireError(error) } satisfies WorkerReady);
    port.close();
  }
}
