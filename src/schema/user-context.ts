import { builder } from './builder.ts';
import { pageArgs, pageRef } from './page.ts';

export const UserContextRef = builder.prismaObject('UserContext', {
  description: 'What the organization knows about one of its users, to personalise conversations.',
  fields: (t) => ({
    id: t.exposeID('id'),
    userReference: t.exposeString('userReference'),
    traits: t.expose('traits', { type: 'JSONObject' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const UserContextPage = pageRef('UserContext', UserContextRef);

const UpsertUserContextInput = builder.inputType('UpsertUserContextInput', {
  fields: (t) => ({
    userReference: t.string({ required: true, description: 'Your own id for the user.' }),
    traits: t.field({ type: 'JSONObject' }),
  }),
});

const UpdateUserContextInput = builder.inputType('UpdateUserContextInput', {
  fields: (t) => ({
    traits: t.field({
      type: 'JSONObject',
      required: true,
      description: 'Merged into the stored traits: nested objects key by key; null removes a key.',
    }),
  }),
});

const UpsertUserContextPayload = builder
  .objectRef<{ userContext: object; created: boolean }>('UpsertUserContextPayload')
  .implement({
    fields: (t) => ({
      userContext: t.field({ type: UserContextRef, resolve: (p) => p.userContext as never }),
      created: t.exposeBoolean('created', { description: 'False when the reference existed and its traits were merged.' }),
    }),
  });

builder.queryFields((t) => ({
  userContext: t.field({
    type: UserContextRef,
    authScopes: { apiKey: true },
    args: { key: t.arg.string({ required: true, description: 'The context\'s id or its user reference.' }) },
    resolve: (_root, { key }, ctx) => ctx.services.userContexts.get(ctx.viewer!, key),
  }),
  userContexts: t.field({
    type: UserContextPage,
    authScopes: { apiKey: true },
    args: pageArgs,
    resolve: (_root, args, ctx) => ctx.services.userContexts.list(ctx.viewer!, args),
  }),
}));

builder.mutationFields((t) => ({
  upsertUserContext: t.field({
    type: UpsertUserContextPayload,
    authScopes: { apiKey: true },
    description: 'Creates the context, or merges the traits into the existing one with the same user reference.',
    args: { input: t.arg({ type: UpsertUserContextInput, required: true }) },
    resolve: (_root, { input }, ctx) => ctx.services.userContexts.upsert(ctx.viewer!, input),
  }),
  updateUserContext: t.field({
    type: UserContextRef,
    authScopes: { apiKey: true },
    args: { key: t.arg.string({ required: true }), input: t.arg({ type: UpdateUserContextInput, required: true }) },
    resolve: (_root, { key, input }, ctx) => ctx.services.userContexts.update(ctx.viewer!, key, input),
  }),
  deleteUserContext: t.field({
    type: 'ID',
    authScopes: { apiKey: true },
    description: 'Deletes the context; returns its id. Conversations linked to it stay, unlinked.',
    args: { key: t.arg.string({ required: true }) },
    resolve: async (_root, { key }, ctx) => (await ctx.services.userContexts.delete(ctx.viewer!, key)).id,
  }),
}));
