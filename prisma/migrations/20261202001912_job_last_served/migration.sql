-- Claiming reads when each waiting organization was last served, max("lockedAt") of its jobs;
-- without this index that read visits every job the organization has kept (a week's worth).
CREATE INDEX "Job_organizationId_lockedAt_idx" ON "Job"("organizationId", "lockedAt");
