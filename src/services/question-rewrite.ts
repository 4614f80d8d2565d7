// Optional per assistant (`rewriteQuestions`): before the knowledge base is
// searched, the assistant's own model turns the visitor's question, read with
// the conversation so far, into search terms. A customer asks "can it run
// without the internet?" where the manual says "offline mode"; a follow-up says
// "and how much is it?" about something named two turns earlier. Lexical search
// finds neither; the model knows both. The cost is one short generation before
// the reply's (a few dozen tokens), so it is off by default.
import type { Logger } from '../log.ts';
import type { Llm } from '../llm/ollama.ts';
import { LlmError } from '../llm/ollama.ts';
import type { HistoryTurn } from './prompt.ts';

/** The rewrite is a line of terms, not an answer: anything longer is cut here. */
const MAX_TOKENS = 48;
const MAX_CHARS = 300;
/** Earlier turns read, each clipped: enough for what "it" and "that" refer to. */
const CONTEXT_TURNS = 4;
const TURN_CHARS = 400;
/** A rewrite slower than this is dropped and the question searched as asked. */
export const REWRITE_TIMEOUT_MS = 15_000;

export type RewriteRequest = {
  /** The assistant's model; null: the server's default. */
  model: string | null;
  question: string;
  history?: HistoryTurn[];
  signal?: AbortSignal;
};

const INSTRUCTIONS = [
  'You turn a customer\'s latest question into a search query for a knowledge base of documentation.',
  'Reply with one line of search terms and nothing else: the key words of the question, the words the documentation',
  'would likely use for the same things (synonyms, technical and product names), and the names of what the',
  'question refers to from earlier in the conversation. No explanation, no quotes, no answer to the question.',
].join(' ');

function promptOf({ question, history = [] }: RewriteRequest): string {
  const earlier = history
    .slice(-CONTEXT_TURNS)
    .map((turn) => `${turn.role === 'user' ? 'Customer' : 'Assistant'}: ${turn.content.slice(0, TURN_CHARS)}`);
  return [...(earlier.length > 0 ? ['Conversation so far:', ...earlier, ''] : []), `Latest question: ${question}`].join('\n');
}

/** The model's line of terms, cleaned up; empty when it had nothing to add. */
function termsOf(output: string): string {
  const line = output
    .replace(/<think>[\s\S]*?<\/think>/g, '') // reasoning models think aloud first
    .split('\n')
    .map((part) => part.trim())
    .find((part) => part !== '');
  return (line ?? '').replace(/^(search (query|terms)|query|terms)\s*:\s*/i, '').replace(/^["'`]+|["'`]+$/g, '').slice(0, MAX_CHARS).trim();
}

export function createQuestionRewriter({ llm, logger, defaultModel, timeoutMs = REWRITE_TIMEOUT_MS }: { llm: Llm; logger: Logger; defaultModel: string; timeoutMs?: number }) {
  /**
   * The text to search for `question`: the question itself followed by the
   * model's terms, so that a poor rewrite can add words but never lose the
   * visitor's own. Any failure of the model (or a client leaving) searches the
   * question as asked: the reply itself then reports what is wrong with the model.
   */
  return async function rewrite(request: RewriteRequest): Promise<{ searchText: string; rewrite: string | null }> {
    const model = request.model ?? defaultModel;
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(request.signal ? [request.signal] : [])]);
    let output = '';
    try {
      const stream = llm.chatStream({
        model,
        messages: [
          { role: 'system', content: INSTRUCTIONS },
          { role: 'user', content: promptOf(request) },
        ],
        temperature: 0,
        maxTokens: MAX_TOKENS,
        signal,
      });
      for await (const { delta } of stream) {
        output += delta;
        if (output.length > MAX_CHARS * 2) break;
      }
      const outcome = await stream.outcome;
      if (outcome.doneReason === 'aborted' && signal.aborted) {
        if (!request.signal?.aborted) logger.warn({ model, timeoutMs }, 'Question rewrite: the model took too long; searching the question as asked.');
        return { searchText: request.question, rewrite: null };
      }
    } catch (error) {
      if (!(error instanceof LlmError)) throw error;
      logger.warn({ err: error, model }, 'Question rewrite failed; searching the question as asked.');
      return { searchText: request.question, rewrite: null };
    }
    const terms = termsOf(output);
    return terms === '' ? { searchText: request.question, rewrite: null } : { searchText: `${request.question}\n${terms}`, rewrite: terms };
  };
}

export type QuestionRewriter = ReturnType<typeof createQuestionRewriter>;
