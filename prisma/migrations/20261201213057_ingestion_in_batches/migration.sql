-- Ingestion that does not stall serving: a source's new passages are written beside the old
-- ones under a version of their own, in short batches, and replace them when the source names
-- that version (passages written before this migration and their sources share the zero
-- version); uploaded files are stored in parts of bounded size (files uploaded before keep their
-- bytes in KnowledgeSource.content); jobs are claimed by organizations in turn.

-- DropIndex
DROP INDEX "KnowledgeChunk_sourceId_ordinal_idx";

-- AlterTable
ALTER TABLE "KnowledgeChunk" ADD COLUMN     "version" UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';

-- AlterTable
ALTER TABLE "KnowledgeSource" ADD COLUMN     "passageVersion" UUID NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';

-- CreateTable
CREATE TABLE "KnowledgeFilePart" (
    "sourceId" UUID NOT NULL,
    "part" INTEGER NOT NULL,
    "bytes" BYTEA NOT NULL,

    CONSTRAINT "KnowledgeFilePart_pkey" PRIMARY KEY ("sourceId","part")
);

-- CreateIndex
CREATE INDEX "Job_organizationId_status_lockedAt_idx" ON "Job"("organizationId", "status", "lockedAt");

-- CreateIndex
CREATE INDEX "KnowledgeChunk_sourceId_version_ordinal_idx" ON "KnowledgeChunk"("sourceId", "version", "ordinal");

-- AddForeignKey
ALTER TABLE "KnowledgeFilePart" ADD CONSTRAINT "KnowledgeFilePart_sourceId_fkey" FOREIGN KEY ("sourceId") REFERENCES "KnowledgeSource"("id") ON DELETE CASCADE ON UPDATE CASCADE;
