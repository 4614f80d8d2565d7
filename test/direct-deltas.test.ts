// A reply's pieces reach subscribers without a GraphQL execution each
// (src/schema/direct-deltas.ts): whatever an operation selects on MessageDelta,
// the result must be the one execution gives.
import { execute } from '@graphql-tools/executor';
import { createClient } from 'graphql-ws';
import { parse, type ExecutionResult } from 'graphql';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { deltaProjection } from '../src/schema/direct-deltas.ts';
import { schema } from '../src/schema/index.ts';
import type { ChatEvent } from '../src/services/chat-events.ts';
import { createTestApp, type TestApp } from './utils/app.ts';

const delta: Extract<ChatEvent, { kind: 'delta' }> = {
  kind: 'delta',
  eventId: 7,
  userMessageId: '3f2a6a44-58a4-4b8e-a0cb-41a1b1e8e0d1',
  assistantMessageId: '9b1f3c7e-2d4a-4e55-8f0e-6c1d2b3a4f5e',
  delta: ' brown "fox"\n',
};

/** Operations a client could send, each selecting MessageDelta's fields its own way: the selection, its fragments, its variables. */
const SELECTIONS: Array<[string, string, string?, Record<string, unknown>?]> = [
  ['one field in an inline fragment', '{ ... on MessageDelta { delta } }'],
  ['every field, with __typename first', '{ __typename ... on MessageDelta { eventId userMessageId assistantMessageId delta } }'],
  ['aliases, one field asked twice', '{ kind: __typename ... on MessageDelta { text: delta again: delta n: eventId } }'],
  ['a named fragment beside an inline one', '{ ...Piece ... on MessageDelta { eventId } }', 'fragment Piece on MessageDelta { delta __typename }'],
  ['a fragment on the union', '{ ...Any }', 'fragment Any on ChatEvent { __typename ... on MessageDelta { delta } }'],
  ['@include false and @skip true', '{ ... on MessageDelta { delta eventId @include(if: $with) assistantMessageId @skip(if: true) } }', '', { with: false }],
  ['@include true', '{ ... on MessageDelta { delta eventId @include(if: $with) } }', '', { with: true }],
  ['nothing for MessageDelta', '{ ... on MessageCompleted { eventId } }'],
];

function operation(selection: string, fragments: string, variables: Record<string, unknown>) {
  const declared = 'with' in variables ? '($with: Boolean!)' : '';
  return parse(`subscription ${declared} { piece: sessionEvents(sessionId: "any") ${selection} } ${fragments}`);
}

describe('the result of a MessageDelta', () => {
  test.each(SELECTIONS)('is the executed one: %s', async (_name, selection, fragments = '', variables = {}) => {
    const document = operation(selection, fragments, variables);
    const projection = deltaProjection(schema, { document, variableValues: variables });
    expect(projection).not.toBeNull();
    const projected: Record<string, unknown> = {};
    for (const field of projection!.fields) projected[field.key] = field.value(delta);
    const executed = (await execute({ schema, document, rootValue: delta, variableValues: variables, contextValue: { viewer: { kind: 'apiKey', organizationId: 'org' } } })) as ExecutionResult;
    expect(executed.errors).toBeUndefined();
    // Same fields, same values, same order.
    expect(JSON.stringify({ [projection!.rootKey]: projected })).toBe(JSON.stringify(executed.data));
  });

  test('is executed as before when the operation asks more of it than its scalar fields', () => {
    const nested = parse('subscription { sessionEvents(sessionId: "any") { ... on MessageDelta { delta } ... on MessageStarted { userMessage { id } } } }');
    // Fields of other event types do not matter; a query that is not a subscription never takes the shortcut.
    expect(deltaProjection(schema, { document: nested })).not.toBeNull();
    expect(deltaProjection(schema, { document: parse('query { __typename }') })).toBeNull();
    const two = parse('subscription { a: sessionEvents(sessionId: "a") { __typename } b: sessionEvents(sessionId: "b") { __typename } }');
    expect(deltaProjection(schema, { document: two })).toBeNull();
  });
});

describe('over graphql-ws', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ ollama: { reply: 'Pieces of a reply, one by one' } });
  });
  afterAll(() => t?.close());

  test('a reply streams its pieces under the aliases and fragments the client chose, and the other events as before', async () => {
    const { wsUrl } = await t.listen();
    const assistantId = (await t.json('POST', '/api/v1/assistants', { body: { name: 'Pieces' } })).body.data.id;
    const sessionId = (await t.json('POST', '/api/v1/sessions', { body: { assistant_id: assistantId } })).body.data.id;
    const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { 'X-API-Key': t.org.clientId, 'X-API-Secret': t.org.clientSecret }, retryAttempts: 0, lazy: true });
    try {
      const items: ExecutionResult[] = [];
      const query = /* GraphQL */ `
        subscription ($sessionId: ID!, $verbose: Boolean!) {
          reply: streamSessionMessage(sessionId: $sessionId, input: { content: "Go" }) {
            kind: __typename
            ...Piece
            ... on MessageCompleted { assistantMessage { content } }
          }
        }
        fragment Piece on MessageDelta { text: delta n: eventId @include(if: $verbose) reply: assistantMessageId @skip(if: $verbose) }`;
      for await (const item of client.iterate({ query, variables: { sessionId, verbose: true } })) items.push(item as ExecutionResult);
      const replies = items.map((item) => (item.data as { reply: Record<string, unknown> }).reply);
      const pieces = replies.filter((reply) => reply.kind === 'MessageDelta');
      expect(pieces.length).toBeGreaterThan(1);
      // Exactly the chosen keys, in the order chosen, numbered after MessageStarted (1).
      for (const [i, piece] of pieces.entries()) {
        expect(Object.keys(piece)).toEqual(['kind', 'text', 'n']);
        expect(piece.n).toBe(i + 2);
      }
      expect(pieces.map((piece) => piece.text).join('')).toBe('Pieces of a reply, one by one');
      expect(replies.at(-1)).toEqual({ kind: 'MessageCompleted', assistantMessage: { content: 'Pieces of a reply, one by one' } });
    } finally {
      await client.dispose();
    }
  });
});
