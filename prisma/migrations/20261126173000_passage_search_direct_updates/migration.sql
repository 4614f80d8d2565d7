-- Passage search answers in steady time: new passages go straight into the text index
-- instead of a pending list that every search scans until a vacuum merges it (PGlite runs
-- no autovacuum, so the list stayed until it reached 4 MB). Ingestion writes a little
-- more per passage; questions far outnumber passages written.
ALTER INDEX "KnowledgeChunk_search_idx" SET (fastupdate = off);
-- Entries already pending are merged now.
SELECT gin_clean_pending_list('"KnowledgeChunk_search_idx"'::regclass);
