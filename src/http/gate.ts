// Admission of every request, on every surface (GraphQL over HTTP, REST,
// WebSocket operations): resolve who is calling, once, and count the request
// against the budgets of whoever spends it (src/http/rate-limit.ts): an API
// key its organization's limit; a widget visitor its address, itself and its
// organization's widget budget; an anonymous caller its address. Failures are
// AppErrors (401, 429) that each surface renders in its own format.
import { AppError } from '../errors.ts';
import type { Services } from '../services/services.ts';
import type { Viewer } from '../services/viewer.ts';
import { RateLimitedError, type RateLimitState, type RateLimits } from './rate-limit.ts';

export type Credentials = { apiKey?: string | null; apiSecret?: string | null; authorization?: string | null };

export type Admission = {
  viewer: Viewer | null;
  /** Every budget the request was counted against; their headers go on the response. */
  rateLimits: RateLimitState[];
  /**
   * Counts an anonymous request against the widget budget of an organization
   * found later (a widget token asked for with its client id); at most once.
   */
  chargeWidget: (organizationId: string) => Promise<void>;
  /** Set when chargeWidget refused the request, so the edge answers 429 whatever ran. */
  refusal?: RateLimitedError;
};
const BEARER = /^Bearer\s+(\S+)$/i;
/**
 * An API key carried as a Bearer token, `CLIENT_ID:CLIENT_SECRET`: what
 * OpenAI-compatible and MCP clients can send (their one "API key" setting).
 * Client ids start with `cid_` and never contain a colon; widget tokens are
 * JWTs, which never start so.
 */
const API_KEY_BEARER = /^(cid_[^:\s]+):(\S+)$/;

/** The API key in the credentials: X-API-Key/X-API-Secret, or a Bearer token of the form CLIENT_ID:CLIENT_SECRET. */
function apiKeyOf({ apiKey, apiSecret, authorization }: Credentials): { clientId?: string | null; secret?: string | null; header: 'x-api' | 'bearer' } | null {
  if (apiKey || apiSecret) return { clientId: apiKey, secret: apiSecret, header: 'x-api' };
  const pair = API_KEY_BEARER.exec(BEARER.exec(authorization?.trim() ?? '')?.[1] ?? '');
  return pair ? { clientId: pair[1], secret: pair[2], header: 'bearer' } : null;
}

export function createGate({ services, rateLimits }: { services: Services; rateLimits: RateLimits }) {
  async function identify(credentials: Credentials): Promise<Viewer | null> {
    const key = apiKeyOf(credentials);
    if (key) {
      const { clientId, secret } = key;
      if (!clientId || !secret) {
        throw new AppError('UNAUTHENTICATED', 'Send both X-API-Key (your client id) and X-API-Secret (your client secret).');
      }
      const org = await services.organizations.verifyCredentials(clientId, secret);
      if (!org) {
        const sent = key.header === 'x-api' ? 'X-API-Key or X-API-Secret' : 'API key in "Authorization: Bearer CLIENT_ID:CLIENT_SECRET"';
        throw new AppError('UNAUTHENTICATED', `Invalid ${sent}: check the client id and secret, or create a new secret with the CLI.`);
      }
      return { kind: 'apiKey', organizationId: org.id, rateLimitPerHour: org.rateLimitPerHour };
    }
    const { authorization } = credentials;
    if (authorization) {
      const token = BEARER.exec(authorization.trim())?.[1];
      if (!token) {
        throw new AppError('UNAUTHENTICATED', 'The Authorization header must be "Bearer <widget token>" or "Bearer CLIENT_ID:CLIENT_SECRET".');
      }
      const claims = await services.widgetTokens.verify(token);
      const org = claims && (await services.organizations.findAuth(claims.organizationId));
      if (!claims || !org) {
        throw new AppError('UNAUTHENTICATED', 'The widget token is invalid or expired: get a new one from POST /api/v1/auth/widget-token.');
      }
      return {
        kind: 'widget',
        organizationId: org.id,
        rateLimitPerHour: org.rateLimitPerHour,
        subject: claims.subject,
        ...(claims.userReference === undefined ? {} : { userReference: claims.userReference }),
      };
    }
    return null;
  }

  /**
   * As identify, but a failure counts against the client address: past the
   * allowance, wrong credentials get 429 instead of 401. Valid ones always pass,
   * whatever others sent from the same address.
   */
  async function authenticate(credentials: Credentials, clientAddress: string): Promise<Viewer | null> {
    try {
      return await identify(credentials);
    } catch (error) {
      if (error instanceof AppError && error.extensions.code === 'UNAUTHENTICATED') await rateLimits.chargeFailedAuth(clientAddress);
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
      const admission: Admission = { viewer, rateLimits: [], chargeWidget };
      let widgetCharged = false;
      async function count(charge: () => Promise<RateLimitState>) {
        try {
          admission.rateLimits.push(await charge());
        } catch (error) {
          if (error instanceof RateLimitedError) {
            admission.rateLimits.push(error.state);
            admission.refusal = error;
          }
          throw error;
        }
      }
      async function chargeWidget(organizationId: string) {
        // An API key spends its own budget, even when its backend asks for widget tokens.
        if (widgetCharged || viewer?.kind === 'apiKey') return;
        widgetCharged = true;
        await count(() => rateLimits.chargeWidget(organizationId));
      }
      if (viewer?.kind === 'apiKey') {
        await count(() => rateLimits.chargeOrganization(viewer.organizationId, viewer.rateLimitPerHour));
        return admission;
      }
      // The address first: a flood from one address is refused before it costs the organization anything.
      await count(() => rateLimits.chargeAddress(clientAddress));
      if (viewer) {
        await count(() => rateLimits.chargeVisitor(viewer.organizationId, viewer.subject));
        await chargeWidget(viewer.organizationId);
      }
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
