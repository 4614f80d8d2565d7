// What a gateway does besides answering requests: on instances that run jobs,
// knowledge-base ingestion and webhook deliveries (both queued in the database,
// so any such instance takes them); on every instance, ending the replies a
// stopped process left "streaming".
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import type { Logger } from './log.ts';
import { startJobWorker } from './services/jobs.ts';
import type { Services } from './services/services.ts';
import { startReplyRecovery } from './services/streaming-replies.ts';
import { startWebhookSender } from './services/webhook-sender.ts';

export function startBackground({ db, services, config, runJobs, logger }: { db: Database; services: Services; config: Config; runJobs: boolean; logger: Logger }) {
  // PGlite's folder is this process's alone (src/db/data-lock.ts): whatever it finds running or streaming, a dead process left.
  const exclusiveDatabase = db.kind === 'pglite';
  const worker = runJobs
    ? startJobWorker({
        queue: services.jobs,
        handlers: { ingest: services.knowledge.ingest, embed: services.knowledge.embedPassages },
        onGiveUp: services.knowledge.gaveUp,
        exclusiveDatabase,
        logger,
      })
    : null;
  // Deliveries are sent in order per endpoint.
  const webhookSender = runJobs
    ? startWebhookSender({ prisma: db.prisma, webhooks: services.webhooks, allowHosts: config.webhookAllowHosts, onError: (error) => logger.error({ err: error }, 'webhook delivery failed') })
    : null;
  // Replies a killed process left "streaming" become "incomplete" (all of them with PGlite, stale ones with PostgreSQL).
  const recovery = startReplyRecovery({ prisma: db.prisma, exclusiveDatabase, logger });
  return {
    /** Resolves once replies left streaming by a stopped process are marked incomplete (a failure is logged, not thrown). */
    ready: recovery.ready,
    /** Stops taking jobs and deliveries; resolves once those in progress have ended. */
    async stop() {
      recovery.stop();
      await Promise.all([worker?.stop(), webhookSender?.stop()]);
    },
  };
}
