// Refuses a GraphQL document by its size and nesting before it is parsed.
// graphql-js parses recursively, one call per nested brace, bracket or
// parenthesis: a list literal nested a few thousand deep overflows the stack
// before the token limit (graphql-armor's, counted as the parser goes) can
// refuse it. A linear scan of the text cannot overflow, and costs little next
// to parsing.
import type { Plugin } from 'graphql-yoga';
import { AppError } from '../errors.ts';

/** Longest document accepted, in characters; the token limit allows nothing longer in practice. */
export const MAX_QUERY_CHARS = 100_000;
/**
 * Deepest nesting of { [ ( accepted: room for the selection depth limit (10)
 * plus input literals as deep as any input value may be (64).
 */
export const MAX_QUERY_NESTING = 128;

const refused = (message: string) => new AppError('BAD_REQUEST', message);

/** The deepest nesting of braces, brackets and parentheses outside strings and comments. */
export function nestingDepth(source: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    if (char === '#') {
      while (i < source.length && source[i] !== '\n' && source[i] !== '\r') i++;
    } else if (char === '"') {
      if (source.startsWith('"""', i)) {
        // Block string: ends at the next unescaped """.
        i += 3;
        while (i < source.length && !(source.startsWith('"""', i) && source[i - 1] !== '\\')) i++;
        i += 2;
      } else {
        i++;
        while (i < source.length && source[i] !== '"' && source[i] !== '\n') i += source[i] === '\\' ? 2 : 1;
      }
    } else if (char === '{' || char === '[' || char === '(') {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (char === '}' || char === ']' || char === ')') {
      depth--;
    }
  }
  return deepest;
}

/** The refusal for a document too long or too deeply nested to parse safely, or null. */
export function unparsableQuery(source: string): AppError | null {
  if (source.length > MAX_QUERY_CHARS) {
    return refused(`The GraphQL document is ${source.length} characters long; at most ${MAX_QUERY_CHARS} are accepted.`);
  }
  const depth = nestingDepth(source);
  if (depth > MAX_QUERY_NESTING) {
    return refused(
      `The GraphQL document nests braces, brackets or parentheses ${depth} levels deep; at most ${MAX_QUERY_NESTING} are accepted.`,
    );
  }
  return null;
}

export function useQueryShapeLimit(): Plugin {
  return {
    onParse({ params }) {
      const source = typeof params.source === 'string' ? params.source : params.source.body;
      const error = unparsableQuery(source);
      if (error) throw error;
    },
  };
}
