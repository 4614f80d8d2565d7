// Webhook endpoints (API keys only): register one (its signing secret is shown
// in that reply alone), list, delete, and read its deliveries.
import { WEBHOOK_EVENTS } from '../services/webhooks.ts';
import { builder } from './builder.ts';
import { pageArgs, pageRef } from './page.ts';

const WebhookDeliveryRef = builder.prismaObject('WebhookDelivery', {
  description: 'One event sent, or to be sent, to one endpoint.',
  fields: (t) => ({
    id: t.exposeID('id'),
    eventId: t.exposeString('eventId', { description: 'The webhook-id header: the same on every attempt.' }),
    type: t.exposeString('type'),
    status: t.exposeString('status', { description: 'pending (to be sent, or retried at nextAttemptAt), delivered (answered 2xx) or failed (given up).' }),
    attempts: t.exposeInt('attempts'),
    lastStatus: t.exposeInt('lastStatus', { nullable: true, description: 'The HTTP status of the last attempt; null when it got no answer.' }),
    lastError: t.exposeString('lastError', { nullable: true }),
    nextAttemptAt: t.field({ type: 'DateTime', nullable: true, resolve: (d) => (d.status === 'pending' ? d.nextAttemptAt : null) }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    payload: t.expose('payload', { type: 'JSON', description: 'The body sent: {type, timestamp, data}.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const WebhookDeliveryPage = pageRef('WebhookDelivery', WebhookDeliveryRef);

export const WebhookRef = builder.prismaObject('WebhookEndpoint', {
  name: 'Webhook',
  description: 'Where events are sent, signed as Standard Webhooks describes.',
  fields: (t) => ({
    id: t.exposeID('id'),
    url: t.exposeString('url'),
    events: t.exposeStringList('events'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    deliveries: t.field({
      type: WebhookDeliveryPage,
      description: 'Deliveries to this endpoint, newest first.',
      args: { ...pageArgs, status: t.arg.string({ description: 'pending, delivered or failed.' }) },
      resolve: (endpoint, args, ctx) => ctx.services.webhooks.deliveries(ctx.viewer!, endpoint.id, args),
    }),
  }),
});

const WebhookPage = pageRef('Webhook', WebhookRef);

const CreateWebhookInput = builder.inputType('CreateWebhookInput', {
  fields: (t) => ({
    url: t.string({ required: true }),
    events: t.stringList({ required: true, description: `Any of ${WEBHOOK_EVENTS.join(', ')}.` }),
  }),
});

const CreatedWebhook = builder.objectRef<{ webhook: { id: string }; secret: string }>('CreatedWebhook').implement({
  fields: (t) => ({
    webhook: t.field({ type: WebhookRef, resolve: (p) => p.webhook as never }),
    secret: t.exposeString('secret', { description: 'The signing secret (whsec_...), shown this once: verify deliveries with it.' }),
  }),
});

builder.queryFields((t) => ({
  webhooks: t.field({
    type: WebhookPage,
    authScopes: { apiKey: true },
    description: 'Webhook endpoints, newest first.',
    args: pageArgs,
    resolve: (_root, args, ctx) => ctx.services.webhooks.list(ctx.viewer!, args),
  }),
  webhook: t.field({
    type: WebhookRef,
    authScopes: { apiKey: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.services.webhooks.get(ctx.viewer!, String(id)),
  }),
}));

builder.mutationFields((t) => ({
  createWebhook: t.field({
    type: CreatedWebhook,
    authScopes: { apiKey: true },
    args: { input: t.arg({ type: CreateWebhookInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const webhook = await ctx.services.webhooks.create(ctx.viewer!, input);
      return { webhook, secret: webhook.secret };
    },
  }),
  deleteWebhook: t.field({
    type: 'Boolean',
    authScopes: { apiKey: true },
    description: 'Deletes the endpoint and the deliveries not yet sent to it.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      await ctx.services.webhooks.delete(ctx.viewer!, String(id));
      return true;
    },
  }),
}));
