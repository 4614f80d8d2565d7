// A reply's pieces without a GraphQL execution each. A subscription executes
// its selection set once per event: for a MessageDelta, a few scalars copied
// from the event, that execution (and the iterables Yoga's executor wraps each
// result in) was the largest share of the gateway's work per token, over the
// REST stream and graphql-ws alike (about 37 µs of the 245 a token cost the
// main thread at 100 concurrent chats). This plugin reads, once per
// subscription, which fields of MessageDelta the operation selects (aliases,
// fragments and @skip/@include as execution reads them); every MessageDelta
// then becomes its result directly, and every other event is executed as
// before. An operation that selects on MessageDelta anything but its scalar
// fields keeps the usual path whole. test/direct-deltas.test.ts checks that
// both paths give the same results.
import { buildExecutionContext, execute, getFragmentsFromDocument } from '@graphql-tools/executor';
import { collectFields, collectSubFields } from '@graphql-tools/utils';
import {
  createSourceEventStream,
  getNamedType,
  getOperationAST,
  isLeafType,
  isUnionType,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { ChatEvent } from '../services/chat-events.ts';

type Delta = Extract<ChatEvent, { kind: 'delta' }>;
/** How one response key of a MessageDelta's result is read from the event. */
type Projected = { key: string; value: (delta: Delta) => unknown };
type Projection = { rootKey: string; fields: Projected[] };

const DELTA_TYPE = 'MessageDelta';

/**
 * What the subscription's result for a MessageDelta is made of, or null when
 * the operation is not a subscription to the events of a reply, or selects on
 * MessageDelta something that needs executing.
 */
export function deltaProjection(schema: GraphQLSchema, args: Pick<ExecutionArgs, 'document' | 'operationName' | 'variableValues'>): Projection | null {
  const operation = getOperationAST(args.document, args.operationName);
  const root = schema.getSubscriptionType();
  const deltaType = schema.getType(DELTA_TYPE) as GraphQLObjectType | undefined;
  if (operation?.operation !== 'subscription' || !root || !deltaType) return null;
  const fragments = getFragmentsFromDocument(args.document);
  const variables = args.variableValues ?? {};
  const { fields: rootFields } = collectFields(schema, fragments, variables, root, operation.selectionSet);
  if (rootFields.size !== 1) return null;
  const [[rootKey, rootNodes]] = rootFields;
  const rootField = root.getFields()[rootNodes[0].name.value];
  const eventType = rootField && getNamedType(rootField.type);
  if (!eventType || !isUnionType(eventType) || !eventType.getTypes().includes(deltaType)) return null;

  const { fields: selected, patches } = collectSubFields(schema, fragments, variables, deltaType, rootNodes);
  if (patches.length > 0) return null;
  const known = deltaType.getFields();
  const fields: Projected[] = [];
  for (const [key, nodes] of selected) {
    const name = nodes[0].name.value;
    if (name === '__typename') {
      fields.push({ key, value: () => DELTA_TYPE });
      continue;
    }
    const type = known[name] && getNamedType(known[name].type);
    // Fields with arguments or directives of their own (beyond @skip/@include) are executed.
    if (!type || !isLeafType(type) || nodes.some((node) => node.arguments?.length || node.directives?.some((d) => d.name.value !== 'skip' && d.name.value !== 'include'))) {
      return null;
    }
    // MessageDelta's fields expose the event's properties of the same names (src/schema/chat-stream.ts).
    fields.push({ key, value: (delta) => type.serialize(delta[name as keyof Delta]) });
  }
  return { rootKey, fields };
}

function project(projection: Projection, delta: Delta): ExecutionResult {
  const value: Record<string, unknown> = {};
  for (const field of projection.fields) value[field.key] = field.value(delta);
  return { data: { [projection.rootKey]: value } };
}

/** The subscription's source events, each MessageDelta projected and every other event executed. */
async function subscribeWithDirectDeltas(args: ExecutionArgs & { signal?: AbortSignal }, projection: Projection): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in source)) return source;
  const events = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  // As Yoga's executor does with a signal: its abort ends the stream.
  args.signal?.addEventListener('abort', () => void events.return?.(undefined), { once: true });
  const resultOf = (event: unknown): ExecutionResult | Promise<ExecutionResult> =>
    (event as ChatEvent).kind === 'delta'
      ? project(projection, event as Delta)
      : (execute({ ...args, rootValue: event }) as ExecutionResult | Promise<ExecutionResult>);
  const step = async (next: Promise<IteratorResult<unknown>>): Promise<IteratorResult<ExecutionResult>> => {
    const item = await next;
    if (item.done) return { done: true, value: undefined };
    try {
      return { done: false, value: await resultOf(item.value) };
    } catch (error) {
      // A consumer does not call return() after next() fails: the source is ended here, so
      // that its generation and listeners stop, as Yoga's executor does.
      await events.return?.(undefined);
      throw error;
    }
  };
  const results: AsyncIterableIterator<ExecutionResult> = {
    next: () => step(events.next()),
    return: async () => {
      await events.return?.(undefined);
      return { done: true, value: undefined };
    },
    throw: async (error: unknown) => {
      await events.return?.(undefined);
      throw error;
    },
    [Symbol.asyncIterator]: () => results,
  };
  return results;
}

/** The executor's coerced variables: a plain map, or (from @graphql-tools/executor 2) one under `coerced`. */
function coercedVariables(values: unknown): Record<string, unknown> {
  const map = values as Record<string, unknown>;
  return 'coerced' in map && 'sources' in map ? (map.coerced as Record<string, unknown>) : map;
}

export function useDirectDeltas(): Plugin {
  return {
    onSubscribe({ subscribeFn, setSubscribeFn }) {
      setSubscribeFn(((args: ExecutionArgs) => {
        // Arguments that do not validate are answered by Yoga's executor, in its own words;
        // valid ones give the variables as execution reads them, for @skip and @include.
        const context = buildExecutionContext(args);
        const projection = 'schema' in context ? deltaProjection(args.schema, { ...args, variableValues: coercedVariables(context.variableValues) }) : null;
        return projection ? subscribeWithDirectDeltas(args, projection) : subscribeFn(args);
      }) as never);
    },
  };
}
