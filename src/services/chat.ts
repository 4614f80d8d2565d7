// Sending a message: store it, ask the model with the persona, history and
// user traits, store the reply. The user's message is stored before the model
// is asked, so nothing the user said is lost when the model fails; the reply
// is published piece by piece to everyone watching the thread, and stored as
// it grows (status "streaming", about a second behind), so that a process
// killed mid-reply leaves it behind.
import { z } from 'zod';
import type { Prisma, PrismaClient } from '../../generated/prisma/client.ts';
import { AppError } from '../errors.ts';
import { LlmError, type Llm } from '../llm/ollama.ts';
import { isReplyEvent, type ChatEvent, type ChatEventBus } from './chat-events.ts';
import type { GenerationSlots } from './generation-slots.ts';
import type { ReplyLog } from './reply-log.ts';
import type { RunningReplies } from './running-replies.ts';
import type { StreamingReplies } from './streaming-replies.ts';
import type { Reference } from '../knowledge/fuse.ts';
import type { RetrievalQuery } from './knowledge.ts';
import type { QuestionRewriter } from './question-rewrite.ts';
import { buildPrompt, estimateTokens, type ChatTurn, type ReferencePassage } from './prompt.ts';
import { jsonObject, parseInput, requiredText } from './validation.ts';

export type Message = Prisma.MessageGetPayload<object>;
/** Exactly one of the two is set. */
export type Thread = { sessionId: string; conversationId?: never } | { conversationId: string; sessionId?: never };

export const threadId = (thread: Thread) => thread.sessionId ?? thread.conversationId;

export const MESSAGE_MAX_CHARS = 32_000;
/** Earlier turns read for the prompt; trimming to the context window happens after. */
const HISTORY_LIMIT = 200;
/** Context window assumed when Ollama does not report one. */
const FALLBACK_CONTEXT = 4096;
/** Tokens kept free for the reply when the assistant sets no maximum. */
const DEFAULT_REPLY_TOKENS = 1024;

const sendSchema = z.object({
  content: requiredText(MESSAGE_MAX_CHARS),
  metadata: jsonObject().nullish(),
});

/** What sending needs of a session or conversation: the row the caller's permission check read. */
export type OpenedThread = Pick<Prisma.SessionGetPayload<object>, 'organizationId' | 'assistantId' | 'userContextId' | 'locale' | 'handoffState'> & {
  customerId?: string | null;
};

export type SendOptions = {
  /** The thread as the caller's permission check read it: sending does not read it again. */
  opened: OpenedThread;
  /** Aborted when the client goes away: generation stops and the partial reply is stored as incomplete. */
  signal?: AbortSignal;
  /** Called with each event of this send (message stored, each piece of the reply, reply stored), as it happens. */
  onEvent?: (event: ChatEvent) => void;
};

function unavailable(error: LlmError): AppError {
  const detail =
    error.kind === 'model_missing' || error.kind === 'unreachable'
      ? `${error.message} Your message was stored.`
      : `The model could not reply: ${error.message} Your message was stored.`;
  return new AppError('MODEL_UNAVAILABLE', detail, { retryAfter: error.kind === 'model_missing' ? undefined : 10 });
}

export type ChatDeps = {
  /** Aborted when the server stops: replies in progress end, stored as incomplete, and new ones are refused. */
  stopping?: AbortSignal;
  prisma: PrismaClient;
  llm: Llm;
  events: ChatEventBus;
  /** Keeps each reply's events, so that a dropped stream can be resumed. */
  log: ReplyLog;
  /** Where a request to stop a reply finds its generation. */
  running: RunningReplies;
  slots: GenerationSlots;
  /** Saves the replies being generated as they grow. */
  replies: StreamingReplies;
  defaultModel: string;
  /** The largest context window asked of Ollama (num_ctx), whatever the model could take. */
  maxContextLength: number;
  /** Told of every reply stored (complete or incomplete), after its watchers: webhooks hear of it from here. */
  onReply?: (reply: { organizationId: string; assistantId: string; userMessage: Message; assistantMessage: Message }) => void;
  /** Finds the knowledge-base passages that answer a message (only relevant ones, best first). */
  retrieve: (query: RetrievalQuery & { assistantId: string }) => Promise<{ references: Reference[]; searched: boolean }>;
  /** Turns a question into search terms, for assistants with `rewriteQuestions` on. */
  rewriteQuestion?: QuestionRewriter;
};

/** Passages considered for a prompt, best first. */
export const RETRIEVAL_LIMIT = 8;
/** Share of the context window that reference passages may fill. */
const REFERENCE_SHARE = 0.3;
const SNIPPET_CHARS = 240;

/** The start of a passage, as a reply's sources show it. */
export function snippetOf(content: string): string {
  return content.length > SNIPPET_CHARS ? `${content.slice(0, SNIPPET_CHARS).trimEnd()}…` : content;
}

export type Source = { sourceId: string; kind: Reference['kind']; title: string; url: string | null; snippet: string; score: number };

/** The passages that fit the budget, as the prompt shows them and as the reply cites them. */
function selectReferences(references: Reference[], budgetTokens: number): { passages: ReferencePassage[]; sources: Source[] } {
  const passages: ReferencePassage[] = [];
  const sources: Source[] = [];
  let budget = budgetTokens;
  for (const reference of references) {
    const cost = estimateTokens(reference.heading) + estimateTokens(reference.content);
    if (cost > budget) continue;
    budget -= cost;
    passages.push({
      title: reference.title,
      heading: reference.kind === 'qa' ? '' : reference.heading,
      content: reference.content,
      kind: reference.kind,
      closeQuestion: reference.closeQuestion,
    });
    sources.push({
      sourceId: reference.sourceId,
      kind: reference.kind,
      title: reference.title,
      url: reference.url,
      snippet: snippetOf(reference.content),
      score: reference.score,
    });
  }
  return { passages, sources };
}

const serverStopping = () => new AppError('SERVER_STOPPING', 'The server is stopping; your message was stored. Send it again in a moment.', { retryAfter: 5 });

export function createChatService({ stopping, prisma, llm, events, log, running, slots, replies, defaultModel, maxContextLength, retrieve, rewriteQuestion, onReply }: ChatDeps) {
  async function loadThread(row: OpenedThread) {
    // Asked together, so the embedded database answers both in one round trip.
    const [assistant, context] = await Promise.all([
      prisma.assistant.findUniqueOrThrow({ where: { id: row.assistantId } }),
      userContextOf(row),
    ]);
    return {
      organizationId: row.organizationId,
      assistant,
      locale: row.locale,
      traits: (context?.traits ?? null) as Record<string, unknown> | null,
      handoff: row.handoffState,
    };
  }

  /**
   * The traits that personalise a thread: its own user context (a signed-in widget visitor's,
   * or the one a conversation was opened with), else, for a conversation, the context whose
   * reference is its customer id, which still applies when it was created after the conversation.
   */
  async function userContextOf({ organizationId, userContextId, customerId }: OpenedThread) {
    const own = userContextId ? await prisma.userContext.findUnique({ where: { id: userContextId } }) : null;
    if (own || !customerId) return own;
    return prisma.userContext.findUnique({ where: { organizationId_userReference: { organizationId, userReference: customerId } } });
  }

  async function history(thread: Thread, before: Message): Promise<ChatTurn[]> {
    const rows = await prisma.message.findMany({
      // A reply still streaming (to an earlier message of the thread) is not a turn yet.
      where: { ...thread, id: { not: before.id }, status: { notIn: ['failed', 'streaming'] }, createdAt: { lte: before.createdAt } },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: HISTORY_LIMIT,
      select: { role: true, content: true },
    });
    return rows.reverse().map((row) => ({ role: row.role as ChatTurn['role'], content: row.content }));
  }

  async function waitForSlot(slot: Promise<() => void>, signal?: AbortSignal) {
    try {
      return await slot;
    } catch (error) {
      if (stopping?.aborted) throw serverStopping();
      if (signal?.aborted) throw new AppError('BAD_REQUEST', 'The request was cancelled while it waited for a reply slot.');
      throw error;
    }
  }

  async function personAnswers(thread: Thread, organizationId: string, data: z.output<typeof sendSchema>, options: SendOptions) {
    const userMessage = await prisma.message.create({
      data: { ...thread, organizationId, role: 'user', content: data.content, metadata: (data.metadata ?? {}) as Prisma.InputJsonObject },
    });
    const received: ChatEvent = { kind: 'received', userMessage };
    options.onEvent?.(received);
    events.publish(threadId(thread), received);
    // Watchers learn that no reply is coming (the operator answers in a message of their own).
    events.publish(threadId(thread), { kind: 'completed', eventId: 1, userMessage, assistantMessage: null });
    return { userMessage, assistantMessage: null, interruption: undefined };
  }

  return {
    /** Events of a thread the caller has already been allowed to see, from now on. */
    watch(thread: Thread): AsyncIterable<ChatEvent> {
      return events.subscribe(threadId(thread));
    },

    /**
     * Sends a message to a thread the caller has already been allowed to use.
     * Fails with MODEL_UNAVAILABLE (503) when the model gave no reply at all
     * (the message is stored), and with OVERLOADED (503) before storing
     * anything when the organization's share of reply slots and queue places,
     * or every one of them, is taken. A reply cut
     * short is stored and returned with status "incomplete" (with
     * `interruption` saying why when the model failed mid-reply); one
     * stopped on request (see RunningReplies) with status "stopped" and
     * exactly the pieces sent before the stop.
     */
    async send(thread: Thread, input: { content: string; metadata?: Record<string, unknown> | null }, options: SendOptions) {
      const data = parseInput(sendSchema, input);
      if (stopping?.aborted) throw serverStopping();
      const started = performance.now();
      // The client leaving, or the server stopping, ends the wait and the generation alike.
      const signal = stopping && options.signal ? AbortSignal.any([options.signal, stopping]) : (options.signal ?? stopping);
      const { organizationId, assistant, locale, traits, handoff } = await loadThread(options.opened);
      // A person answers this thread (src/services/handoff.ts): the message is stored and shown, the model is not asked.
      if (handoff === 'active') return personAnswers(thread, organizationId, data, options);
      // A full queue refuses before anything is stored: the client retries the message whole.
      const slot = slots.acquire(organizationId, signal);
      slot.catch(() => {}); // awaited below; this only keeps a rejection from going unhandled meanwhile
      // The message is stored (and shown to watchers) before it waits for its slot,
      // so that nothing the user said is lost, even if the client leaves while it waits.
      let userMessage: Message;
      try {
        userMessage = await prisma.message.create({
          data: {
            ...thread,
            organizationId,
            role: 'user',
            content: data.content,
            metadata: (data.metadata ?? {}) as Prisma.InputJsonObject,
          },
        });
      } catch (error) {
        slot.then((release) => release(), () => {});
        throw error;
      }
      const topic = threadId(thread);
      /** The reply's row, stored as "streaming" before the first token; unset if storing it failed. */
      let replyId: string | undefined;
      const emit = (event: ChatEvent) => {
        options.onEvent?.(event);
        // Logged before it is published: a resuming client that gets it live finds every earlier one kept.
        if (replyId && isReplyEvent(event)) log.append(replyId, event);
        events.publish(topic, event);
      };
      /** Numbers the reply's events, from 1 (see ReplyEvent). */
      let eventId = 0;
      emit({ kind: 'received', userMessage });
      const release = await waitForSlot(slot, signal);
      /** Settles once the reply's row holds its outcome: a stop waits for it. */
      const finished = Promise.withResolvers<void>();
      try {
        const model = assistant.model ?? defaultModel;
        let content = '';
        let status: 'complete' | 'incomplete' | 'stopped' | 'failed' = 'complete';
        let failure: LlmError | null = null;
        let usage: { promptTokens: number | null; completionTokens: number | null } = { promptTokens: null, completionTokens: null };
        let sources: Source[] = [];
        let unexpected: unknown = null;
        let untrack = () => {};
        // A stop ends the generation like a client leaving, but the reply counts as finished.
        const stopper = new AbortController();
        const generating = signal ? AbortSignal.any([signal, stopper.signal]) : stopper.signal;
        // Alongside the work before generation, which does not read it (history leaves streaming replies out).
        // Created later than the user's message by a millisecond at least, so the history never lists the reply first.
        const createdAt = new Date(Math.max(Date.now(), userMessage.createdAt.getTime() + 1));
        const placeholder = prisma.message
          .create({ data: { ...thread, organizationId, role: 'assistant', content: '', status: 'streaming', model, createdAt } })
          .then((row) => {
            replyId = row.id;
            // Saved (and heartbeated) from now on, read at each save about once a second: nothing is written per token.
            untrack = replies.track(row.id, () => content);
            running.add(row.id, { stop: () => stopper.abort(), finished: finished.promise });
            emit({ kind: 'started', eventId: ++eventId, userMessage, assistantMessage: row });
          });
        try {
          const turnsRead = history(thread, userMessage);
          // A rewrite reads the conversation, for what a follow-up question refers to.
          const rewrite =
            assistant.rewriteQuestions && rewriteQuestion
              ? async (question: string) => (await rewriteQuestion({ model, question, history: await turnsRead, signal: generating })).searchText
              : undefined;
          const [, info, turns, found] = await Promise.all([
            placeholder,
            llm.modelInfo(model),
            turnsRead,
            retrieve({ organizationId, assistantId: assistant.id, question: data.content, limit: RETRIEVAL_LIMIT, rewrite }),
          ]);
          const contextLength = Math.min(info.contextLength ?? FALLBACK_CONTEXT, maxContextLength);
          const references = selectReferences(found.references, Math.floor(contextLength * REFERENCE_SHARE));
          sources = references.sources;
          const { messages } = buildPrompt({
            persona: assistant,
            locale,
            traits,
            passages: references.passages,
            knowledgeSearched: found.searched,
            history: turns,
            message: data.content,
            contextLength,
            replyTokens: assistant.maxTokens ?? DEFAULT_REPLY_TOKENS,
          });
          const stream = llm.chatStream({
            model,
            messages,
            contextLength,
            temperature: assistant.temperature ?? undefined,
            maxTokens: assistant.maxTokens ?? undefined,
            signal: generating,
          });
          for await (const { delta } of stream) {
            // A piece read after the stop is never sent, so the stored reply is exactly what was streamed.
            if (stopper.signal.aborted) break;
            content += delta;
            emit({ kind: 'delta', eventId: ++eventId, userMessageId: userMessage.id, assistantMessageId: replyId!, delta });
          }
          const outcome = await stream.outcome;
          usage = { promptTokens: outcome.promptTokens, completionTokens: outcome.completionTokens };
          if (outcome.doneReason === 'aborted') status = stopper.signal.aborted ? 'stopped' : 'incomplete';
        } catch (error) {
          // An unexpected failure still stores what was generated, then surfaces as itself.
          if (!(error instanceof LlmError)) unexpected = error;
          else if (!stopper.signal.aborted) failure = error;
          status = stopper.signal.aborted && !unexpected ? 'stopped' : content === '' ? 'failed' : 'incomplete';
        }
        // Settled before the final write, or a reply failing early would leave its row streaming (or tracked).
        await placeholder.catch(() => {});
        untrack();

        // The final write holds everything the client received: the saves before it were snapshots.
        const final = {
          content,
          status,
          error:
            failure?.message ??
            (unexpected ? 'The reply failed because of an error on the server.' : null) ??
            (status === 'incomplete' && stopping?.aborted ? 'The server stopped before the reply was finished.' : null) ??
            (status === 'incomplete' ? 'The client went away before the reply was finished.' : null),
          sources,
          promptTokens: usage.promptTokens,
          completionTokens: usage.completionTokens,
          latencyMs: Math.round(performance.now() - started),
        };
        const assistantMessage = replyId
          ? await prisma.message.update({ where: { id: replyId }, data: final })
          : await prisma.message.create({ data: { ...thread, organizationId, role: 'assistant', model, ...final } });
        if (unexpected) throw unexpected;
        if (status === 'failed' && failure) {
          const error = unavailable(failure);
          emit({ kind: 'failed', eventId: ++eventId, userMessage, assistantMessageId: replyId, code: error.extensions.code, detail: error.message });
          throw error;
        }
        emit({ kind: 'completed', eventId: ++eventId, userMessage, assistantMessage });
        onReply?.({ organizationId, assistantId: assistant.id, userMessage, assistantMessage });
        // A model that failed mid-reply: the partial reply is stored as incomplete;
        // streams end with this error rather than presenting the reply as done.
        const interruption = failure
          ? new AppError(
              'MODEL_UNAVAILABLE',
              `The model stopped mid-reply: ${failure.message} The partial reply is stored as message ${assistantMessage.id} with status "incomplete".`,
              { retryAfter: 10 },
            )
          : status === 'incomplete' && stopping?.aborted
            ? new AppError(
                'SERVER_STOPPING',
                `The server is stopping: the partial reply is stored as message ${assistantMessage.id} with status "incomplete". Send the message again in a moment.`,
                { retryAfter: 5 },
              )
            : undefined;
        return { userMessage, assistantMessage, interruption };
      } finally {
        finished.resolve();
        release();
      }
    },
  };
}

export type ChatService = ReturnType<typeof createChatService>;
