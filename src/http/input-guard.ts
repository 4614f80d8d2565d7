// Input that no field can hold, refused before any resolver sees it, for REST
// and GraphQL alike (REST runs its operations through the same plugins):
//   - the NUL character (\u0000): PostgreSQL text and jsonb cannot store it, so
//     it would otherwise surface as a database error (a 500);
//   - a lone UTF-16 surrogate ("\udc00" in JSON): it is no character at all, and
//     PostgreSQL's JSON parser refuses it (a 500 from any jsonb field);
//   - JSON nested absurdly deep: serialising it overflows the stack (a 500).
// Each becomes a 422 (VALIDATION_FAILED) naming the field.
import { Kind, type DocumentNode, type ValueNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { invalid, type AppError, type FieldError } from '../errors.ts';

/** Deepest nesting of objects and lists accepted in any input value. */
export const MAX_INPUT_DEPTH = 64;

const NUL_MESSAGE = 'must not contain the NUL character (\\u0000)';
const SURROGATE_MESSAGE = 'must not contain a lone UTF-16 surrogate (\\ud800 to \\udfff without its pair): it encodes no character';

const DEPTH_MESSAGE = `is nested too deeply (at most ${MAX_INPUT_DEPTH} levels of objects and lists)`;

/** Why a string cannot be stored, or null. */
function stringProblem(value: string): string | null {
  if (value.includes('\u0000')) return NUL_MESSAGE;
  if (!value.isWellFormed()) return SURROGATE_MESSAGE;
  return null;
}

/** A key as it can be shown in an error (which is itself JSON, and stored in logs). */
const printable = (key: string) => key.replaceAll('\u0000', '\\u0000').toWellFormed();

/**
 * The first problem in one input value, walked without recursion so that no
 * nesting can overflow the stack. Fields of an input object are named relative
 * to it (`traits.note`, not `input.traits.note`), as services name them.
 */
function inspectValue(root: unknown, name: string, isInputObject: boolean): FieldError | null {
  const base = isInputObject ? [] : [name];
  const top = (path: string[]) => [...base, ...path][0] ?? name;
  const stack: Array<{ value: unknown; path: string[]; depth: number }> = [{ value: root, path: base, depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const message = stringProblem(value);
      if (message) return { field: path.length > 0 ? path.map(printable).join('.') : name, message };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_INPUT_DEPTH) return { field: top(path), message: DEPTH_MESSAGE };
    const entries: Array<[string, unknown]> = Array.isArray(value)
      ? value.map((item, index) => [String(index), item])
      : Object.entries(value as Record<string, unknown>);
    for (const [key, item] of entries) {
      const message = stringProblem(key);
      if (message) return { field: [...path, key].map(printable).join('.'), message };
      stack.push({ value: item, path: [...path, key], depth: depth + 1 });
    }
  }
  return null;
}

/** String literals written into the document itself (`userReference: "a\u0000b"`). */
function inspectLiteral(root: ValueNode, name: string): FieldError | null {
  const stack: Array<{ node: ValueNode; path: string[] }> = [{ node: root, path: isInputName(name) ? [] : [name] }];
  while (stack.length > 0) {
    const { node, path } = stack.pop()!;
    const message = node.kind === Kind.STRING ? stringProblem(node.value) : null;
    if (message) return { field: path.length > 0 ? path.join('.') : name, message };
    if (node.kind === Kind.OBJECT) for (const field of node.fields) stack.push({ node: field.value, path: [...path, field.name.value] });
    if (node.kind === Kind.LIST) node.values.forEach((value, index) => stack.push({ node: value, path: [...path, String(index)] }));
  }
  return null;
}

/** Per parsed document: Yoga's parse cache hands out the same document for the same text, and REST's are fixed. */
const literalProblemsOf = new WeakMap<DocumentNode, FieldError | null>();

function literalProblems(document: DocumentNode): FieldError | null {
  let problem = literalProblemsOf.get(document);
  if (problem === undefined) {
    problem = findLiteralProblem(document);
    literalProblemsOf.set(document, problem);
  }
  return problem;
}

function findLiteralProblem(document: DocumentNode): FieldError | null {
  const pending: unknown[] = [document];
  while (pending.length > 0) {
    const node = pending.pop() as { kind?: string } | null;
    if (!node || typeof node !== 'object') continue;
    if (node.kind === Kind.ARGUMENT) {
      const argument = node as unknown as { name: { value: string }; value: ValueNode };
      const problem = inspectLiteral(argument.value, argument.name.value);
      if (problem) return problem;
      continue;
    }
    for (const child of Object.values(node)) {
      if (Array.isArray(child)) pending.push(...child);
      else if (child && typeof child === 'object' && 'kind' in child) pending.push(child);
    }
  }
  return null;
}

const isInputName = (name: string) => name === 'input' || name.endsWith('Input');

/** Variable names whose declared type is an input object (named `...Input`), as in `$data: CreateAssistantInput!`. */
function inputObjectVariables(document: DocumentNode): Set<string> {
  const names = new Set<string>();
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const variable of definition.variableDefinitions ?? []) {
      let type = variable.type;
      while (type.kind !== Kind.NAMED_TYPE) type = type.type;
      if (isInputName(type.name.value)) names.add(variable.variable.name.value);
    }
  }
  return names;
}

/** The validation error for an operation's variables and literals, or null when they are storable. */
export function unstorableInput(document: DocumentNode, variables: Record<string, unknown> | null | undefined): AppError | null {
  const inputObjects = inputObjectVariables(document);
  for (const [name, value] of Object.entries(variables ?? {})) {
    const problem = inspectValue(value, name, inputObjects.has(name));
    if (problem) return invalid([problem]);
  }
  const problem = literalProblems(document);
  return problem ? invalid([problem]) : null;
}

export function useInputGuard(): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = unstorableInput(args.document, args.variableValues as Record<string, unknown> | undefined);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = unstorableInput(args.document, args.variableValues as Record<string, unknown> | undefined);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}
