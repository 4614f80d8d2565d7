import { KNOWLEDGE_KINDS } from '../services/knowledge.ts';
import { builder } from './builder.ts';
import { pageArgs, pageRef } from './page.ts';

const KnowledgeKind = builder.enumType('KnowledgeKind', {
  description: 'file: an uploaded document; qa: a question and its answer; url: a web page.',
  values: KNOWLEDGE_KINDS,
});

export const KnowledgeSourceRef = builder.prismaObject('KnowledgeSource', {
  description: 'Something the assistants answer from.',
  fields: (t) => ({
    id: t.exposeID('id'),
    kind: t.field({ type: KnowledgeKind, resolve: (s) => s.kind as (typeof KNOWLEDGE_KINDS)[number] }),
    title: t.exposeString('title'),
    status: t.exposeString('status', { description: 'pending, processing, ready or failed.' }),
    error: t.exposeString('error', { nullable: true, description: 'Why processing failed.' }),
    chunkCount: t.exposeInt('chunkCount', { description: 'Passages indexed for retrieval.' }),
    indexedAt: t.expose('indexedAt', { type: 'DateTime', nullable: true }),
    assistantIds: t.exposeIDList('assistantIds', { description: 'Assistants it serves; empty: all of the organization.' }),
    metadata: t.expose('metadata', { type: 'JSONObject' }),
    fileType: t.exposeString('fileType', { nullable: true }),
    fileName: t.exposeString('fileName', { nullable: true }),
    byteSize: t.exposeInt('byteSize', { nullable: true }),
    contentHash: t.exposeString('contentHash', { nullable: true, description: 'SHA-256 of the file.' }),
    question: t.exposeString('question', { nullable: true }),
    answer: t.exposeString('answer', { nullable: true }),
    tags: t.exposeStringList('tags'),
    source: t.exposeString('origin', { nullable: true, description: 'Where a Q&A pair comes from.' }),
    url: t.exposeString('url', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const KnowledgeSourcePage = pageRef('KnowledgeSource', KnowledgeSourceRef);

const scope = (t: PothosSchemaTypes.InputFieldBuilder<any, 'InputObject'>) => ({
  assistantIds: t.idList({ description: 'Serve only these assistants (default: every assistant of the organization).' }),
  metadata: t.field({ type: 'JSONObject' }),
});

const UploadKnowledgeFileInput = builder.inputType('UploadKnowledgeFileInput', {
  fields: (t) => ({
    title: t.string({ required: true }),
    fileType: t.string({ required: true, description: 'pdf, txt, md, html, docx or csv; checked against the content.' }),
    file: t.field({ type: 'File', required: true }),
    ...scope(t),
  }),
});

const AddKnowledgeQaInput = builder.inputType('AddKnowledgeQaInput', {
  fields: (t) => ({
    question: t.string({ required: true }),
    answer: t.string({ required: true }),
    tags: t.stringList(),
    source: t.string({ description: 'Where the pair comes from, e.g. manual.' }),
    ...scope(t),
  }),
});

const AddKnowledgeUrlInput = builder.inputType('AddKnowledgeUrlInput', {
  fields: (t) => ({
    url: t.string({ required: true }),
    title: t.string({ description: 'Defaults to the page\'s own title.' }),
    ...scope(t),
  }),
});

const UploadPayload = builder.objectRef<{ source: object; duplicate: boolean }>('UploadKnowledgeFilePayload').implement({
  fields: (t) => ({
    source: t.field({ type: KnowledgeSourceRef, resolve: (p) => p.source as never }),
    duplicate: t.exposeBoolean('duplicate', { description: 'True when the same file was uploaded before; nothing new was stored.' }),
  }),
});

const ids = (list: readonly (string | number)[] | null | undefined) => list?.map(String) ?? null;

builder.queryFields((t) => ({
  knowledgeSources: t.field({
    type: KnowledgeSourcePage,
    authScopes: { apiKey: true },
    description: 'Sources of one kind, newest first.',
    args: { kind: t.arg({ type: KnowledgeKind, required: true }), ...pageArgs },
    resolve: (_root, { kind, ...page }, ctx) => ctx.services.knowledge.list(ctx.viewer!, kind, page),
  }),
  knowledgeSource: t.field({
    type: KnowledgeSourceRef,
    authScopes: { apiKey: true },
    args: { id: t.arg.id({ required: true }), kind: t.arg({ type: KnowledgeKind }) },
    resolve: (_root, { id, kind }, ctx) => ctx.services.knowledge.get(ctx.viewer!, kind ?? null, String(id)),
  }),
}));

builder.mutationFields((t) => ({
  uploadKnowledgeFile: t.field({
    type: UploadPayload,
    authScopes: { apiKey: true },
    description: 'Stores a file and indexes it in the background (watch its status).',
    args: { input: t.arg({ type: UploadKnowledgeFileInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.knowledge.addFile(ctx.viewer!, { ...input, assistantIds: ids(input.assistantIds) }),
  }),
  addKnowledgeQa: t.field({
    type: KnowledgeSourceRef,
    authScopes: { apiKey: true },
    description: 'Stores a question and its answer and indexes them in the background.',
    args: { input: t.arg({ type: AddKnowledgeQaInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.knowledge.addQa(ctx.viewer!, { ...input, assistantIds: ids(input.assistantIds) }),
  }),
  addKnowledgeUrl: t.field({
    type: KnowledgeSourceRef,
    authScopes: { apiKey: true },
    description: 'Fetches a web page and indexes its main text in the background.',
    args: { input: t.arg({ type: AddKnowledgeUrlInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.knowledge.addUrl(ctx.viewer!, { ...input, assistantIds: ids(input.assistantIds) }),
  }),
  syncKnowledgeUrl: t.field({
    type: KnowledgeSourceRef,
    authScopes: { apiKey: true },
    description: 'Fetches the page again and replaces its passages once indexed.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.knowledge.sync(ctx.viewer!, String(id)),
  }),
  deleteKnowledgeSource: t.field({
    type: 'ID',
    authScopes: { apiKey: true },
    description: 'Deletes the source; its passages leave retrieval at once. Returns its id.',
    args: { id: t.arg.id({ required: true }), kind: t.arg({ type: KnowledgeKind }) },
    resolve: async (_root, { id, kind }, ctx) => (await ctx.services.knowledge.delete(ctx.viewer!, kind ?? null, String(id))).id,
  }),
}));
