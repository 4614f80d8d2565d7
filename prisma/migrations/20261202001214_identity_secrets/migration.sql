-- AlterTable
ALTER TABLE "Session" ADD COLUMN     "userContextId" UUID;

-- CreateTable
CREATE TABLE "IdentitySecret" (
    "id" UUID NOT NULL,
    "organizationId" UUID NOT NULL,
    "secret" TEXT NOT NULL,
    "hint" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),
    "lastUsedAt" TIMESTAMP(3),

    CONSTRAINT "IdentitySecret_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "IdentitySecret_organizationId_idx" ON "IdentitySecret"("organizationId");

-- AddForeignKey
ALTER TABLE "IdentitySecret" ADD CONSTRAINT "IdentitySecret_organizationId_fkey" FOREIGN KEY ("organizationId") REFERENCES "Organization"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Session" ADD CONSTRAINT "Session_userContextId_fkey" FOREIGN KEY ("userContextId") REFERENCES "UserContext"("id") ON DELETE SET NULL ON UPDATE CASCADE;
