// Admission of every request, on every surface (GraphQL over HTTP, REST,
// WebSocket operations): resolve who is calling, once, and count the request
// against its organization's budget. Failures are AppErrors (401, 429) that
// each surface renders in its own format.
import { AppError } from '../errors.ts';
import type { OrganizationAuth } from '../services/organization.ts';
import type { Services } from '../services/services.ts';
import type { Viewer } from '../services/viewer.ts';
import type { RateLimitState, RateLimits } from './rate-limit.ts';

export type Credentials = { apiKey?: string | null; apiSecret?: string | null; authorization?: string | null };

export type Admission = {
  viewer: Viewer | null;
  /** Set once the request has been counted; its headers go on the response. */
  rateLimit?: RateLimitState;
  /** Counts the request against an organization found later (widget-token requests). */
  chargeOrganization: (organization: OrganizationAuth) => Promise<void>;
  /** Set when chargeOrganization refused the request (RATE_LIMITED), so the edge answers 429 whatever ran. */
  refusal?: AppError;
};

const BEARER = /^Bearer\s+(\S+)$/i;

export function createGate({ services, rateLimits }: { services: Services; rateLimits: RateLimits }) {
  async function identify(credentials: Credentials): Promise<Viewer | null> {
    const { apiKey, apiSecret, authorization } = credentials;
    if (apiKey || apiSecret) {
      if (!apiKey || !apiSecret) {
        throw new AppError('UNAUTHENTICATED', 'Send both X-API-Key (your client id) and X-API-Secret (your client secret).');
      }
      const org = await services.organizations.verifyCredentials(apiKey, apiSecret);
      if (!org) throw new AppError('UNAUTHENTICATED', 'Invalid X-API-Key or X-API-Secret: check the client id and secret, or create a new secret with the CLI.');
      return { kind: 'apiKey', organizationId: org.id, rateLimitPerHour: org.rateLimitPerHour };
    }
    if (authorization) {
      const token = BEARER.exec(authorization.trim())?.[1];
      if (!token) throw new AppError('UNAUTHENTICATED', 'The Authorization header must be "Bearer <widget token>".');
      const claims = await services.widgetTokens.verify(token);
      const org = claims && (await services.organizations.findAuth(claims.organizationId));
      if (!claims || !org) {
        throw new AppError('UNAUTHENTICATED', 'The widget token is invalid or expired: get a new one from POST /api/v1/auth/widget-token.');
      }
      return { kind: 'widget', organizationId: org.id, rateLimitPerHour: org.rateLimitPerHour, subject: claims.subject };
    }
    return null;
  }

  /** As identify, but a failure counts against the client address (RATE_LIMITED past the allowance). */
  async function authenticate(credentials: Credentials, clientAddress: string): Promise<Viewer | null> {
    const presented = Boolean(credentials.apiKey || credentials.apiSecret || credentials.authorization);
    if (presented) await rateLimits.refuseAfterFailures(clientAddress);
    try {
      return await identify(credentials);
    } catch (error) {
      await rateLimits.chargeFailedAuth(clientAddress);
      throw error;
    }
  }

  return {
    /** Who the credentials belong to (null when there are none); throws UNAUTHENTICATED when they are wrong. */
    identify,
    authenticate,

    /**
     * Authenticates and counts one request (or one WebSocket operation).
     * Anonymous requests pass with a null viewer: the schema decides what they may do.
     */
    async admit(credentials: Credentials, clientAddress: string): Promise<Admission> {
      const viewer = await authenticate(credentials, clientAddress);
      const admission: Admission = {
        viewer,
        async chargeOrganization(organization) {
          if (admission.rateLimit) return;
          try {
            admission.rateLimit = await rateLimits.chargeOrganization(organization.id, organization.rateLimitPerHour);
          } catch (error) {
            admission.rateLimit = (error as { rateLimit?: RateLimitState }).rateLimit;
            if (error instanceof AppError) admission.refusal = error;
            throw error;
          }
        },
      };
      if (viewer) await admission.chargeOrganization({ id: viewer.organizationId, rateLimitPerHour: viewer.rateLimitPerHour });
      return admission;
    },
  };
}

export type Gate = ReturnType<typeof createGate>;

export function credentialsFrom(headers: Headers): Credentials {
  return {
    apiKey: headers.get('x-api-key'),
    apiSecret: headers.get('x-api-secret'),
    authorization: headers.get('authorization'),
  };
}
