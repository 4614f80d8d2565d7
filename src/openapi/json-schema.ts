// JSON Schema (the dialect of OpenAPI 3.1) for what GraphQL already checks:
// the input types and variable definitions a REST route's operation declares,
// and the shape its selection set gives the result. The REST layer hands
// bodies, paths and queries to these very types, so the schemas say what the
// server accepts and answers, not what someone remembered to write down.
import {
  getNamedType,
  isEnumType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  isUnionType,
  Kind,
  typeFromAST,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type SelectionSetNode,
  type TypeNode,
} from 'graphql';
import { snakeCase } from '../rest/envelope.ts';

export type JsonSchema = Record<string, unknown>;

/** Where the named input types and enums go: components.schemas, referenced by $ref. */
export type SchemaRegistry = Map<string, JsonSchema>;

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

/** The JSON form of each scalar the schema defines (src/schema/builder.ts). */
const SCALARS: Record<string, JsonSchema> = {
  ID: { type: 'string' },
  String: { type: 'string' },
  Int: { type: 'integer', format: 'int32' },
  Float: { type: 'number' },
  Boolean: { type: 'boolean' },
  DateTime: { type: 'string', format: 'date-time' },
  JSON: {},
  JSONObject: { type: 'object' },
  // Sent as a part of a multipart form.
  File: { type: 'string', format: 'binary', contentMediaType: 'application/octet-stream' },
};

/** A schema that also admits null (GraphQL's nullable types). */
export function nullable(schema: JsonSchema): JsonSchema {
  if (typeof schema.type === 'string') return { ...schema, type: [schema.type, 'null'] };
  if (Object.keys(schema).length === 0) return schema; // any value, null included
  return { anyOf: [schema, { type: 'null' }] };
}

/** The schema without its null (a query parameter is present or absent, never null). */
export function withoutNull(schema: JsonSchema): JsonSchema {
  if (Array.isArray(schema.type)) {
    const types = schema.type.filter((type) => type !== 'null');
    return { ...schema, type: types.length === 1 ? types[0] : types };
  }
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf.filter((branch) => (branch as JsonSchema).type !== 'null');
    return branches.length === 1 ? (branches[0] as JsonSchema) : { ...schema, anyOf: branches };
  }
  return schema;
}

function scalarSchema(name: string, description?: string | null): JsonSchema {
  const schema = SCALARS[name];
  if (!schema) throw new Error(`The OpenAPI document has no JSON form for the GraphQL scalar ${name}; add it to SCALARS.`);
  return description && !['ID', 'String', 'Int', 'Float', 'Boolean'].includes(name) ? { ...schema, description } : { ...schema };
}

/** An input type (an argument, a variable, a field of an input object) as the JSON a REST client sends. */
export function inputSchema(type: GraphQLInputType, registry: SchemaRegistry): JsonSchema {
  if (isNonNullType(type)) return inputSchema(type.ofType, registry);
  return nullable(requiredInputSchema(type, registry));
}

function requiredInputSchema(type: GraphQLInputType, registry: SchemaRegistry): JsonSchema {
  if (isNonNullType(type)) return requiredInputSchema(type.ofType, registry);
  if (isListType(type)) return { type: 'array', items: requiredListItem(type.ofType, registry) };
  if (isScalarType(type)) return scalarSchema(type.name, type.description);
  if (isEnumType(type)) return enumRef(type.name, type.getValues().map((value) => value.name), type.description, registry);
  if (!registry.has(type.name)) {
    registry.set(type.name, {}); // a placeholder first: input types may refer to themselves
    const fields = Object.values(type.getFields());
    registry.set(type.name, {
      type: 'object',
      ...(type.description ? { description: type.description } : {}),
      properties: Object.fromEntries(fields.map((field) => [snakeCase(field.name), described(inputSchema(field.type, registry), field.description)])),
      required: fields.filter((field) => isNonNullType(field.type) && field.defaultValue === undefined).map((field) => snakeCase(field.name)),
      // GraphQL refuses a field its input type does not define (422 naming it).
      additionalProperties: false,
    });
  }
  return ref(type.name);
}

const requiredListItem = (type: GraphQLInputType, registry: SchemaRegistry) =>
  isNonNullType(type) ? requiredInputSchema(type.ofType, registry) : inputSchema(type, registry);

function enumRef(name: string, values: string[], description: string | null | undefined, registry: SchemaRegistry): JsonSchema {
  if (!registry.has(name)) registry.set(name, { type: 'string', enum: values, ...(description ? { description } : {}) });
  return ref(name);
}

/** A schema with a description beside it ($ref siblings are allowed from OpenAPI 3.1). */
export function described(schema: JsonSchema, description?: string | null): JsonSchema {
  return description ? { ...schema, description } : schema;
}

/** A variable definition's type (`$limit: Int`) as a schema, and whether the operation requires it. */
export function variableSchema(schema: GraphQLSchema, type: TypeNode, registry: SchemaRegistry): { schema: JsonSchema; required: boolean } {
  const graphqlType = typeFromAST(schema, type as never) as GraphQLInputType | undefined;
  if (!graphqlType) throw new Error(`Unknown GraphQL type in a variable definition`);
  return { schema: isNonNullType(graphqlType) ? requiredInputSchema(graphqlType, registry) : inputSchema(graphqlType, registry), required: isNonNullType(graphqlType) };
}

/**
 * The JSON an operation's selection set produces, field by field under its
 * alias: what the REST reply carries once the route has shaped it. Fragment
 * spreads are followed; on a union only __typename and the spreads selected
 * on each member are known, so each member's fields appear as optional.
 */
export function selectionSchema(
  parent: GraphQLObjectType,
  selectionSet: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
  schema: GraphQLSchema,
  registry: SchemaRegistry,
): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const add = (set: SelectionSetNode, on: GraphQLObjectType, always: boolean) => {
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        properties[key] = fieldSchema(on, selection, fragments, schema, registry);
        if (always && !required.includes(key)) required.push(key);
      } else {
        const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? fragments.get(selection.name.value)! : selection;
        const typeName = fragment.typeCondition?.name.value ?? on.name;
        const target = typeName === on.name ? on : schema.getType(typeName);
        if (isObjectType(target)) add(fragment.selectionSet, target, always && target === on);
        else add(fragment.selectionSet, on, always);
      }
    }
  };
  add(selectionSet, parent, true);
  // GraphQL answers with exactly the fields selected.
  return { type: 'object', properties, required, additionalProperties: false };
}

function fieldSchema(
  parent: GraphQLObjectType,
  node: FieldNode,
  fragments: Map<string, FragmentDefinitionNode>,
  schema: GraphQLSchema,
  registry: SchemaRegistry,
): JsonSchema {
  if (node.name.value === '__typename') return { type: 'string' };
  const field = parent.getFields()[node.name.value];
  if (!field) throw new Error(`${parent.name} has no field ${node.name.value}`);
  return described(outputSchema(field.type, node, fragments, schema, registry), field.description);
}

function outputSchema(
  type: GraphQLOutputType,
  node: FieldNode,
  fragments: Map<string, FragmentDefinitionNode>,
  schema: GraphQLSchema,
  registry: SchemaRegistry,
): JsonSchema {
  return isNonNullType(type)
    ? requiredOutput(type.ofType as GraphQLOutputType, node, fragments, schema, registry)
    : nullable(requiredOutput(type, node, fragments, schema, registry));
}

/** The type without its nullability. */
function requiredOutput(
  type: GraphQLOutputType,
  node: FieldNode,
  fragments: Map<string, FragmentDefinitionNode>,
  schema: GraphQLSchema,
  registry: SchemaRegistry,
): JsonSchema {
  if (isNonNullType(type)) return requiredOutput(type.ofType as GraphQLOutputType, node, fragments, schema, registry);
  if (isListType(type)) return { type: 'array', items: outputSchema(type.ofType as GraphQLOutputType, node, fragments, schema, registry) };
  if (isScalarType(type)) return scalarSchema(type.name, type.description);
  if (isEnumType(type)) return enumRef(type.name, type.getValues().map((value) => value.name), type.description, registry);
  const named = getNamedType(type);
  if (isObjectType(named)) return described(selectionSchema(named, node.selectionSet!, fragments, schema, registry), named.description);
  if (isUnionType(named) || isInterfaceType(named)) {
    // Answered as one of its members: an object whose fields depend on __typename.
    const first = isUnionType(named) ? named.getTypes()[0] : schema.getPossibleTypes(named)[0];
    const shape = selectionSchema(first, node.selectionSet!, fragments, schema, registry);
    return described({ ...shape, required: (shape.required as string[]).filter((key) => key === '__typename') }, named.description);
  }
  throw new Error(`No JSON form for ${String(type)}`);
}
