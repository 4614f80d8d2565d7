-- AlterTable
ALTER TABLE "Organization" ADD COLUMN     "allowedOrigins" TEXT[] DEFAULT ARRAY[]::TEXT[];
