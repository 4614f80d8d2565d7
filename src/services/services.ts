// Builds every service from its dependencies. Resolvers, the CLI and jobs call
// these; nothing else holds business rules.
import type { PrismaClient } from '../../generated/prisma/client.ts';
import type { Config } from '../config.ts';
import type { Llm } from '../llm/ollama.ts';
import { createAssistantService } from './assistant.ts';
import { createChatEventBus, type ChatEventBus } from './chat-events.ts';
import { createChatService } from './chat.ts';
import { createCompletionService } from './completion.ts';
import { createGenerationSlots } from './generation-slots.ts';
import { createStreamingReplies } from './streaming-replies.ts';
import { createJobQueue } from './jobs.ts';
import { createKnowledgeService } from './knowledge.ts';
import { createKnowledgeSearchService, type Retrieve } from './knowledge-search.ts';
import { createConversationService } from './conversation.ts';
import { createOrganizationService } from './organization.ts';
import { createSessionService } from './session.ts';
import { createUserContextService } from './user-context.ts';
import { createVisitorIdentityService } from './visitor-identity.ts';
import { createWidgetTokenService } from './widget-token.ts';

export type ServiceDeps = {
  prisma: PrismaClient;
  llm: Llm;
  config: Config;
  /** Where chat events go; in memory when absent. */
  events?: ChatEventBus;
  /** Aborted when the server stops (replies in progress end as incomplete). */
  stopping?: AbortSignal;
};

export function createServices({ prisma, llm, config, events = createChatEventBus(), stopping }: ServiceDeps) {
  const organizations = createOrganizationService({ prisma, defaultRateLimit: config.rateLimitPerHour });
  const assistants = createAssistantService({ prisma });
  const userContexts = createUserContextService({ prisma });
  const identity = createVisitorIdentityService({ prisma });
  const jobs = createJobQueue({ prisma });
  const knowledge = createKnowledgeService({
    prisma,
    jobs,
    llm,
    embedModel: config.ollamaEmbedModel,
    minSimilarity: config.knowledgeMinSimilarity,
    limits: { uploadMaxBytes: config.uploadMaxBytes, maxPages: config.knowledgeMaxPages, allowHosts: config.knowledgeUrlAllowHosts },
  });
  const generation = createGenerationSlots({
    concurrency: config.maxConcurrentGenerations,
    queueSize: config.generationQueueSize,
    perOrganization: config.maxGenerationsPerOrganization,
    queuePerOrganization: config.generationQueuePerOrganization,
  });
  const replies = createStreamingReplies({ prisma });
  const conversations = createConversationService({ prisma, assistants, userContexts });
  const chat = createChatService({
    stopping,
    prisma,
    llm,
    events,
    slots: generation,
    replies,
    defaultModel: config.ollamaModel,
    maxContextLength: config.ollamaContextLength,
    retrieve: knowledge.retrieve,
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
      // The passage searches' scope rule takes null for no particular assistant (see Retrieve).
      retrieve: knowledge.retrieve as Retrieve,
    }),
    chat,
    completions: createCompletionService({ prisma, conversations, chat }),
  };
}

export type Services = ReturnType<typeof createServices>;
