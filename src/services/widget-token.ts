// Widget tokens: short-lived HS256 JWTs that let a website visitor chat
// without the organization's secret. The signing keys live in the database so
// that every instance and every restart shares them; the newest live key signs.
// A rotated key stays in force for a grace period (WIDGET_KEY_GRACE_SECONDS,
// one token lifetime by default) so that visitors holding its tokens are not
// cut off mid-chat; past it, or at once with `--revoke-old`, its tokens are
// refused and cannot be renewed (renewal keeps the visitor id only for a token
// whose key is still in force).
//
// A token may be bound to a signed-in user (claim `usr`, their user reference),
// when the widget presents a user token signed by the organization's backend
// (src/services/visitor-identity.ts). Renewing a bound token keeps the binding.
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { AppError } from '../errors.ts';
import type { OrganizationService } from './organization.ts';
import type { VisitorIdentityService } from './visitor-identity.ts';

export const WIDGET_TOKEN_TTL_SECONDS = 3600;
/** A visitor may present a token expired for up to this long to keep its visitor id. */
const RENEWAL_GRACE_SECONDS = 24 * 3600;
const ISSUER = 'assistant-gateway';
const AUDIENCE = 'assistant-widget';
const ALGORITHM = 'HS256';
/** A rotation by the CLI or another instance reaches this one within this long. */
const KEY_REFRESH_MS = 10_000;

type Key = { id: string; secret: Uint8Array; retiredAt: Date | null };

export type WidgetClaims = {
  organizationId: string;
  subject: string;
  /** The signed-in user the token is bound to (a verified user token's sub); absent for anonymous visitors. */
  userReference?: string;
};

export type IssueRequest = {
  clientId: string;
  /** The visitor's previous widget token (expired up to 24 h), to keep its visitor id and binding. */
  previousToken?: string | null;
  /** The Origin of the page asking (null from servers). */
  origin?: string | null;
  /** A user token signed by the organization's backend: binds the new token to that user. */
  userToken?: string | null;
};

export function createWidgetTokenService({
  prisma,
  organizations,
  identity,
  graceSeconds = WIDGET_TOKEN_TTL_SECONDS,
}: {
  prisma: PrismaClient;
  organizations: OrganizationService;
  identity: VisitorIdentityService;
  /** How long a retired key still verifies the tokens it signed. */
  graceSeconds?: number;
}) {
  let keys: Key[] | undefined;
  let loadedAt = 0;

  async function loadKeys(): Promise<Key[]> {
    const rows = await prisma.signingKey.findMany({ orderBy: { createdAt: 'desc' } });
    keys = rows.map((row) => ({ id: row.id, secret: Buffer.from(row.secret, 'base64url'), retiredAt: row.retiredAt }));
    loadedAt = Date.now();
    return keys;
  }

  /** The keys, re-read now and then (KEY_REFRESH_MS). */
  const currentKeys = async () => (keys && Date.now() - loadedAt < KEY_REFRESH_MS ? keys : loadKeys());

  const inForce = (key: Key) => !key.retiredAt || key.retiredAt.getTime() + graceSeconds * 1000 > Date.now();

  async function signingKey(): Promise<Key> {
    const live = (await currentKeys()).find((key) => !key.retiredAt);
    if (live) return live;
    await prisma.signingKey.create({ data: { secret: randomBytes(32).toString('base64url') } });
    return (await loadKeys()).find((key) => !key.retiredAt)!;
  }

  /** Finds the key named by a token, if still in force; reloads once, since another instance may have rotated. */
  async function keyById(id: unknown): Promise<Key> {
    const find = (list: Key[]) => list.find((key) => key.id === id);
    const key = find(await currentKeys()) ?? find(await loadKeys());
    if (!key || !inForce(key)) throw new joseErrors.JWSSignatureVerificationFailed('unknown or revoked key');
    return key;
  }

  async function verify(token: string, clockTolerance = 0): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, async (header) => (await keyById(header.kid)).secret, {
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: [ALGORITHM],
      clockTolerance,
      requiredClaims: ['exp', 'sub', 'org'],
    });
    return payload;
  }

  return {
    /** Makes sure a signing key exists (first start). */
    async ensureKey(): Promise<void> {
      await signingKey();
    },

    /**
     * Issues a token for a client id. A previous token of the same organization
     * (expired for up to 24 h) keeps its visitor id, so a returning visitor
     * keeps access to the sessions it opened, and its user binding. A user token
     * binds the new token to its user; the previous visitor id is then kept only
     * when the previous token was bound to the same user (another person signed
     * in on this browser does not inherit the sessions of the last one).
     */
    async issue({ clientId, previousToken, origin, userToken }: IssueRequest) {
      const org = await organizations.findByClientId(clientId);
      if (!org || !org.isActive) {
        throw new AppError('UNAUTHENTICATED', 'Unknown or inactive client_id: use the client id printed when the organization was created.');
      }
      // A page elsewhere may not embed this organization's widget. Requests without an Origin come
      // from servers, not browsers (which always send it), and could claim any origin anyway.
      if (origin && org.allowedOrigins.length > 0 && !org.allowedOrigins.includes(origin.toLowerCase())) {
        throw new AppError(
          'FORBIDDEN',
          `The origin ${origin} may not ask for this organization's widget tokens: its allowed origins are ${org.allowedOrigins.join(', ')}. ` +
            'Add the page\'s origin to them (org origins --set).',
        );
      }
      // An empty user_token is a token that failed to be made, not a request to stay anonymous.
      const signedIn = userToken == null ? undefined : await identity.verifyUserToken(org.id, userToken);
      let subject: string = randomUUID();
      let userReference = signedIn;
      if (previousToken) {
        const previous = await verify(previousToken, RENEWAL_GRACE_SECONDS).catch(() => null);
        const previousUser = typeof previous?.usr === 'string' ? previous.usr : undefined;
        if (previous?.org === org.id && typeof previous.sub === 'string' && (signedIn === undefined || previousUser === signedIn)) {
          subject = previous.sub;
          userReference ??= previousUser;
        }
      }
      const key = await signingKey();
      const token = await new SignJWT(userReference === undefined ? { org: org.id } : { org: org.id, usr: userReference })
        .setProtectedHeader({ alg: ALGORITHM, kid: key.id, typ: 'JWT' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(subject)
        .setIssuedAt()
        .setExpirationTime(`${WIDGET_TOKEN_TTL_SECONDS}s`)
        .sign(key.secret);
      return { token, expiresIn: WIDGET_TOKEN_TTL_SECONDS, tokenType: 'Bearer' as const, organizationId: org.id };
    },

    /** The claims of a valid token, or null (expired, forged, wrong audience or algorithm). */
    async verify(token: string): Promise<WidgetClaims | null> {
      const payload = await verify(token).catch(() => null);
      if (!payload || typeof payload.org !== 'string' || typeof payload.sub !== 'string') return null;
      return { organizationId: payload.org, subject: payload.sub, ...(typeof payload.usr === 'string' ? { userReference: payload.usr } : {}) };
    },

    /**
     * Starts signing with a new key. The old one stays in force for the grace
     * period, so tokens already handed out keep working meanwhile; with
     * revokeOld, every older key ends now and the tokens they signed are refused.
     */
    async rotate({ revokeOld = false }: { revokeOld?: boolean } = {}): Promise<{ keyId: string; revokedKeys: number; graceSeconds: number }> {
      const { created, revoked } = await prisma.$transaction(async (tx) => {
        await tx.signingKey.updateMany({ where: { retiredAt: null }, data: { retiredAt: new Date() } });
        const created = await tx.signingKey.create({ data: { secret: randomBytes(32).toString('base64url') } });
        // Keys out of force verify nothing any more: deleted, with every older one when asked.
        const cutoff = new Date(Date.now() - graceSeconds * 1000);
        const { count: revoked } = await tx.signingKey.deleteMany({
          where: revokeOld ? { id: { not: created.id } } : { retiredAt: { lt: cutoff } },
        });
        return { created, revoked };
      });
      await loadKeys();
      return { keyId: created.id, revokedKeys: revoked, graceSeconds: revokeOld ? 0 : graceSeconds };
    },
  };
}

export type WidgetTokenService = ReturnType<typeof createWidgetTokenService>;
