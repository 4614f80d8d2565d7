// Replies being generated are stored as they grow, so that a process killed
// mid-reply (kill -9, a crash, a power cut) leaves the reply so far behind.
// A reply's row is created with status "streaming" when generation starts;
// this module writes the content of every reply this process is streaming in
// one statement about once a second (never one write per token: each statement
// costs the main thread its query's building and a round trip, even with
// PGlite in its worker thread), and the chat service finishes the
// row as before. The same writes are the replies' heartbeat: a streaming row
// that has stopped changing lost its process, and recovery marks it
// "incomplete", the status of any reply cut short.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { silentLogger, type Logger } from '../log.ts';

/** How often the content of streaming replies is written: how far behind a hard kill leaves them, at most about. */
export const SAVE_INTERVAL_MS = 1_000;
/** A reply whose content has not changed is written anyway this often, so its row shows its process is alive. */
const HEARTBEAT_MS = 10_000;
/**
 * A streaming row not written for this long belongs to a process that died
 * (with PostgreSQL, where other live instances may be streaming). Several
 * heartbeats, so a busy database does not end replies that are alive.
 */
export const STALE_AFTER_MS = 45_000;
/**
 * Replies written per statement: many replies are saved in several short
 * statements, with other work (tokens to relay) between them, rather than one
 * long one that would hold up the database's other statements.
 */
const SAVE_BATCH = 20;
/** How often an instance on a shared database looks for replies left by dead instances. */
const SWEEP_INTERVAL_MS = 30_000;

export const INTERRUPTED_ERROR = 'The server stopped before the reply was finished.';

type Tracked = { content: () => string; saved: string; savedAt: number };

export type StreamingReplies = {
  /**
   * Saves a streaming reply's content, read through `content`, until the
   * returned function is called (call it before the final write). The row
   * must exist with status "streaming".
   */
  track(id: string, content: () => string): () => void;
  /** The content so far of a reply this process is streaming, ahead of what is stored; undefined for others. */
  current(id: string): string | undefined;
  /** Writes what has changed now; resolves once written. */
  flush(): Promise<void>;
  /**
   * Stops the timer after a last write, and marks the replies still tracked
   * (their generation outlived the shutdown's wait) incomplete, so that none
   * stays "streaming".
   */
  close(): Promise<void>;
};

export function createStreamingReplies({
  prisma,
  intervalMs = SAVE_INTERVAL_MS,
  logger = silentLogger,
  onError = (error) => logger.error({ err: error }, 'Saving streaming replies failed (retried in a second).'),
}: {
  prisma: PrismaClient;
  intervalMs?: number;
  logger?: Logger;
  onError?: (error: unknown) => void;
}): StreamingReplies {
  const tracked = new Map<string, Tracked>();
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;

  async function write() {
    const due: Array<[string, Tracked]> = [];
    const now = Date.now();
    for (const [id, reply] of tracked) {
      if (reply.content() !== reply.saved || now - reply.savedAt >= HEARTBEAT_MS) due.push([id, reply]);
    }
    for (let start = 0; start < due.length; start += SAVE_BATCH) {
      if (start > 0) await nextTurn();
      const batch = due.slice(start, start + SAVE_BATCH);
      // Read now, not when the pass began: the content grew while earlier batches were written.
      const contents = batch.map(([, reply]) => reply.content());
      // A row already finished (or ended by recovery) keeps its final state: only streaming rows are written.
      // Neither column written is indexed, so PostgreSQL can update the rows in place (HOT), touching no index.
      await prisma.$executeRaw`
        UPDATE "Message" AS m SET content = r.content, "updatedAt" = now()
        FROM unnest(${batch.map(([id]) => id)}::uuid[], ${contents}::text[]) AS r(id, content)
        WHERE m.id = r.id AND m.status = 'streaming'`;
      const savedAt = Date.now();
      batch.forEach(([, reply], i) => {
        reply.saved = contents[i];
        reply.savedAt = savedAt;
      });
    }
  }

  /** One write at a time: a slow database makes the saves less frequent rather than piling them up. */
  function flush(): Promise<void> {
    writing ??= write()
      .catch(onError)
      .finally(() => (writing = undefined));
    return writing;
  }

  return {
    track(id, content) {
      tracked.set(id, { content, saved: '', savedAt: Date.now() });
      if (!timer) {
        timer = setInterval(() => void flush(), intervalMs);
        timer.unref();
      }
      return () => {
        tracked.delete(id);
        if (tracked.size === 0 && timer) {
          clearInterval(timer);
          timer = undefined;
        }
      };
    },
    current(id) {
      return tracked.get(id)?.content();
    },
    flush,
    async close() {
      await flush();
      await writing;
      if (timer) clearInterval(timer);
      timer = undefined;
      if (tracked.size > 0) {
        await prisma.message
          .updateMany({ where: { id: { in: [...tracked.keys()] }, status: 'streaming' }, data: { status: 'incomplete', error: INTERRUPTED_ERROR } })
          .catch(onError);
      }
    },
  };
}

/**
 * Marks replies left "streaming" by a process that died as "incomplete",
 * keeping the content they had. With `startedBefore`, every streaming reply
 * created before then (PGlite: the folder is this process's alone, so any
 * such reply is a dead process's); otherwise those not written for
 * STALE_AFTER_MS (PostgreSQL: another live instance may be streaming).
 * Returns how many were marked.
 */
export async function endInterruptedReplies(prisma: PrismaClient, scope: { startedBefore: Date } | { stale: true }): Promise<number> {
  if ('startedBefore' in scope) {
    const { count } = await prisma.message.updateMany({
      where: { status: 'streaming', createdAt: { lt: scope.startedBefore } },
      data: { status: 'incomplete', error: INTERRUPTED_ERROR },
    });
    return count;
  }
  // On the database's clock, as the saves write it: instances' clocks may differ.
  return prisma.$executeRaw`
    UPDATE "Message" SET status = 'incomplete', error = ${INTERRUPTED_ERROR}, "updatedAt" = now()
    WHERE status = 'streaming' AND "updatedAt" < now() - make_interval(secs => ${STALE_AFTER_MS / 1000}::float8)`;
}

/**
 * Ends the replies of dead processes: at once, then (on a shared database)
 * every SWEEP_INTERVAL_MS, since an instance may die while others run on.
 * `ready` resolves after the first pass.
 */
export function startReplyRecovery({ prisma, exclusiveDatabase, logger }: {
  prisma: PrismaClient;
  logger: Pick<Logger, 'info' | 'error'>;
  /** PGlite: no other process uses the database, so every streaming reply from before this start is a dead one's. */
  exclusiveDatabase: boolean;
}): { ready: Promise<void>; stop(): void } {
  const startedAt = new Date();
  const report = (count: number) => {
    if (count > 0) logger.info({ replies: count }, `Marked ${count} ${count === 1 ? 'reply' : 'replies'} left streaming by a stopped process as incomplete.`);
  };
  const onError = (error: unknown) => logger.error({ err: error }, 'Ending replies left streaming by a stopped process failed (tried again later).');
  const ready = endInterruptedReplies(prisma, exclusiveDatabase ? { startedBefore: startedAt } : { stale: true }).then(report, onError);
  let timer: NodeJS.Timeout | undefined;
  if (!exclusiveDatabase) {
    timer = setInterval(() => void endInterruptedReplies(prisma, { stale: true }).then(report, onError), SWEEP_INTERVAL_MS);
    timer.unref();
  }
  return {
    ready,
    stop: () => clearInterval(timer),
  };
}

