import { builder } from './builder.ts';
import { pageArgs, pageRef } from './page.ts';

/** Fields a widget visitor may not read answer null for it. */
const private_ = { authScopes: { apiKey: true }, unauthorizedResolver: () => null } as const;

export const AssistantRef = builder.prismaObject('Assistant', {
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    tone: t.exposeString('tone'),
    language: t.exposeString('language'),
    isActive: t.exposeBoolean('isActive'),
    defaultTasks: t.exposeStringList('defaultTasks', { nullable: true, ...private_ }),
    model: t.exposeString('model', { nullable: true, ...private_, description: 'Ollama model; null uses the server default.' }),
    temperature: t.exposeFloat('temperature', { nullable: true, ...private_ }),
    maxTokens: t.exposeInt('maxTokens', { nullable: true, ...private_, description: 'Longest reply, in tokens.' }),
    rewriteQuestions: t.exposeBoolean('rewriteQuestions', {
      nullable: true,
      ...private_,
      description: 'Whether the model rewrites each question into search terms before the knowledge base is searched.',
    }),
    metadata: t.expose('metadata', { type: 'JSONObject', nullable: true, ...private_ }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const AssistantPage = pageRef('Assistant', AssistantRef);

const assistantFields = (t: PothosSchemaTypes.InputFieldBuilder<any, 'InputObject'>) => ({
  description: t.string(),
  tone: t.string({ description: 'For example professional, friendly, concise.' }),
  language: t.string({ description: 'Language tag of the replies, such as en or pt-BR.' }),
  defaultTasks: t.stringList(),
  isActive: t.boolean(),
  model: t.string({ description: 'Ollama model for this assistant; null uses OLLAMA_MODEL.' }),
  temperature: t.float({ description: '0 to 2.' }),
  maxTokens: t.int({ description: 'Longest reply in tokens, 1 to 32768.' }),
  rewriteQuestions: t.boolean({
    description:
      'Before searching the knowledge base, the model rewrites each question (read with the conversation so far) into search terms: ' +
      'paraphrased and follow-up questions find more, at the cost of one short generation before each reply. Default false.',
  }),
  metadata: t.field({ type: 'JSONObject' }),
});

const CreateAssistantInput = builder.inputType('CreateAssistantInput', {
  fields: (t) => ({ name: t.string({ required: true }), ...assistantFields(t) }),
});

const UpdateAssistantInput = builder.inputType('UpdateAssistantInput', {
  description: 'Fields left out stay as they are.',
  fields: (t) => ({ name: t.string(), ...assistantFields(t) }),
});

builder.queryFields((t) => ({
  assistants: t.field({
    type: AssistantPage,
    authScopes: { viewer: true },
    description: 'Assistants of the organization; a widget token sees only active ones.',
    args: { ...pageArgs, isActive: t.arg.boolean() },
    resolve: (_root, args, ctx) => ctx.services.assistants.list(ctx.viewer!, args),
  }),
  assistant: t.field({
    type: AssistantRef,
    authScopes: { viewer: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.assistants.get(ctx.viewer!, String(id)),
  }),
}));

builder.mutationFields((t) => ({
  createAssistant: t.field({
    type: AssistantRef,
    authScopes: { apiKey: true },
    args: { input: t.arg({ type: CreateAssistantInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.assistants.create(ctx.viewer!, input),
  }),
  updateAssistant: t.field({
    type: AssistantRef,
    authScopes: { apiKey: true },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateAssistantInput, required: true }) },
    resolve: (_root, { id, input }, ctx) => ctx.services.assistants.update(ctx.viewer!, String(id), input),
  }),
  deleteAssistant: t.field({
    type: 'ID',
    authScopes: { apiKey: true },
    description: 'Deletes the assistant with its sessions and conversations; returns its id.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => (await ctx.services.assistants.delete(ctx.viewer!, String(id))).id,
  }),
}));
