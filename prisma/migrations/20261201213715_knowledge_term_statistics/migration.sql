-- CreateTable
CREATE TABLE "KnowledgeTerm" (
    "organizationId" UUID NOT NULL,
    "lexeme" TEXT NOT NULL,
    "passages" INTEGER NOT NULL,
    "lexemes" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "KnowledgeTerm_pkey" PRIMARY KEY ("organizationId","lexeme")
);

-- Term statistics follow the passages in the statement that writes or deletes them (source
-- deletions and organization deletions cascade here too). Rows are upserted in key order, so two
-- transactions counting the same terms take their row locks in the same order and cannot deadlock.
CREATE FUNCTION knowledge_term_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  -- The transition table of the statement: the passages it wrote, or those it deleted.
  changed text := CASE WHEN TG_OP = 'INSERT' THEN 'new_passages' ELSE 'old_passages' END;
  sign int := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
  EXECUTE format($sql$
    INSERT INTO "KnowledgeTerm" AS k ("organizationId", lexeme, passages, lexemes)
    SELECT o, lexeme, %2$s * sum(n)::int, %2$s * sum(l)::bigint
    FROM (
      SELECT c."organizationId" AS o, t.lexeme, 1 AS n, 0 AS l FROM %1$I c, unnest(tsvector_to_array(c.search)) AS t(lexeme)
      UNION ALL
      SELECT c."organizationId", '', 1, coalesce(length(c.search), 0) FROM %1$I c
    ) x
    GROUP BY o, lexeme
    ORDER BY o, lexeme
    ON CONFLICT ("organizationId", lexeme) DO UPDATE SET passages = k.passages + EXCLUDED.passages, lexemes = k.lexemes + EXCLUDED.lexemes
  $sql$, changed, sign);
  IF sign < 0 THEN
    EXECUTE format($sql$
      DELETE FROM "KnowledgeTerm" k USING (SELECT DISTINCT "organizationId" AS o FROM %1$I) c
      WHERE k."organizationId" = c.o AND k.passages <= 0
    $sql$, changed);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "KnowledgeChunk_terms_insert" AFTER INSERT ON "KnowledgeChunk"
  REFERENCING NEW TABLE AS new_passages FOR EACH STATEMENT EXECUTE FUNCTION knowledge_term_count();
CREATE TRIGGER "KnowledgeChunk_terms_delete" AFTER DELETE ON "KnowledgeChunk"
  REFERENCING OLD TABLE AS old_passages FOR EACH STATEMENT EXECUTE FUNCTION knowledge_term_count();

-- Passages stored before: their source's title joins the search vector (weight A) and headings
-- move to B, as new passages are written; then their terms are counted once.
UPDATE "KnowledgeChunk" c
SET search = setweight(to_tsvector('english'::regconfig, s.title), 'A')
          || setweight(to_tsvector('english'::regconfig, c.heading), 'B')
          || to_tsvector('english'::regconfig, c.content)
FROM "KnowledgeSource" s WHERE s.id = c."sourceId";

INSERT INTO "KnowledgeTerm" ("organizationId", lexeme, passages, lexemes)
SELECT o, lexeme, sum(n)::int, sum(l)::bigint
FROM (
  SELECT c."organizationId" AS o, t.lexeme, 1 AS n, 0 AS l FROM "KnowledgeChunk" c, unnest(tsvector_to_array(c.search)) AS t(lexeme)
  UNION ALL
  SELECT c."organizationId", '', 1, coalesce(length(c.search), 0) FROM "KnowledgeChunk" c
) x
GROUP BY o, lexeme;
