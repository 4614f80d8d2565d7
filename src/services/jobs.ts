// Background jobs stored in the database: they survive restarts, and a job is
// claimed with FOR UPDATE SKIP LOCKED so that several instances never run it
// twice. A job whose instance died (running, but locked long ago) is claimed
// again.
import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';

export type Job = Prisma.JobGetPayload<object>;
export type JobHandler = (job: Job) => Promise<void>;

/** A running job not finished within this long is taken to be abandoned. */
const ABANDONED_AFTER_MS = 10 * 60_000;
const MAX_ATTEMPTS = 3;

export function createJobQueue({ prisma }: { prisma: PrismaClient }) {
  const wakers = new Set<() => void>();

  return {
    async enqueue(job: { organizationId: string; kind: string; sourceId?: string }, db: Prisma.TransactionClient | PrismaClient = prisma) {
      const created = await db.job.create({ data: job });
      for (const wake of wakers) wake();
      return created;
    },

    /** Takes the next due job for this worker, or null. */
    async claim(workerId: string): Promise<Job | null> {
      const abandonedBefore = new Date(Date.now() - ABANDONED_AFTER_MS);
      const rows = await prisma.$queryRaw<Job[]>`
        UPDATE "Job" SET status = 'running', "lockedAt" = now(), "lockedBy" = ${workerId},
               attempts = attempts + 1, "updatedAt" = now()
        WHERE id = (
          SELECT id FROM "Job"
          WHERE (status = 'queued' AND "runAt" <= now())
             OR (status = 'running' AND "lockedAt" < ${abandonedBefore} AND attempts < ${MAX_ATTEMPTS})
          ORDER BY "runAt"
          FOR UPDATE SKIP LOCKED
          LIMIT 1
        )
        RETURNING *`;
      return rows[0] ?? null;
    },

    async complete(job: Job) {
      await prisma.job.updateMany({ where: { id: job.id, lockedBy: job.lockedBy }, data: { status: 'done', error: null } });
    },

    /** Retries later (with back-off) unless the job has used its attempts or the failure is final. */
    async fail(job: Job, error: string, final: boolean) {
      const retry = !final && job.attempts < MAX_ATTEMPTS;
      await prisma.job.updateMany({
        where: { id: job.id, lockedBy: job.lockedBy },
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
 * and wakes at once for jobs enqueued here.
 */
export function startJobWorker({
  queue,
  handlers,
  pollMs = 1000,
  concurrency = 1,
  onError = (error: unknown) => console.error('Job failed unexpectedly:', error),
}: {
  queue: JobQueue;
  handlers: Record<string, JobHandler>;
  pollMs?: number;
  concurrency?: number;
  onError?: (error: unknown) => void;
}) {
  const workerId = `${process.pid}-${randomUUID()}`;
  let stopped = false;
  const sleepers = new Set<() => void>();
  const wakeAll = () => {
    for (const wake of sleepers) wake();
  };
  const unsubscribe = queue.onEnqueue(wakeAll);

  async function loop() {
    while (!stopped) {
      let job: Job | null = null;
      try {
        job = await queue.claim(workerId);
        if (job) {
          const handler = handlers[job.kind];
          if (!handler) await queue.fail(job, `No handler for jobs of kind "${job.kind}".`, true);
          else {
            await handler(job);
            await queue.complete(job);
          }
          continue;
        }
      } catch (error) {
        if (stopped) return;
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

  const loops = Array.from({ length: concurrency }, () => loop());
  return {
    async stop() {
      stopped = true;
      unsubscribe();
      wakeAll();
      await Promise.allSettled(loops);
    },
  };
}
