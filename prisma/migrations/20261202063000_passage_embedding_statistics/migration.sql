-- ANALYZE leaves out the passages' embedding arrays: no query filters, joins or sorts by them, and
-- their statistics (the commonest values of every element, 768 per passage with nomic-embed-text)
-- were most of the cost of an ANALYZE: 5,000 passages took 10.6 s, 0.3 s without them. On PGlite
-- that time is spent on the gateway's event loop, after every large file.
ALTER TABLE "KnowledgeChunk" ALTER COLUMN "embedding" SET STATISTICS 0;
