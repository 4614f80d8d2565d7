// Reads a REST route's mapping by running it on marked values: the route
// table says how the path, query and body become variables, and how the
// operation's result becomes the reply, as functions; called with markers in
// place of what a request carries, they show which variable comes from which
// parameter, and which fields and statuses the reply has. So the document
// follows the table as it is, and a mapping the probe cannot follow is an
// error naming the route (give it metadata) rather than a guess.
import type { Route } from '../rest/routes.ts';
import type { JsonSchema } from './json-schema.ts';

const MARK = '\u0000probe:';
type Source = 'path' | 'query' | 'body' | 'leaf';
const mark = (source: Source, name: string) => `${MARK}${source}:${name}`;
const MARKED_LEAF = new RegExp(`${MARK}leaf:(\\d+)`, 'g');

function markOf(value: unknown): { source: Source; name: string } | null {
  if (typeof value !== 'string' || !value.startsWith(MARK)) return null;
  const [source, ...name] = value.slice(MARK.length).split(':');
  return { source: source as Source, name: name.join(':') };
}

/** Where an operation variable's value comes from. */
export type VariableSource =
  | { from: 'path' | 'query'; name: string }
  /** A field of the JSON body (named as the body names it, camelCase). */
  | { from: 'body-field'; name: string }
  /** The whole body (an input object). */
  | { from: 'body' }
  /** A value the route sets itself, such as the kind of knowledge source. */
  | { from: 'fixed'; value: unknown };

/** A query string that answers every name with a marker. */
class MarkedQuery extends URLSearchParams {
  override get(name: string) {
    return mark('query', name);
  }
  override has() {
    return true;
  }
}

function containsBody(value: unknown, body: object, seen = new Set<unknown>()): boolean {
  if (value === body || markOf(value)?.source === 'body') return true;
  if (value === null || typeof value !== 'object' || seen.has(value)) return false;
  seen.add(value);
  return Object.values(value).some((item) => containsBody(item, body, seen));
}

/** The one path or query parameter a value is built from (a list split from `?ids=a,b`), if that is all it holds. */
function builtFrom(value: unknown): { source: 'path' | 'query'; name: string } | null {
  const marks = new Map<string, { source: Source; name: string }>();
  const walk = (item: unknown) => {
    const marked = markOf(item);
    if (marked) marks.set(`${marked.source}:${marked.name}`, marked);
    else if (item !== null && typeof item === 'object') Object.values(item).forEach(walk);
  };
  walk(value);
  const [only] = marks.values();
  return marks.size === 1 && (only.source === 'path' || only.source === 'query') ? (only as { source: 'path' | 'query'; name: string }) : null;
}

/** Which variable comes from which part of the request. */
export function probeVariables(route: Route): Map<string, VariableSource> {
  // A mapping that validates what it reads cannot run on markers: the route says it instead.
  if (route.openapi?.variables) return new Map(Object.entries(route.openapi.variables));
  const names = route.path.split('/').filter((part) => part.startsWith(':')).map((part) => part.slice(1));
  const params = Object.fromEntries(names.map((name) => [name, mark('path', name)]));
  const body = new Proxy({} as Record<string, unknown>, {
    get: (_, key) => (typeof key === 'string' ? mark('body', key) : undefined),
    ownKeys: () => [],
    has: () => true,
  });
  const variables = route.variables({ params, query: new MarkedQuery(), body, headers: new Headers() });
  const sources = new Map<string, VariableSource>();
  for (const [variable, value] of Object.entries(variables)) {
    if (value === undefined) continue;
    const marked = markOf(value);
    if (marked?.source === 'path' || marked?.source === 'query') sources.set(variable, { from: marked.source, name: marked.name });
    else if (marked?.source === 'body') sources.set(variable, { from: 'body-field', name: marked.name });
    else if (containsBody(value, body)) sources.set(variable, { from: 'body' });
    else if (value === null || typeof value !== 'object') sources.set(variable, { from: 'fixed', value });
    else if (builtFrom(value)) sources.set(variable, { from: builtFrom(value)!.source, name: builtFrom(value)!.name });
    else throw new Error(`${route.method} ${route.path}: the variable $${variable} comes from no parameter the probe can follow`);
  }
  return sources;
}

/** A value shaped like the operation's result, and what each part of it stands for. */
type Sample = { value: unknown; leaves: Array<{ schema: JsonSchema; name: string }>; objects: WeakMap<object, JsonSchema> };

const typesOf = (schema: JsonSchema) => (Array.isArray(schema.type) ? schema.type : [schema.type]);

/**
 * A sample result for a result schema. Leaves are markers (their schema kept
 * aside), except booleans when `booleans` is given (the reply may branch on
 * them) and enums the route fixes (`fixed`, by enum name: a knowledge route's
 * kind), which take their real value.
 */
function sample(schema: JsonSchema, fixed: Map<string, unknown>, booleans?: boolean): Sample {
  const leaves: Sample['leaves'] = [];
  const objects = new WeakMap<object, JsonSchema>();
  const build = (node: JsonSchema, name: string): unknown => {
    if (typeof node.$ref === 'string') {
      const enumName = node.$ref.split('/').pop()!;
      if (fixed.has(enumName)) return fixed.get(enumName);
    }
    if (Array.isArray(node.anyOf)) return build(node.anyOf.find((branch) => (branch as JsonSchema).type !== 'null') as JsonSchema, name);
    const types = typesOf(node);
    if (types.includes('object') && node.properties) {
      const value = Object.fromEntries(Object.entries(node.properties as Record<string, JsonSchema>).map(([key, child]) => [key, build(child, key)]));
      objects.set(value, node);
      return value;
    }
    if (types.includes('array')) {
      const value = [build(node.items as JsonSchema, name)];
      objects.set(value, node);
      return value;
    }
    if (types.includes('boolean') && booleans !== undefined) return booleans;
    leaves.push({ schema: node, name });
    return mark('leaf', String(leaves.length - 1));
  };
  return { value: build(schema, 'result'), leaves, objects };
}

/** The schema of a value the reply built from a sample. */
function schemaOf(value: unknown, { leaves, objects }: Sample): JsonSchema {
  const marked = markOf(value);
  if (marked?.source === 'leaf') return leaves[Number(marked.name)].schema;
  if (value !== null && typeof value === 'object' && objects.has(value)) return objects.get(value)!;
  if (value === null) return { type: 'null' };
  if (Array.isArray(value)) return { type: 'array', items: value.length ? schemaOf(value[0], { leaves, objects } as Sample) : {} };
  if (typeof value === 'object') {
    const entries = Object.entries(value);
    return {
      type: 'object',
      properties: Object.fromEntries(entries.map(([key, item]) => [key, schemaOf(item, { leaves, objects } as Sample)])),
      required: entries.map(([key]) => key),
      additionalProperties: false,
    };
  }
  // A value the route sets itself.
  return { type: typeof value, const: value };
}

/** The detail of a reply, with the result's values named in braces ({total}). */
const readable = (detail: string, { leaves }: Sample) => detail.replace(MARKED_LEAF, (_, index: string) => `{${leaves[Number(index)]?.name ?? 'value'}}`);

export type ProbedReply = { schema: JsonSchema; outcomes: Array<{ status: number; detail: string }> };

/**
 * The reply's data schema and its success statuses: the reply run on a marked
 * sample (for the shape), then with every boolean of the result true and false
 * (for the statuses a flag such as `created` or `duplicate` chooses).
 */
export function probeReply(route: Route, resultSchema: JsonSchema, fixed: Map<string, unknown>): ProbedReply {
  const run = (booleans?: boolean) => {
    const probe = sample(resultSchema, fixed, booleans);
    try {
      return { probe, reply: route.reply(probe.value) };
    } catch (error) {
      throw new Error(`${route.method} ${route.path}: its reply cannot be run on a sample result (${(error as Error).message})`);
    }
  };
  const marked = run();
  const outcomes = new Map<number, Set<string>>();
  for (const { probe, reply } of [marked, run(true), run(false)]) {
    if (!outcomes.has(reply.status)) outcomes.set(reply.status, new Set());
    outcomes.get(reply.status)!.add(readable(reply.detail, probe));
  }
  const schema = schemaOf(marked.reply.data, marked.probe);
  return {
    schema,
    outcomes: [...outcomes].map(([status, details]) => ({ status, detail: [...details].join(' — or — ') })).sort((a, b) => a.status - b.status),
  };
}

