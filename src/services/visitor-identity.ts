// Signed visitor identity: the organization's own backend tells the widget who
// its visitor is by signing a short-lived HS256 JWT (a "user token") with one of
// the organization's identity secrets; `sub` is the user's reference (the
// user_reference of their user context). The gateway checks it when a widget
// token is asked for and binds the token to that user. The page never holds a
// secret, only a token that expires within a day.
//
// Identity secrets are kept as is (HMAC verification needs the key itself;
// prisma/schema.prisma says why encrypting them would protect nothing). Several
// may be live, so a backend can switch to a new one before the old is revoked.
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { AppError, notFound } from '../errors.ts';
import { TtlCache } from './ttl-cache.ts';
import { isUuid } from './validation.ts';

/** How far ahead a user token may expire: a leaked one is good for a day at most. */
export const USER_TOKEN_MAX_LIFETIME_SECONDS = 24 * 3600;
/** Leeway for the clocks of the customer's backend and ours, on exp, nbf and the 24-hour bound. */
const CLOCK_TOLERANCE_SECONDS = 60;
/** The longest user reference a user context takes. */
const USER_REFERENCE_MAX = 255;
/** A revocation or a new secret reaches the other instances within this long (at once on this one). */
const SECRET_CACHE_MS = 10_000;

const newIdentitySecret = () => `is_${randomBytes(32).toString('base64url')}`;

type LiveSecret = { id: string; key: Uint8Array };

/** A refused user token: 401, with a detail saying what is wrong with it. */
const refused = (detail: string) => new AppError('UNAUTHENTICATED', `user_token ${detail}`);

export function createVisitorIdentityService({ prisma }: { prisma: PrismaClient }) {
  const live = new TtlCache<string, LiveSecret[]>(SECRET_CACHE_MS, 10_000);

  async function liveSecrets(organizationId: string): Promise<LiveSecret[]> {
    const cached = live.get(organizationId);
    if (cached) return cached;
    const rows = await prisma.identitySecret.findMany({
      where: { organizationId, revokedAt: null },
      orderBy: { createdAt: 'desc' },
      select: { id: true, secret: true },
    });
    const secrets = rows.map((row) => ({ id: row.id, key: new TextEncoder().encode(row.secret) }));
    live.set(organizationId, secrets);
    return secrets;
  }

  async function requireOrganization(organizationId: string) {
    const org = isUuid(organizationId) ? await prisma.organization.findUnique({ where: { id: organizationId }, select: { id: true } }) : null;
    if (!org) throw notFound('Organization', organizationId);
  }

  /** Verifies the signature with each live secret (newest first) and the time claims; the payload of the first that matches. */
  async function verified(token: string, secrets: LiveSecret[]): Promise<{ payload: JWTPayload; secretId: string }> {
    for (const secret of secrets) {
      try {
        const { payload } = await jwtVerify(token, secret.key, {
          algorithms: ['HS256'],
          requiredClaims: ['exp'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
        });
        return { payload, secretId: secret.id };
      } catch (error) {
        // Another live secret may have signed it; any other failure is about the token itself.
        if (error instanceof joseErrors.JWSSignatureVerificationFailed) continue;
        throw describe(error);
      }
    }
    throw refused("has a signature that matches none of this organization's live identity secrets: it is forged, or signed with a revoked secret.");
  }

  return {
    /** A new live identity secret, shown once; the older ones stay live until revoked. */
    async createSecret(organizationId: string): Promise<{ id: string; identitySecret: string }> {
      await requireOrganization(organizationId);
      const identitySecret = newIdentitySecret();
      const row = await prisma.identitySecret.create({ data: { organizationId, secret: identitySecret, hint: identitySecret.slice(0, 9) } });
      live.clear();
      return { id: row.id, identitySecret };
    },

    async listSecrets(organizationId: string) {
      await requireOrganization(organizationId);
      return prisma.identitySecret.findMany({
        where: { organizationId },
        orderBy: { createdAt: 'asc' },
        select: { id: true, hint: true, createdAt: true, revokedAt: true, lastUsedAt: true },
      });
    },

    /**
     * Revokes a secret: user tokens it signed are refused from now on. Revoking
     * the last one is allowed; visitors are then anonymous only.
     */
    async revokeSecret(organizationId: string, secretId: string) {
      const secret = isUuid(secretId) ? await prisma.identitySecret.findFirst({ where: { id: secretId, organizationId } }) : null;
      if (!secret) throw notFound('Identity secret', secretId);
      live.clear();
      if (secret.revokedAt) return secret;
      return prisma.identitySecret.update({ where: { id: secretId }, data: { revokedAt: new Date() } });
    },

    /**
     * The user reference a user token vouches for. Throws UNAUTHENTICATED naming
     * what is wrong: not a JWT, unsigned (alg none), another algorithm, forged,
     * expired, without exp, expiring more than 24 hours ahead, or without sub.
     */
    async verifyUserToken(organizationId: string, token: string): Promise<string> {
      let alg: unknown;
      try {
        alg = decodeProtectedHeader(token).alg;
      } catch {
        throw refused('is not a JWT (three base64url parts separated by dots): have your backend sign one with HS256 and an identity secret.');
      }
      if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
        throw refused('is unsigned (alg "none"): sign it with HS256 and one of the organization\'s identity secrets.');
      }
      if (alg !== 'HS256') throw refused(`is signed with ${JSON.stringify(alg ?? null)}; only HS256 with an identity secret is accepted.`);
      const secrets = await liveSecrets(organizationId);
      if (secrets.length === 0) {
        throw refused('cannot be verified: the organization has no live identity secret. Create one with `org identity-secret --org ID`.');
      }
      const { payload, secretId } = await verified(token, secrets);
      const latest = Math.floor(Date.now() / 1000) + USER_TOKEN_MAX_LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS;
      if (payload.exp! > latest) {
        throw refused(`expires at ${new Date(payload.exp! * 1000).toISOString()}, more than 24 hours ahead: sign it to expire within 24 hours.`);
      }
      const reference = typeof payload.sub === 'string' ? payload.sub.trim() : '';
      if (!reference) throw refused("has no sub claim: set sub to the user's reference (their user context's user_reference).");
      if (reference.length > USER_REFERENCE_MAX) throw refused(`has a sub longer than ${USER_REFERENCE_MAX} characters.`);
      void prisma.identitySecret.update({ where: { id: secretId }, data: { lastUsedAt: new Date() } }).catch(() => {});
      return reference;
    },
  };
}

/** A jose failure other than the signature, as the 401 that says which. */
function describe(error: unknown): AppError {
  if (error instanceof joseErrors.JWTExpired) {
    const exp = (error.payload as JWTPayload).exp;
    return refused(`expired${typeof exp === 'number' ? ` at ${new Date(exp * 1000).toISOString()}` : ''}: have your backend sign a fresh one.`);
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'exp') {
      return error.reason === 'missing'
        ? refused('has no exp claim: user tokens must expire, at most 24 hours ahead.')
        : refused('has an exp claim that is not a number of seconds since 1970.');
    }
    if (error.claim === 'nbf') return refused('is not valid yet (its nbf lies ahead).');
    if (error.claim === 'iat') return refused('has an iat claim that is not a number of seconds since 1970.');
    return refused(`has an invalid ${error.claim} claim (${error.reason}).`);
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return refused('is not signed with HS256.');
  return refused('could not be read as a signed JWT: check that it is a compact HS256 JWS with a JSON payload.');
}

export type VisitorIdentityService = ReturnType<typeof createVisitorIdentityService>;
