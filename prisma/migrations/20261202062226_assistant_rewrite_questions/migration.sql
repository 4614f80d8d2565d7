-- AlterTable
ALTER TABLE "Assistant" ADD COLUMN     "rewriteQuestions" BOOLEAN NOT NULL DEFAULT false;
