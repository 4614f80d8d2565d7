// Builds every service from its dependencies. Resolvers, the CLI and jobs call
// these; nothing else holds business rules.
import type { Redis } from 'ioredis';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Config } from '../config.ts';
import type { Llm } from '../llm/ollama.ts';
import { silentLogger, type Logger } from '../log.ts';
import { createAssistantService } from './assistant.ts';
import { createChatEventBus, type ChatEventBus } from './chat-events.ts';
import { createChatService } from './chat.ts';
import { createCompletionService } from './completion.ts';
import { createGenerationSlots } from './generation-slots.ts';
import { createMessagePages } from './message-pages.ts';
import { createStreamingReplies } from './streaming-replies.ts';
import { createJobQueue } from './jobs.ts';
import { createKnowledgeService } from './knowledge.ts';
import { createKnowledgeSearchService } from './knowledge-search.ts';
import { createConversationService } from './conversation.ts';
import { createOrganizationService } from './organization.ts';
import { createQuestionRewriter } from './question-rewrite.ts';
import { createReplyControl } from './reply-control.ts';
import { createReplyLog } from './reply-log.ts';
import { createRunningReplies } from './running-replies.ts';
import { createSessionService } from './session.ts';
import { createUserContextService } from './user-context.ts';
import { createVisitorIdentityService } from './visitor-identity.ts';
import { createWidgetTokenService } from './widget-token.ts';
import { createFeedbackService } from './feedback.ts';
import { createHandoffService } from './handoff.ts';
import { createWebhookEvents } from './webhook-events.ts';
import { createWebhookService } from './webhooks.ts';

export type ServiceDeps = {
  prisma: PrismaClient;
  llm: Llm;
  config: Config;
  /** Where chat events go; in memory when absent. */
  events?: ChatEventBus;
  /** Where replies' events are kept for resuming (shared by every instance); in memory when absent. */
  redis?: Redis;
  /** Aborted when the server stops (replies in progress end as incomplete). */
  stopping?: AbortSignal;
  /** Where background failures and degraded modes are told (the knowledge base, saving replies); silent when absent. */
  logger?: Logger;
};

export function createServices({ prisma, llm, config, events = createChatEventBus(), redis, stopping, logger = silentLogger }: ServiceDeps) {
  const organizations = createOrganizationService({ prisma, defaultRateLimit: config.rateLimitPerHour });
  const assistants = createAssistantService({ prisma });
  const userContexts = createUserContextService({ prisma });
  const identity = createVisitorIdentityService({ prisma });
  const jobs = createJobQueue({ prisma });
  const webhooks = createWebhookService({ prisma, allowHosts: config.webhookAllowHosts });
  const webhookEvents = createWebhookEvents({ prisma, webhooks, onError: (error) => logger.error({ err: error }, 'queueing a webhook event failed') });
  const knowledge = createKnowledgeService({
    prisma,
    jobs,
    llm,
    embedModel: config.ollamaEmbedModel,
    minSimilarity: config.knowledgeMinSimilarity,
    limits: { uploadMaxBytes: config.uploadMaxBytes, maxPages: config.knowledgeMaxPages, allowHosts: config.knowledgeUrlAllowHosts },
    onSettled: webhookEvents.sourceSettled,
    logger,
  });
  const generation = createGenerationSlots({
    concurrency: config.maxConcurrentGenerations,
    queueSize: config.generationQueueSize,
    perOrganization: config.maxGenerationsPerOrganization,
    queuePerOrganization: config.generationQueuePerOrganization,
  });
  const replies = createStreamingReplies({ prisma, logger });
  const rewriteQuestion = createQuestionRewriter({ llm, logger, defaultModel: config.ollamaModel });
  const conversations = createConversationService({ prisma, assistants, userContexts });
  const log = createReplyLog({ redis });
  const running = createRunningReplies();
  const chat = createChatService({
    stopping,
    prisma,
    llm,
    events,
    log,
    running,
    slots: generation,
    replies,
    defaultModel: config.ollamaModel,
    maxContextLength: config.ollamaContextLength,
    retrieve: knowledge.retrieve,
    rewriteQuestion,
    onReply: webhookEvents.replyStored,
  });
  return {
    /** Replies being generated, saved as they grow; closed with the app (a last save). */
    replies,
    /** Reply slots and their queue (active, waiting), for health and metrics. */
    generation,
    jobs,
    knowledge,
    organizations,
    /** Identity secrets and the user tokens they sign (signed-in widget visitors). */
    identity,
    widgetTokens: createWidgetTokenService({ prisma, organizations, identity, graceSeconds: config.widgetKeyGraceSeconds }),
    assistants,
    sessions: createSessionService({ prisma, assistants, userContexts }),
    conversations,
    userContexts,
    knowledgeSearch: createKnowledgeSearchService({
      prisma,
      assistants,
      retrieve: knowledge.retrieve,
      rewriteQuestion,
    }),
    chat,
    /** Pages of many threads' messages at once, for nested GraphQL lists. */
    messagePages: createMessagePages({ prisma, replies }),
    webhooks,
    /** Events being queued for webhooks; settled before the database closes. */
    webhookEvents,
    feedback: createFeedbackService({ prisma, webhooks }),
    handoff: createHandoffService({ prisma, events, webhooks }),
    /** Stopping replies and resuming their streams. */
    replyControl: createReplyControl({ prisma, events, log, running }),
    completions: createCompletionService({ prisma, conversations, chat }),
  };
}

export type Services = ReturnType<typeof createServices>;
