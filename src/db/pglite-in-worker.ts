// The embedded database as the main thread uses it: PGlite running in a
// worker thread (./pglite-worker.ts), behind the part of PGlite's interface
// that the Prisma adapter and our own code call (query, exec, transaction,
// close). Each call is a message to the worker and its answer a message back,
// so a statement costs the main thread the copying of its parameters and rows,
// not the statement itself.
//
// Why not PGlite's own `@electric-sql/pglite/worker`: it is made for browser
// tabs (a leader elected with navigator.locks, queries sent over a
// BroadcastChannel to whichever tab leads), not for one Node worker thread.
import { Worker } from 'node:worker_threads';
import { messages, type PGlite, type QueryOptions, type Results, type Transaction } from '@electric-sql/pglite';
import { postBatch } from './post-batch.ts';
import type { WireError, WireQueryOptions, WorkerOptions, WorkerReady, WorkerRequest, WorkerResponse } from './pglite-worker.ts';

/** What the gateway uses of PGlite; an in-process PGlite offers the same. */
export type EmbeddedPGlite = Pick<PGlite, 'query' | 'exec' | 'transaction' | 'close'>;

/** Statements sent in one turn, answered together. */
type Group = { size: number; settled: Array<() => void> };
type Pending = { resolve: (value: unknown) => void; reject: (error: unknown) => void; group?: Group };
type Parsers = Record<number, ((text: string, typeId?: number) => unknown) | undefined>;
// Distributes over the union, so that each request keeps its own fields.
type Unsent<R> = R extends WorkerRequest ? Omit<R, 'id'> : never;

/** Opens the database at `dataDir` (in memory without one) in a worker thread; resolves once it is open. */
export async function openPGliteInWorker(options: WorkerOptions): Promise<EmbeddedPGlite> {
  const worker = new Worker(new URL('./pglite-worker.ts', import.meta.url), { workerData: options });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let nextSession = 1;
  let stopped: Error | undefined;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));

  // A worker that ends (or fails) leaves no caller waiting for an answer.
  const fail = (error: Error) => {
    stopped ??= error;
    for (const call of pending.values()) call.reject(stopped);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', () => fail(new Error('The embedded database is closed.')));

  await new Promise<void>((resolve, reject) => {
    worker.once('message', (message: WorkerReady) => (message.ready ? resolve() : reject(fromWire(message.error))));
    worker.once('error', reject);
    worker.once('exit', () => reject(stopped));
  });
  // Statements sent in the same turn are answered together, once the last of them is: in
  // process, PGlite ran them back to back and their callers went on in one turn, where Prisma
  // batches the findUniques of concurrent requests into one statement (40 messages at once:
  // 3 statements instead of 120), and a request makes the same statements whatever the timing.
  // Transactions are left out: a statement held for a sibling waiting on that transaction
  // would never be answered.
  const answered = (id: number, settle: (call: Pending) => void) => {
    const call = pending.get(id);
    if (!call) return;
    pending.delete(id);
    if (pending.size === 0) worker.unref();
    if (!call.group) return settle(call);
    call.group.settled.push(() => settle(call));
    if (call.group.settled.length === call.group.size) for (const each of call.group.settled) each();
  };
  worker.on('message', (answers: WorkerResponse[]) => {
    for (const { id, ...answer } of answers) {
      answered(id, answer.ok ? (call) => call.resolve(answer.value) : (call) => call.reject(fromWire(answer.error)));
    }
  });
  let turn: Group | undefined;
  // As with PGlite in process, an idle database keeps no process alive; one at work does,
  // or a process whose only work left is a statement would exit before its answer.
  worker.unref();

  function call<T>(request: Unsent<WorkerRequest>): Promise<T> {
    if (stopped) return Promise.reject(stopped);
    const id = nextId++;
    if (pending.size === 0) worker.ref();
    let group: Group | undefined;
    if ((request.op === 'query' || request.op === 'exec') && request.session === undefined) {
      if (!turn) {
        turn = { size: 0, settled: [] };
        setImmediate(() => (turn = undefined));
      }
      group = turn;
      group.size++;
    }
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject, group });
      if (outgoing.length === 0) process.nextTick(sendOutgoing);
      outgoing.push({ ...request, id } as WorkerRequest);
    });
  }

  // Requests made in the same tick (the statements a request sends at once, or those of
  // concurrent requests) go to the worker in one message: each message wakes the worker's
  // thread, which costs the sender more than copying the statements (43 µs a message on
  // this project's 2-core machine when the worker is idle, against 3 when it is busy).
  let outgoing: WorkerRequest[] = [];
  function sendOutgoing() {
    const batch = outgoing;
    outgoing = [];
    // A request that cannot be copied to the other thread fails alone, as the error it is.
    postBatch(worker, batch, (request, error) => answered(request.id, (call) => call.reject(error)));
  }

  const query = async <T>(session: number | undefined, sql: string, params?: unknown[], options?: QueryOptions) => {
    const result = await call<Results<T>>({ op: 'query', session, sql, params, options: wireOptions(options) });
    return parseRaw(result, options?.parsers);
  };
  const exec = async (session: number | undefined, sql: string, options?: QueryOptions) => {
    const results = await call<Results[]>({ op: 'exec', session, sql, options: wireOptions(options) });
    return results.map((result) => parseRaw(result, options?.parsers));
  };

  return {
    query: (sql, params, options) => query(undefined, sql, params, options),
    exec: (sql, options) => exec(undefined, sql, options),
    async transaction<T>(callback: (tx: Transaction) => Promise<T>): Promise<T> {
      // Not waited for: the worker runs the transaction's statements after its BEGIN, in the
      // order they were sent, so the first statement goes with it instead of a round trip later.
      // A BEGIN that fails fails them, and the end, with its error.
      const session = nextSession++;
      call({ op: 'begin', session }).catch(() => {});
      // As PGlite does, the callback runs after transaction() has returned its promise
      // (the Prisma adapter's callback refers to it).
      await Promise.resolve();
      let closed = false;
      const open = () => {
        if (closed) throw new Error('Transaction is closed');
      };
      const tx: Transaction = {
        query: async (sql, params, options) => (open(), query(session, sql, params, options)),
        sql: async (strings, ...params) => (open(), query(session, strings.reduce((text, part, i) => `${text}$${i}${part}`), params)),
        exec: async (sql, options) => (open(), exec(session, sql, options)),
        rollback: async () => {
          open();
          await call({ op: 'rollback', session });
          closed = true;
        },
        listen: () => Promise.reject(new Error('LISTEN is not available on the embedded database.')),
        get closed() {
          return closed;
        },
      };
      let result: T;
      try {
        result = await callback(tx);
      } catch (error) {
        closed = true;
        await call({ op: 'end', session, commit: false });
        throw error;
      }
      closed = true;
      await call({ op: 'end', session, commit: true });
      return result;
    },
    async close() {
      if (stopped) return;
      await call({ op: 'close' });
      // Its files are complete once the thread has ended: wait for that, whatever else is left to do.
      worker.ref();
      await exited;
    },
  };
}

/** The options that cross to the worker; the caller's own parsers run here, on the text of their columns. */
function wireOptions(options: QueryOptions | undefined): WireQueryOptions {
  if (options?.serializers || options?.blob || options?.onNotice) {
    throw new Error('The embedded database takes rowMode, parsers and paramTypes as query options, not serializers, blob or onNotice.');
  }
  return { rowMode: options?.rowMode, paramTypes: options?.paramTypes, rawTypes: options?.parsers && typesOf(options.parsers) };
}

// The Prisma adapter passes the same parsers with every statement.
const parsedTypes = new WeakMap<object, number[]>();
function typesOf(parsers: object): number[] {
  let types = parsedTypes.get(parsers);
  if (!types) parsedTypes.set(parsers, (types = Object.keys(parsers).map(Number)));
  return types;
}

function parseRaw<T>(result: Results<T>, parsers: QueryOptions['parsers']): Results<T> {
  if (!parsers) return result;
  const columns = result.fields.flatMap((field, index) => {
    const parse = (parsers as Parsers)[field.dataTypeID];
    return parse ? [{ index, name: field.name, type: field.dataTypeID, parse }] : [];
  });
  if (columns.length === 0) return result;
  for (const row of result.rows as Array<Record<string | number, unknown>>) {
    for (const { index, name, type, parse } of columns) {
      const key = Array.isArray(row) ? index : name;
      const text = row[key];
      if (text !== null && text !== undefined) row[key] = parse(text as string, type);
    }
  }
  return result;
}

/** PostgreSQL's errors become PGlite's DatabaseError again (SQLSTATE and all), which the Prisma adapter maps. */
function fromWire(error: WireError): Error {
  if (error.database) {
    return Object.assign(new messages.DatabaseError(error.message, error.database.length, error.name as ConstructorParameters<typeof messages.DatabaseError>[2]), error.database.fields);
  }
  const rebuilt = new Error(error.message);
  rebuilt.name = error.name;
  return rebuilt;
}
