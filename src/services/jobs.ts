// Background jobs stored in the database: they survive restarts, and a job is
// claimed with FOR UPDATE SKIP LOCKED so that one instance at a time runs it.
// A running job's lock is refreshed while it runs; one whose lock went stale
// (its instance died, or stalled for minutes) is queued again, or failed for
// good once it has used its attempts, so that nothing stays "processing"
// forever. An instance that stalled past the takeover may wake up and finish
// its run: ingestion writes its passages and its source's status only while it
// still holds the job (assertJobHeld, or completeWhileHeld, in the transaction
// that stores them; the status updates are conditional on it). Embedding again is harmless to repeat.
import { randomUUID } from 'node:crypto';
import { Prisma, type PrismaClient } from '../../generated/prisma/client.ts';
import { silentLogger, type Logger } from '../log.ts';

export type Job = Prisma.JobGetPayload<object>;
/**
 * Runs a job. One that marked its job done itself, in the transaction that stored its
 * results (completeWhileHeld), returns 'completed'; otherwise the worker marks it done.
 */
export type JobHandler = (job: Job) => Promise<void | 'completed'>;
/**
 * A job to run; `priority` 1 lets the jobs a person waits on (0, the default) go
 * first; `runAt` holds it back until then (or until released).
 */
export type NewJob = { organizationId: string; kind: string; sourceId?: string; priority?: number; runAt?: Date };

export const MAX_ATTEMPTS = 3;
/** A running job refreshes its lock this often... */
const HEARTBEAT_MS = 30_000;
/** ...and one whose lock is older than this is taken to be abandoned. */
const ABANDONED_AFTER_MS = 4 * HEARTBEAT_MS;
/** Finished jobs are kept this long (to see what ran when), then deleted, checked once an hour. */
const KEEP_DONE_MS = 7 * 24 * 3600_000;
const PRUNE_EVERY_MS = 3600_000;
const ABANDONED = Symbol('abandoned');
/** Why a job given up after its instances kept dying says so in its source's status. */
export const INTERRUPTED = `Processing was interrupted ${MAX_ATTEMPTS} times (the server stopped while working on it); it will not be retried on its own.`;

/** Thrown by a handler that finds its job no longer its own: taken over by another instance (its lock went stale), or deleted with its source. */
export class JobLostError extends Error {
  constructor(job: Job) {
    super(`Job ${job.id} is no longer this worker's (taken over, or deleted with its source); its results are discarded.`);
  }
}

/** The jobs still held by the worker that claimed `job`: none once it was taken over, finished or deleted. */
export function stillHeld(job: Job): Prisma.JobWhereInput {
  return { id: job.id, lockedBy: job.lockedBy, status: 'running' };
}

/**
 * Holds the job's lock to the end of the transaction, or throws JobLostError when
 * this worker no longer holds it: a handler calls it in the transaction that
 * stores its results, so that only one run's results are ever stored, even
 * when an instance that stalled for minutes wakes up after its job was taken over.
 */
export async function assertJobHeld(tx: Prisma.TransactionClient, job: Job) {
  // stillHeld, with the row lock that Prisma's filters cannot take.
  const held = await tx.$queryRaw<unknown[]>`
    SELECT 1 FROM "Job" WHERE id = ${job.id}::uuid AND "lockedBy" = ${job.lockedBy} AND status = 'running' FOR UPDATE`;
  if (held.length === 0) throw new JobLostError(job);
}

/** FROM and WHERE of an UPDATE "Job" j that touches those of `jobs` still running under the lock each was claimed with. */
function stillRunning(jobs: Job[]): Prisma.Sql {
  return Prisma.sql`
    FROM unnest(${jobs.map((job) => job.id)}::uuid[], ${jobs.map((job) => job.lockedBy)}::text[]) AS held(id, locked_by)
    WHERE j.id = held.id AND j."lockedBy" = held.locked_by AND j.status = 'running'`;
}

/**
 * Marks the jobs done in the transaction that stores their results, those this
 * worker still holds, and returns their ids: assertJobHeld and the jobs'
 * completion in one statement (the update holds the rows' locks to the end of
 * the transaction, as FOR UPDATE does). A job left out is no longer this
 * worker's (taken over, or deleted with its source): store nothing of its run.
 * A handler whose job was marked done this way returns 'completed'.
 */
export async function completeWhileHeld(tx: Prisma.TransactionClient, jobs: Job[]): Promise<Set<string>> {
  const done = await tx.$queryRaw<{ id: string }[]>`
    UPDATE "Job" j SET status = 'done', error = NULL, "updatedAt" = now()
    ${stillRunning(jobs)}
    RETURNING j.id::text AS id`;
  return new Set(done.map((row) => row.id));
}

/** Identifies this process in job locks: a restarted process, even with the same pid, is another one. */
const PROCESS_ID = `${process.pid}-${randomUUID()}`;

export function createJobQueue({ prisma }: { prisma: PrismaClient }) {
  const wakers = new Set<() => void>();

  return {
    async enqueue(job: NewJob, db: Prisma.TransactionClient | PrismaClient = prisma) {
      const created = await db.job.create({ data: job });
      for (const wake of wakers) wake();
      return created;
    },

    async enqueueMany(jobs: NewJob[]) {
      if (jobs.length === 0) return;
      await prisma.job.createMany({ data: jobs });
      for (const wake of wakers) wake();
    },

    /** Makes a job held back by `runAt` due now. */
    async release(job: Job) {
      await prisma.job.updateMany({ where: { id: job.id, status: 'queued' }, data: { runAt: new Date() } });
      for (const wake of wakers) wake();
    },

    /**
     * Takes the next due job for this worker, or null. Organizations take turns:
     * among the due jobs of the best priority, those of the organization with
     * the fewest jobs running (on any instance) go first, then of the one served
     * least recently, so that one organization's thirty uploads queue behind
     * each other and not in front of everyone else's; within an organization,
     * oldest first.
     */
    async claim(workerId: string): Promise<Job | null> {
      // `turn` is MATERIALIZED so that each waiting organization's standing is read once: inlined,
      // the planner read it again for every due job (300 Q&A pairs queued: 14 ms per claim, more
      // than ingesting the pair; 0.5 ms this way).
      const rows = await prisma.$queryRaw<Job[]>`
        WITH waiting AS (
          SELECT DISTINCT "organizationId" FROM "Job" WHERE status = 'queued' AND "runAt" <= now()
        ), turn AS MATERIALIZED (
          SELECT w."organizationId",
                 (SELECT count(*) FROM "Job" r WHERE r."organizationId" = w."organizationId" AND r.status = 'running') AS running,
                 (SELECT max(r."lockedAt") FROM "Job" r WHERE r."organizationId" = w."organizationId") AS served
          FROM waiting w
        )
        UPDATE "Job" SET status = 'running', "lockedAt" = now(), "lockedBy" = ${workerId},
               attempts = attempts + 1, "updatedAt" = now()
        WHERE id = (
          SELECT j.id FROM "Job" j JOIN turn t ON t."organizationId" = j."organizationId"
          WHERE j.status = 'queued' AND j."runAt" <= now()
          ORDER BY j.priority, t.running, t.served NULLS FIRST, j."runAt"
          FOR UPDATE OF j SKIP LOCKED
          LIMIT 1
        )
        RETURNING *`;
      return rows[0] ?? null;
    },

    /**
     * Claims, for the worker holding `job`, up to `max` more due jobs of the same
     * kind and organization whose sources are of `sourceKind`, best priority then
     * oldest first: jobs so small that running them one by one costs more than
     * the work (Q&A pairs) are run together. The organization's turn is the one
     * `job` was claimed in; the batch is short enough not to hold others up.
     */
    async claimAlongside(job: Job, { sourceKind, max }: { sourceKind: string; max: number }): Promise<Job[]> {
      if (max <= 0 || !job.lockedBy) return [];
      return prisma.$queryRaw<Job[]>`
        UPDATE "Job" SET status = 'running', "lockedAt" = now(), "lockedBy" = ${job.lockedBy},
               attempts = attempts + 1, "updatedAt" = now()
        WHERE id IN (
          SELECT j.id FROM "Job" j JOIN "KnowledgeSource" s ON s.id = j."sourceId"
          WHERE j."organizationId" = ${job.organizationId}::uuid AND j.kind = ${job.kind} AND s.kind = ${sourceKind}
            AND j.status = 'queued' AND j."runAt" <= now()
          ORDER BY j.priority, j."runAt"
          FOR UPDATE OF j SKIP LOCKED
          LIMIT ${max}
        )
        RETURNING *`;
    },

    /**
     * Gives back jobs claimed alongside one whose run failed: queued again at once,
     * the cut-short run not counted as an attempt (they did not fail themselves).
     * Only those still running under this worker's lock.
     */
    async giveBack(jobs: Job[]) {
      if (jobs.length === 0) return;
      await prisma.$executeRaw`
        UPDATE "Job" j SET status = 'queued', "lockedAt" = NULL, "lockedBy" = NULL, "runAt" = now(),
               attempts = GREATEST(j.attempts - 1, 0), "updatedAt" = now()
        ${stillRunning(jobs)}`;
      for (const wake of wakers) wake();
    },

    /** Tells other instances that the job is still being worked on. */
    async heartbeat(job: Job) {
      await prisma.job.updateMany({ where: stillHeld(job), data: { lockedAt: new Date() } });
    },

    /**
     * Takes back running jobs whose instance is gone: those locked by another
     * process (with an embedded database, which one process owns, every such
     * job was interrupted) or those whose lock went stale. Each is queued again,
     * or failed once it has used its attempts; the failed ones are returned.
     */
    async recover(abandoned: { byOtherProcesses: true } | { lockedBefore: Date }): Promise<Job[]> {
      const which =
        'byOtherProcesses' in abandoned
          ? Prisma.sql`coalesce("lockedBy", '') NOT LIKE ${`${PROCESS_ID}:%`}`
          : Prisma.sql`"lockedAt" < ${abandoned.lockedBefore}`;
      const rows = await prisma.$queryRaw<Job[]>`
        UPDATE "Job" SET
          status = CASE WHEN attempts < ${MAX_ATTEMPTS} THEN 'queued' ELSE 'failed' END,
          error = CASE WHEN attempts < ${MAX_ATTEMPTS} THEN error ELSE ${INTERRUPTED} END,
          "lockedAt" = NULL, "lockedBy" = NULL, "runAt" = now(), "updatedAt" = now()
        WHERE id IN (SELECT id FROM "Job" WHERE status = 'running' AND ${which} FOR UPDATE SKIP LOCKED)
        RETURNING *`;
      if (rows.some((job) => job.status === 'queued')) for (const wake of wakers) wake();
      return rows.filter((job) => job.status === 'failed');
    },

    /**
     * Gives back the jobs this process is running (it is stopping): queued
     * again at once for any instance to take, without counting the cut-short
     * run as an attempt. A run still going on finds its job gone at its next
     * write (JobLostError) and stores nothing.
     */
    async releaseHeld(): Promise<number> {
      const count = await prisma.$executeRaw`
        UPDATE "Job" SET status = 'queued', "lockedAt" = NULL, "lockedBy" = NULL, "runAt" = now(),
               attempts = GREATEST(attempts - 1, 0), "updatedAt" = now()
        WHERE status = 'running' AND starts_with("lockedBy", ${`${PROCESS_ID}:`})`;
      return count;
    },

    /** Deletes jobs that finished well before `before`; failed ones stay as a record of what went wrong. */
    async prune(before: Date) {
      await prisma.job.deleteMany({ where: { status: 'done', updatedAt: { lt: before } } });
    },

    async complete(job: Job) {
      await prisma.job.updateMany({ where: { id: job.id, lockedBy: job.lockedBy }, data: { status: 'done', error: null } });
    },

    /**
     * Retries later (with back-off) unless the job has used its attempts or the failure is final.
     * A job its handler already marked done (completeWhileHeld) stays done.
     */
    async fail(job: Job, error: string, final: boolean) {
      const retry = !final && job.attempts < MAX_ATTEMPTS;
      await prisma.job.updateMany({
        where: { id: job.id, lockedBy: job.lockedBy, status: 'running' },
        data: retry
          ? { status: 'queued', error, lockedAt: null, lockedBy: null, runAt: new Date(Date.now() + 2 ** job.attempts * 1000) }
          : { status: 'failed', error },
      });
      return retry;
    },

    /** Called when a job is enqueued in this process, so idle workers start at once instead of at their next poll. */
    onEnqueue(wake: () => void) {
      wakers.add(wake);
      return () => wakers.delete(wake);
    },
  };
}

export type JobQueue = ReturnType<typeof createJobQueue>;

/**
 * Runs jobs until stopped: polls for due jobs (other instances enqueue too),
 * and wakes at once for jobs enqueued here. With an embedded database, which
 * this process alone opens, jobs still running from an earlier process are
 * taken back at start; with a shared one, stale jobs are looked for as it goes.
 * Jobs done over a week ago are deleted, so that the table does not grow for good.
 */
export function startJobWorker({
  queue,
  handlers,
  pollMs = 1000,
  concurrency = 1,
  exclusiveDatabase = false,
  onGiveUp = async () => {},
  logger = silentLogger,
  onError = (error: unknown) => logger.error({ err: error }, 'Job failed unexpectedly.'),
}: {
  queue: JobQueue;
  handlers: Record<string, JobHandler>;
  pollMs?: number;
  concurrency?: number;
  exclusiveDatabase?: boolean;
  /** Called for a job failed for good because its instances kept dying (its handler could not say so itself). */
  onGiveUp?: (job: Job, reason: string) => Promise<void>;
  /** Where failures and jobs lost to another instance are told. */
  logger?: Logger;
  onError?: (error: unknown) => void;
}) {
  let stopped = false;
  const sleepers = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of sleepers) wake();
  };
  const unsubscribe = queue.onEnqueue(wakeAll);

  let lastRecovery = 0;
  let lastPrune = 0;
  async function maintain(first: boolean) {
    if (first || (!exclusiveDatabase && Date.now() - lastRecovery >= HEARTBEAT_MS)) {
      lastRecovery = Date.now();
      const givenUp = await queue.recover(exclusiveDatabase ? { byOtherProcesses: true } : { lockedBefore: new Date(Date.now() - ABANDONED_AFTER_MS) });
      for (const job of givenUp) await onGiveUp(job, INTERRUPTED);
    }
    if (Date.now() - lastPrune >= PRUNE_EVERY_MS) {
      lastPrune = Date.now();
      // Only costs space when it fails: never in the way of recovery or of running jobs.
      await queue.prune(new Date(Date.now() - KEEP_DONE_MS)).catch(onError);
    }
  }
  const recovered = maintain(true).catch(onError);

  async function run(job: Job) {
    const handler = handlers[job.kind];
    if (!handler) return void (await queue.fail(job, `No handler for jobs of kind "${job.kind}".`, true));
    const beat = setInterval(() => void queue.heartbeat(job).catch(onError), HEARTBEAT_MS);
    beat.unref();
    let outcome: void | 'completed';
    try {
      outcome = await handler(job);
    } finally {
      clearInterval(beat);
    }
    if (outcome !== 'completed') await queue.complete(job);
  }

  async function loop() {
    await recovered;
    const workerId = `${PROCESS_ID}:${randomUUID()}`;
    while (!stopped) {
      let job: Job | null = null;
      try {
        await maintain(false);
        job = await queue.claim(workerId);
        // Claimed while stopping: given back with the others (stop releases every job this process holds).
        if (job && stopped) return;
        if (job) {
          const running = run(job);
          running.catch(() => {}); // when abandoned below, its failure (it lost its job) matters to no one
          // Stopping does not wait for a run: its job is given back, and the run stores nothing once it is not its own.
          if ((await Promise.race([running, abandoned.promise])) === ABANDONED) return;
          continue;
        }
      } catch (error) {
        if (stopped) return;
        if (error instanceof JobLostError) {
          logger.warn(error.message); // the instance that took it over finishes it, if anyone
          continue;
        }
        if (job) await queue.fail(job, (error as Error).message ?? String(error), false).catch(onError);
        onError(error);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          sleepers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, pollMs);
        timer.unref();
        sleepers.add(wake);
      });
    }
  }

  const abandoned = Promise.withResolvers<typeof ABANDONED>();
  const loops = Array.from({ length: concurrency }, () => loop());
  return {
    /**
     * Takes no new job and gives back the ones running (queued again at once,
     * for another instance to take), without waiting for their runs: a run
     * finds its job gone at its next write (JobLostError) and stores nothing.
     */
    async stop() {
      stopped = true;
      unsubscribe();
      wakeAll();
      abandoned.resolve(ABANDONED);
      await Promise.allSettled(loops);
      await queue.releaseHeld().catch(onError);
    },
  };
}
