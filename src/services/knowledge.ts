// The knowledge base: uploaded files, Q&A pairs and web pages. Adding a source
// stores it and queues its ingestion (extract, chunk, index) as a background
// job, so the request answers at once; the source's status tells how it went.
import { createHash, randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { AppError, notFound } from '../errors.ts';
import type { Passage } from '../knowledge/chunk.ts';
import { countPages, ExtractionError, extractPassages, FILE_TYPES, parseFileType, tooManyPages, type FileType } from '../knowledge/extract/extract.ts';
import { assertDeclaredType } from '../knowledge/extract/sniff.ts';
import { fetchPage, FetchPageError } from '../knowledge/fetch-page.ts';
import { DEFAULT_FUSION, fuse, type Reference } from '../knowledge/fuse.ts';
import { readFile, writeFileParts } from '../knowledge/file-parts.ts';
import { createBatchSizer } from '../knowledge/pacing.ts';
import { createPassageUpkeep, dropPassages, hasReadyKnowledge, publishPassages, replacePassagesAtOnce, searchPassages, stagePassages, storeEmbeddings } from '../knowledge/passages.ts';
import { cosine, createVectorIndex } from '../knowledge/vectors.ts';
import { LlmError, type Llm } from '../llm/ollama.ts';
import type { Logger } from '../log.ts';
import { assertJobHeld, completeWhileHeld, JobLostError, MAX_ATTEMPTS, stillHeld, type Job, type JobQueue } from './jobs.ts';
import { findPage, isUuid, jsonObject, parseInput, requiredText, text, type Page, type PageArgs } from './validation.ts';
import type { Viewer } from './viewer.ts';

export type KnowledgeSource = Prisma.KnowledgeSourceGetPayload<object>;
export type KnowledgeKind = 'file' | 'qa' | 'url';
export const KNOWLEDGE_KINDS = ['file', 'qa', 'url'] as const;

export type KnowledgeLimits = {
  uploadMaxBytes: number;
  maxPages: number;
  allowHosts: string[];
};

export type KnowledgeDeps = {
  prisma: PrismaClient;
  jobs: JobQueue;
  llm: Llm;
  /** The Ollama model that embeds passages and questions. */
  embedModel: string;
  /** Cosine similarity from which a passage counts as relevant (depends on the embedding model). */
  minSimilarity: number;
  limits: KnowledgeLimits;
  /** Told when a source's processing ends for good, ready or failed (webhooks hear of it from here). */
  onSettled?: (source: { id: string; organizationId: string }) => void;
  /** Where the knowledge base says it works in a lesser mode (no embeddings, no pgvector) or a background task failed. */
  logger: Logger;
};

/** Passages embedded per request to Ollama. */
const EMBED_BATCH = 32;
/**
 * A file's ingestion waits this long for its upload to be stored (its parts are
 * written after the source and its job, which are written first so that a
 * crash mid-way leaves a job that says so rather than a source that never
 * moves); uploads release their job as soon as the file is stored.
 */
const UPLOAD_STORED_WITHIN_MS = 10 * 60_000;
/** After the embedding model fails, retrieval stays lexical for this long before trying again. */
const EMBED_RETRY_MS = 60_000;
/** Candidates each retriever contributes to the fusion (enough for a few sources after its per-source cap). */
const CANDIDATES = 40;

const EXTRACTION = { timeoutMs: 60_000, maxMemoryMb: 512, maxChars: 5_000_000 };
/** Counting pages reads only a PDF's page tree; an upload does not wait longer than this for it. */
const PAGE_COUNT_TIMEOUT_MS = 10_000;
const PAGE_FETCH = { maxBytes: 5 * 1024 * 1024, timeoutMs: 15_000, maxRedirects: 5 };

const assistantIds = z.array(z.string().uuid({ error: 'must list assistant ids (UUIDs)' })).max(100).nullish();

const qaSchema = z.object({
  question: requiredText(2000),
  answer: requiredText(20_000),
  tags: z.array(requiredText(100)).max(50, { error: 'must list at most 50 tags' }).nullish(),
  source: text(200).nullish(),
  assistantIds,
  metadata: jsonObject().nullish(),
});

const urlSchema = z.object({
  url: z
    .string()
    .trim()
    .max(2048)
    .refine((value) => {
      try {
        return ['http:', 'https:'].includes(new URL(value).protocol);
      } catch {
        return false;
      }
    }, { error: 'must be an http or https URL' }),
  title: text(500).nullish(),
  assistantIds,
  metadata: jsonObject().nullish(),
});

const fileSchema = z.object({
  title: requiredText(500),
  fileType: requiredText(100),
  assistantIds,
  metadata: jsonObject().nullish(),
});

/** Bytes hashed between two turns of the event loop. */
const HASH_SLICE = 1024 * 1024;

/**
 * The SHA-256 of an upload, a megabyte per turn of the event loop: in one call,
 * a 19 MB file held it 15-25 ms here (Web Crypto's digest, though asynchronous,
 * held it longer, copying the bytes first).
 */
async function sha256(bytes: Uint8Array): Promise<string> {
  const hash = createHash('sha256');
  for (let offset = 0; offset < bytes.byteLength; offset += HASH_SLICE) {
    if (offset > 0) await nextTurn();
    hash.update(bytes.subarray(offset, offset + HASH_SLICE));
  }
  return hash.digest('hex');
}

/** What is embedded of a passage: its heading path says what the text is about. */
function embeddingText(passage: { heading: string; content: string }): string {
  return passage.heading ? `${passage.heading}\n${passage.content}` : passage.content;
}

export function createKnowledgeService({ prisma, jobs, llm, embedModel, minSimilarity, limits, onSettled = () => {}, logger }: KnowledgeDeps) {
  const vectors = createVectorIndex(prisma, logger);
  const upkeep = createPassageUpkeep(prisma, logger);
  let embeddingsDownUntil = 0;
  /** Whether passages may be waiting for embeddings: unknown at start, and after the model was unavailable. */
  let catchUpDue = true;

  /**
   * Refuses a file over the page limit at upload (413), so that the uploader
   * hears it at once. A file whose pages cannot be counted is accepted: its
   * job then fails with the reason, as for any damaged file.
   */
  async function checkPageLimit(bytes: Uint8Array, fileType: FileType) {
    const pages = await countPages(bytes, fileType, { ...EXTRACTION, timeoutMs: PAGE_COUNT_TIMEOUT_MS, maxPages: limits.maxPages }).catch(() => null);
    if (pages !== null && pages > limits.maxPages) {
      throw new AppError('PAYLOAD_TOO_LARGE', tooManyPages(pages, limits.maxPages).message);
    }
  }

  /** Embeddings of the texts; an LlmError when the embedding model is unavailable. */
  async function embedAll(texts: string[]): Promise<number[][]> {
    const out: number[][] = [];
    for (let i = 0; i < texts.length; i += EMBED_BATCH) out.push(...(await llm.embed(embedModel, texts.slice(i, i + EMBED_BATCH))));
    return out;
  }

  /**
   * Embeddings of the texts, or null when the embedding model is unavailable:
   * the knowledge base then works from lexical search alone, and passages
   * stored meanwhile are embedded once the model answers again.
   */
  async function embed(texts: string[]): Promise<number[][] | null> {
    if (Date.now() < embeddingsDownUntil || texts.length === 0) return null;
    try {
      const embeddings = await embedAll(texts);
      if (catchUpDue) {
        catchUpDue = false;
        queueCatchUp().catch((error: unknown) => logger.error({ err: error }, 'Knowledge base: could not queue passages to embed.'));
      }
      return embeddings;
    } catch (error) {
      if (!(error instanceof LlmError)) throw error;
      embeddingsDownUntil = Date.now() + EMBED_RETRY_MS;
      catchUpDue = true;
      logger.warn(`Knowledge base: embeddings unavailable, using lexical search only. ${error.message}`);
      return null;
    }
  }

  /**
   * Whether a source's passages all have embeddings made by the configured model,
   * for sources indexed before they recorded the model: re-embedding one passage
   * gives the vector stored for it only with the same model. Saves embedding a
   * whole knowledge base again after an upgrade.
   */
  async function embeddedByThisModel(source: { id: string; passageVersion: string }): Promise<boolean> {
    const served = { sourceId: source.id, version: source.passageVersion };
    const withoutEmbedding = await prisma.knowledgeChunk.count({ where: { ...served, embedding: { isEmpty: true } } });
    const first = await prisma.knowledgeChunk.findFirst({ where: served, orderBy: { ordinal: 'asc' }, select: { heading: true, content: true, embedding: true } });
    if (withoutEmbedding > 0 || !first) return false;
    const [again] = await embedAll([embeddingText(first)]);
    return again.length === first.embedding.length && cosine(again, first.embedding) > 0.999;
  }

  /**
   * Queues the embedding of every indexed source whose passages the configured
   * model did not embed: stored while it was unavailable, or by another model
   * before OLLAMA_EMBED_MODEL changed. Behind the jobs a person waits on.
   */
  async function queueCatchUp() {
    const behind = await prisma.knowledgeSource.findMany({
      where: {
        // Failed ones too: a page whose re-sync failed still answers from its last version.
        status: { in: ['ready', 'failed'] },
        chunkCount: { gt: 0 },
        OR: [{ embeddingModel: null }, { embeddingModel: { not: embedModel } }],
        jobs: { none: { status: { in: ['queued', 'running'] } } },
      },
      select: { id: true, organizationId: true },
    });
    await jobs.enqueueMany(behind.map((source) => ({ organizationId: source.organizationId, kind: 'embed', sourceId: source.id, priority: 1 })));
  }

  async function get(viewer: Viewer, kind: KnowledgeKind | null, id: string): Promise<KnowledgeSource> {
    const source = isUuid(id)
      ? await prisma.knowledgeSource.findFirst({
          where: { id, organizationId: viewer.organizationId, ...(kind ? { kind } : {}) },
          // The file itself (up to UPLOAD_MAX_BYTES) is for ingestion only, not for every status poll.
          omit: { content: true },
        })
      : null;
    if (!source) throw notFound('Knowledge source', id);
    return source as KnowledgeSource;
  }

  async function checkAssistants(viewer: Viewer, ids: string[] | null | undefined) {
    if (!ids?.length) return [];
    const found = await prisma.assistant.count({ where: { id: { in: ids }, organizationId: viewer.organizationId } });
    if (found !== new Set(ids).size) throw new AppError('NOT_FOUND', 'One of assistant_ids names no assistant of this organization.');
    return [...new Set(ids)];
  }

  /**
   * Stores a new source and queues its ingestion in one transaction, so no source
   * is left without its job; `runAt` holds the job back (a file still being stored).
   */
  async function addSource(data: Prisma.KnowledgeSourceUncheckedCreateInput, runAt?: Date) {
    return prisma.$transaction(async (tx) => {
      const source = await tx.knowledgeSource.create({ data, omit: { content: true } });
      const job = await jobs.enqueue({ organizationId: source.organizationId, kind: 'ingest', sourceId: source.id, runAt }, tx);
      return { source: source as KnowledgeSource, job };
    });
  }

  /**
   * Updates a job's source while the job is still this worker's; JobLostError
   * otherwise (taken over by another instance, or the source deleted), so that a
   * run that stalled past its takeover cannot overwrite the new run's status.
   */
  async function updateWhileHeld(job: Job, data: Prisma.KnowledgeSourceUpdateManyMutationInput) {
    const { count } = await prisma.knowledgeSource.updateMany({
      where: { id: job.sourceId!, jobs: { some: stillHeld(job) } },
      data,
    });
    if (count === 0) throw new JobLostError(job);
  }

  const addSourceNow = async (data: Prisma.KnowledgeSourceUncheckedCreateInput) => (await addSource(data)).source;

  /** Queues a source's ingestion again (a page re-synced, a failed file uploaded again). */
  async function requeue(source: KnowledgeSource): Promise<KnowledgeSource> {
    return prisma.$transaction(async (tx) => {
      const updated = await tx.knowledgeSource.update({ where: { id: source.id }, data: { status: 'pending', error: null }, omit: { content: true } });
      // Asked twice (a double click), it runs once; a job already running may have
      // fetched the old version, so only one still waiting counts.
      const waiting = await tx.job.count({ where: { sourceId: source.id, status: 'queued' } });
      if (waiting === 0) await jobs.enqueue({ organizationId: source.organizationId, kind: 'ingest', sourceId: source.id }, tx);
      return updated as KnowledgeSource;
    });
  }

  /** A Q&A pair's one passage. The question is the heading: the index weighs it above the answer. */
  function qaPassages(source: Omit<KnowledgeSource, 'content'>): Passage[] {
    return [{ heading: source.question!, content: `Q: ${source.question}\nA: ${source.answer}` }];
  }

  async function passagesOf(source: Omit<KnowledgeSource, 'content'>): Promise<{ passages: Passage[]; title?: string }> {
    switch (source.kind) {
      case 'qa':
        return { passages: qaPassages(source) };
      case 'file': {
        // Read only now, one job's file at a time, and let go of once extracted.
        const bytes = await readFile(prisma, source);
        if (!bytes) throw new ExtractionError('UNREADABLE', 'The upload was cut short before the file was stored whole; upload it again.');
        return { passages: (await extractPassages(bytes, parseFileType(source.fileType!)!, { ...EXTRACTION, maxPages: limits.maxPages })).passages };
      }
      case 'url': {
        const page = await fetchPage(source.url!, { ...PAGE_FETCH, allowHosts: limits.allowHosts });
        const type = /html|xml/.test(page.contentType) ? 'html' : page.contentType.includes('markdown') ? 'md' : 'txt';
        const { passages, title } = await extractPassages(page.body, type, { ...EXTRACTION, maxPages: limits.maxPages });
        return { passages, title };
      }
      default:
        throw new Error(`Unknown knowledge kind ${source.kind}`);
    }
  }

  /** A large source's new passages on their way to the index, and what its row says once they are all there. */
  type Writing = {
    source: Omit<KnowledgeSource, 'content'>;
    passages: Passage[];
    beforeWrite: (tx: Prisma.TransactionClient) => Promise<void>;
    ready: Prisma.KnowledgeSourceUpdateManyMutationInput;
  };

  /** A source run by this job, marked processing, and its job. */
  type Run = { job: Job; source: Omit<KnowledgeSource, 'content'> };

  /**
   * Sources of one batch's worth each (a Q&A pair, a short page; several Q&A
   * pairs): embedded in one request, written and published in one transaction
   * together with their jobs' completion, then settled. Returns the ids of the
   * sources written: a source whose job this worker no longer holds is left to
   * the run that holds it now.
   */
  async function writeAtOnce(runs: Array<Run & { passages: Passage[] }>, ready: Prisma.KnowledgeSourceUpdateManyMutationInput): Promise<Set<string>> {
    const embeddings = await embed(runs.flatMap(({ passages }) => passages.map(embeddingText)));
    const vectorColumn = embeddings !== null && (await vectors.hasPgvector());
    if (vectorColumn && embeddings[0]) await vectors.ensureIndex(embeddings[0].length);
    // Stored without embeddings: the next time the model answers, the catch-up looks again.
    if (!embeddings) catchUpDue = true;
    let next = 0;
    const sources = runs.map(({ source, passages }) => ({ source, passages, embeddings: embeddings && embeddings.slice(next, (next += passages.length)) }));
    const { sourceIds, written, deleted } = await replacePassagesAtOnce(prisma, sources, {
      vectorColumn,
      embeddingModel: embeddings ? embedModel : null,
      keep: async (tx) => {
        const done = await completeWhileHeld(tx, runs.map(({ job }) => job));
        return new Set(runs.filter(({ job }) => done.has(job.id)).map(({ source }) => source.id));
      },
      data: ready,
    });
    const settled = new Set(sourceIds);
    if (settled.size > 0) upkeep.passagesChanged({ written, deleted });
    for (const { source } of runs) if (settled.has(source.id)) onSettled(source);
    return settled;
  }

  /**
   * Q&A pairs of the job's organization queued behind it (a FAQ imported pair by
   * pair), claimed for the same run and marked processing: a pair alone cost 8
   * statements for one short passage, most of its time; together they share them.
   */
  async function pairsAlongside(job: Job): Promise<Run[]> {
    const claimed = await jobs.claimAlongside(job, { sourceKind: 'qa', max: EMBED_BATCH - 1 });
    if (claimed.length === 0) return [];
    const sources = await prisma.knowledgeSource.updateManyAndReturn({
      where: { id: { in: claimed.map((other) => other.sourceId!) }, jobs: { some: { lockedBy: job.lockedBy, status: 'running' } } },
      data: { status: 'processing', error: null },
      omit: { content: true },
    });
    const jobOf = new Map(claimed.map((other) => [other.sourceId, other]));
    return sources.map((source) => ({ job: jobOf.get(source.id)!, source }));
  }

  /** Pairs claimed alongside a run that ended before writing them go back to the queue as they were. */
  async function giveBack(runs: Run[]) {
    if (runs.length === 0) return;
    // The sources first: once their jobs are queued, another worker may mark them processing.
    await prisma.knowledgeSource.updateMany({
      where: { id: { in: runs.map(({ source }) => source.id) }, status: 'processing', jobs: { some: { lockedBy: runs[0].job.lockedBy, status: 'running' } } },
      data: { status: 'pending' },
    });
    await jobs.giveBack(runs.map(({ job }) => job));
  }

  /**
   * A larger source: embedded a request's worth at a time and written in short
   * batches (a few dozen embeddings in memory, one short statement each, and the
   * event loop and the database serve others in between) beside the old
   * passages, which keep answering until the new ones are all there.
   */
  async function writeInBatches({ source, passages, beforeWrite, ready }: Writing, sizer: ReturnType<typeof createBatchSizer>) {
    const version = randomUUID();
    let staged = false;
    try {
      let allEmbedded = true;
      let dimensions = 0;
      for (let start = 0; start < passages.length; start += EMBED_BATCH) {
        const group = passages.slice(start, start + EMBED_BATCH);
        const embeddings = allEmbedded ? await embed(group.map(embeddingText)) : null;
        // Once the model fails, the rest is stored without embeddings; the catch-up embeds them all later.
        if (!embeddings) allEmbedded = false;
        const vectorColumn = embeddings !== null && (await vectors.hasPgvector());
        if (vectorColumn && !dimensions && embeddings[0]) {
          // Before the first passages, not after: built over a table that already holds
          // this file, the index took half a minute in one statement (6,000 passages).
          dimensions = embeddings[0].length;
          await vectors.ensureIndex(dimensions);
        }
        for (let offset = 0, size = sizer.size; offset < group.length; offset += size, size = sizer.size) {
          const batch = group.slice(offset, offset + size);
          staged = true;
          const started = performance.now();
          await stagePassages(prisma, source, {
            version,
            first: start + offset,
            passages: batch,
            embeddings: embeddings?.slice(offset, offset + size) ?? null,
            vectorColumn,
            beforeWrite,
          });
          await sizer.done(batch.length, performance.now() - started);
        }
      }
      const old = await publishPassages(prisma, source, { version, embeddingModel: allEmbedded ? embedModel : null, beforeWrite, data: ready });
      staged = false;
      if (!allEmbedded) catchUpDue = true;
      return { written: passages.length, deleted: await dropPassages(prisma, source.id, [old]) };
    } catch (error) {
      // Never published: its passages go (best effort; a version left behind is dropped later as abandoned).
      if (staged) await dropPassages(prisma, source.id, [version]).catch(() => {});
      throw error;
    }
  }

  return {
    get,

    list(viewer: Viewer, kind: KnowledgeKind, args: PageArgs): Promise<Page<KnowledgeSource>> {
      const where = { organizationId: viewer.organizationId, kind };
      return findPage(
        args,
        (page) => prisma.knowledgeSource.findMany({ where, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }], omit: { content: true }, ...page }) as Promise<KnowledgeSource[]>,
        () => prisma.knowledgeSource.count({ where }),
      );
    },

    /**
     * Stores an uploaded file and queues it. The same bytes uploaded again are
     * recognised by their SHA-256 and answered with the existing source.
     */
    async addFile(viewer: Viewer, input: { title: string; fileType: string; file: File; assistantIds?: string[] | null; metadata?: Record<string, unknown> | null }) {
      const data = parseInput(fileSchema, input);
      const fileType = parseFileType(data.fileType);
      if (!fileType) {
        throw new AppError('UNSUPPORTED_MEDIA_TYPE', `file_type "${data.fileType}" is not supported; use one of ${FILE_TYPES.join(', ')}.`);
      }
      if (input.file.size > limits.uploadMaxBytes) {
        throw new AppError('PAYLOAD_TOO_LARGE', `The file is ${input.file.size} bytes; the limit is ${limits.uploadMaxBytes} bytes (UPLOAD_MAX_BYTES).`);
      }
      const bytes = new Uint8Array(await input.file.arrayBuffer());
      if (bytes.byteLength === 0) throw new AppError('BAD_REQUEST', 'The file is empty.');
      try {
        assertDeclaredType(bytes, fileType);
      } catch (error) {
        if (error instanceof ExtractionError) throw new AppError('BAD_REQUEST', error.message);
        throw error;
      }
      const contentHash = await sha256(bytes);
      const sameFile = async () => {
        const existing = await prisma.knowledgeSource.findFirst({
          where: { organizationId: viewer.organizationId, kind: 'file', contentHash },
          omit: { content: true },
        });
        if (!existing) return null;
        if (existing.status !== 'failed') return { source: existing as KnowledgeSource, duplicate: true };
        // Uploading a file whose processing failed again is how a person retries it; stored again,
        // in case the first upload was cut short before it was stored whole.
        await writeFileParts(prisma, existing.id, bytes);
        return { source: await requeue(existing as KnowledgeSource), duplicate: true };
      };
      const duplicate = await sameFile();
      if (duplicate) return duplicate;
      await checkPageLimit(bytes, fileType);
      try {
        const { source, job } = await addSource(
          {
            organizationId: viewer.organizationId,
            kind: 'file',
            title: data.title,
            fileType,
            fileName: input.file.name || null,
            byteSize: bytes.byteLength,
            contentHash,
            assistantIds: await checkAssistants(viewer, data.assistantIds),
            metadata: (data.metadata ?? {}) as Prisma.InputJsonObject,
          },
          new Date(Date.now() + UPLOAD_STORED_WITHIN_MS),
        );
        await writeFileParts(prisma, source.id, bytes);
        await jobs.release(job);
        return { source, duplicate: false };
      } catch (error) {
        // The same file uploaded twice at once: the unique hash lets one through.
        if ((error as { code?: string }).code === 'P2002') {
          const winner = await sameFile();
          if (winner) return winner;
        }
        throw error;
      }
    },

    async addQa(viewer: Viewer, input: object) {
      const data = parseInput(qaSchema, input);
      return addSourceNow({
        organizationId: viewer.organizationId,
        kind: 'qa',
        title: data.question,
        question: data.question,
        answer: data.answer,
        tags: data.tags ?? [],
        origin: data.source ?? null,
        assistantIds: await checkAssistants(viewer, data.assistantIds),
        metadata: (data.metadata ?? {}) as Prisma.InputJsonObject,
      });
    },

    async addUrl(viewer: Viewer, input: object) {
      const data = parseInput(urlSchema, input);
      return addSourceNow({
        organizationId: viewer.organizationId,
        kind: 'url',
        title: data.title || data.url,
        url: data.url,
        assistantIds: await checkAssistants(viewer, data.assistantIds),
        metadata: (data.metadata ?? {}) as Prisma.InputJsonObject,
      });
    },

    /** Fetches a web page again; its passages are replaced once the new version is indexed. */
    async sync(viewer: Viewer, id: string) {
      return requeue(await get(viewer, 'url', id));
    },

    /** Deletes the source; its passages leave retrieval at once (they go with it). */
    async delete(viewer: Viewer, kind: KnowledgeKind | null, id: string) {
      const source = await get(viewer, kind, id);
      await prisma.knowledgeSource.delete({ where: { id: source.id } });
      upkeep.passagesChanged({ written: 0, deleted: source.chunkCount });
      return source;
    },

    /** The job handler: extracts, chunks and indexes one source. */
    async ingest(job: Job): Promise<void | 'completed'> {
      // Marked processing and read in one statement. Nothing comes back when the source was
      // deleted meanwhile (its job went with it), or in the unlikely case that the job, just
      // claimed, is another worker's already: either way, this run has nothing to do.
      const [source] = job.sourceId
        ? await prisma.knowledgeSource.updateManyAndReturn({
            where: { id: job.sourceId, jobs: { some: stillHeld(job) } },
            data: { status: 'processing', error: null },
            omit: { content: true },
          })
        : [];
      if (!source) return;
      // A pair being retried runs alone, so that a batch that keeps failing cannot keep failing the others.
      const alongside = source.kind === 'qa' && job.attempts === 1 ? await pairsAlongside(job) : [];
      let written = new Set<string>();
      try {
        const { passages, title } = await passagesOf(source);
        if (passages.length === 0) throw new ExtractionError('NO_TEXT', 'The source contains no text to answer from.');
        const ready = {
          status: 'ready',
          chunkCount: passages.length,
          indexedAt: new Date(),
          error: null,
          ...(source.kind === 'url' && title && source.title === source.url ? { title } : {}),
        };
        const sizer = createBatchSizer();
        if (passages.length > Math.min(EMBED_BATCH, sizer.size)) {
          // In batches, each batch checks that the job is still this worker's; the worker completes it.
          const changed = await writeInBatches({ source, passages, ready, beforeWrite: (tx) => assertJobHeld(tx, job) }, sizer);
          upkeep.passagesChanged(changed);
          onSettled(source);
          return;
        }
        // In one transaction, the passages and the jobs' completion are stored together. Q&A pairs
        // (all that runs alongside) have one passage each, hence one `ready` for all.
        written = await writeAtOnce([{ job, source, passages }, ...alongside.map((run) => ({ ...run, passages: qaPassages(run.source) }))], ready);
        if (!written.has(source.id)) throw new JobLostError(job);
        return 'completed';
      } catch (error) {
        if (error instanceof JobLostError) throw error; // the source is another run's now
        const known = error instanceof ExtractionError || error instanceof FetchPageError;
        await updateWhileHeld(job, {
          status: 'failed',
          error: known
            ? (error as Error).message
            : `Processing failed unexpectedly${job.attempts < MAX_ATTEMPTS ? '; it will be retried shortly' : ` ${MAX_ATTEMPTS} times; it will not be retried on its own`}.`,
        });
        // Failed for good: a known failure, or the last attempt; otherwise a retry follows.
        if (known || job.attempts >= MAX_ATTEMPTS) onSettled(source);
        if (!known) throw error;
      } finally {
        // Never in place of the run's own outcome. A pair not given back is taken back like any abandoned
        // job: once its lock is stale (PostgreSQL), or at the next start (the embedded database).
        await giveBack(alongside.filter((run) => !written.has(run.source.id))).catch((error: unknown) =>
          logger.error({ err: error }, 'Knowledge base: could not queue Q&A pairs again after their run ended early.'),
        );
      }
    },

    /** The job handler that embeds an indexed source's passages again (see queueCatchUp), a batch at a time. */
    async embedPassages(job: Job) {
      const source = job.sourceId
        ? await prisma.knowledgeSource.findUnique({ where: { id: job.sourceId }, select: { id: true, embeddingModel: true, passageVersion: true } })
        : null;
      if (!source || source.embeddingModel === embedModel) return;
      if (source.embeddingModel === null && (await embeddedByThisModel(source))) {
        await prisma.knowledgeSource.updateMany({ where: { id: source.id, embeddingModel: null }, data: { embeddingModel: embedModel } });
        return;
      }
      const vectorColumn = await vectors.hasPgvector();
      let rewritten = 0;
      let dimensions = 0;
      const sizer = createBatchSizer();
      for (let after = -1; ; ) {
        const passages = await prisma.knowledgeChunk.findMany({
          where: { sourceId: source.id, version: source.passageVersion, ordinal: { gt: after } },
          orderBy: { ordinal: 'asc' },
          take: sizer.size,
          select: { id: true, ordinal: true, heading: true, content: true },
        });
        if (passages.length === 0) break;
        after = passages.at(-1)!.ordinal;
        // Unavailable again: the job fails and is retried with back-off, then left to the next catch-up.
        const embeddings = await embedAll(passages.map(embeddingText));
        if (vectorColumn && !dimensions && embeddings[0]) {
          dimensions = embeddings[0].length;
          await vectors.ensureIndex(dimensions); // before the writes, as in ingest
        }
        const started = performance.now();
        const stored = await storeEmbeddings(prisma, source, passages.map((p, i) => ({ id: p.id, embedding: embeddings[i] })), { version: source.passageVersion, vectorColumn });
        if (!stored) return; // indexed again meanwhile, with embeddings of its own
        rewritten += passages.length;
        await sizer.done(passages.length, performance.now() - started);
      }
      if (rewritten === 0) return;
      // Recorded only if the version embedded is still the one served.
      await prisma.knowledgeSource.updateMany({ where: { id: source.id, passageVersion: source.passageVersion }, data: { embeddingModel: embedModel } });
      // Each passage was rewritten: as many dead rows as passages.
      upkeep.passagesChanged({ written: rewritten, deleted: rewritten });
    },

    /** Marks the source of a job that was given up (its instances kept stopping mid-way) failed, with the reason. */
    async gaveUp(job: Job, reason: string) {
      // An embed job given up leaves its source as it was: indexed, found by its words.
      if (!job.sourceId || job.kind !== 'ingest') return;
      const { count } = await prisma.knowledgeSource.updateMany({ where: { id: job.sourceId, status: { in: ['pending', 'processing'] } }, data: { status: 'failed', error: reason } });
      if (count > 0) onSettled({ id: job.sourceId, organizationId: job.organizationId });
    },

    /** Resolves once background upkeep of the passage table is done (see createPassageUpkeep). */
    upkeepSettled: () => upkeep.settled(),

    /**
     * The passages that answer a question, best first: lexical and vector
     * results fused; and whether there was anything to search at all. Scoped
     * to what the assistant answers from; with no assistant, to the sources
     * that serve the whole organization.
     */
    async retrieve({ rewrite, ...asked }: RetrievalQuery): Promise<{ references: Reference[]; searched: boolean }> {
      const searched = await hasReadyKnowledge(prisma, asked.organizationId, asked.assistantId);
      if (!searched) return { references: [], searched };
      // Rewritten only once there is something to search: a model call for nothing would only delay the reply.
      const query = rewrite ? { ...asked, question: await rewrite(asked.question) } : asked;
      const [lexical, vector] = await Promise.all([
        searchPassages(prisma, { ...query, limit: CANDIDATES }),
        embed([query.question])
          .then((embedded) => (embedded ? vectors.search({ ...query, model: embedModel, embedding: embedded[0], limit: CANDIDATES }) : []))
          // A reply grounded in lexical matches alone beats no reply.
          .catch((error: unknown) => {
            logger.error({ err: error }, 'Knowledge base: vector search failed; answering from lexical search alone.');
            return [];
          }),
      ]);
      return { references: fuse(lexical, vector, { ...DEFAULT_FUSION, minSimilarity, limit: query.limit }), searched };
    },
  };
}

export type KnowledgeService = ReturnType<typeof createKnowledgeService>;

export type RetrievalQuery = {
  organizationId: string;
  /** null: the sources that serve every assistant. */
  assistantId: string | null;
  question: string;
  limit: number;
  /** Turns the question into the text searched for (the assistant's question rewrite); called only when there is knowledge to search. */
  rewrite?: (question: string) => Promise<string>;
};
