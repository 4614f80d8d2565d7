-- Passages stored while the embedding model was unavailable, or embedded by a model other than
-- the configured one, are embedded again in the background: sources record the model that
-- embedded them, and jobs gain a priority so that this catching up waits behind uploads.
-- Sources indexed before this migration record no model and are embedded again once.

-- DropIndex
DROP INDEX "Job_status_runAt_idx";

-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "priority" INTEGER NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "KnowledgeSource" ADD COLUMN     "embeddingModel" TEXT;

-- CreateIndex
CREATE INDEX "Job_status_priority_runAt_idx" ON "Job"("status", "priority", "runAt");
