// The one context every GraphQL operation runs with, over HTTP, REST and
// WebSocket alike. The viewer is resolved once at the edge (src/http/auth.ts).
import type { PrismaClient } from '../generated/prisma/client.ts';
import type { Services } from './services/services.ts';
import type { Viewer } from './services/viewer.ts';

export type Context = {
  viewer: Viewer | null;
  services: Services;
  /** For the Pothos Prisma plugin's relation loading; resolvers call services instead. */
  prisma: PrismaClient;
  requestId: string;
  /** Aborted when the client goes away (HTTP request closed, subscription ended). */
  signal?: AbortSignal;
  /** The Origin header a browser sent (null from other clients): whose page the request comes from. */
  origin?: string | null;
  /**
   * Counts this anonymous request against an organization's widget budget when
   * the edge could not know the organization (a widget token asked for with a
   * client id). Throws RATE_LIMITED over the limit; charges a request at most once.
   */
  chargeWidget?: (organizationId: string) => Promise<void>;
};

/** What the edge hands to Yoga for each request, on top of Yoga's own context. */
export type EdgeContext = Pick<Context, 'viewer' | 'requestId' | 'signal' | 'origin' | 'chargeWidget'>;
