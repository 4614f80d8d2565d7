// Organizations and their API credentials. Client ids are public; secrets are
// random (32 bytes), shown once, stored as SHA-256 hashes. A slow password hash
// would buy nothing for random secrets and cost every request.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '../../generated/prisma/client.ts';
import { AppError, notFound } from '../errors.ts';
import { TtlCache } from './ttl-cache.ts';
import { isUuid, parseInput, requiredText } from './validation.ts';
import { z } from 'zod';

export type OrganizationSummary = {
  id: string;
  name: string;
  clientId: string;
  isActive: boolean;
  rateLimitPerHour: number;
  createdAt: Date;
};

export type CreatedCredentials = { organizationId: string; clientId: string; clientSecret: string; secretId: string };

/** What a verified API key or widget token needs to know about its organization. */
export type OrganizationAuth = { id: string; rateLimitPerHour: number };

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

const newClientId = () => `cid_${randomBytes(16).toString('hex')}`;
const newSecret = () => `cs_${randomBytes(32).toString('base64url')}`;

/** How long a verified credential is trusted without asking the database again. */
const CREDENTIAL_CACHE_MS = 10_000;

/** An origin as browsers send it: scheme, host and port, nothing else. */
const ORIGIN = /^https?:\/\/[^/?#\s]+$/;
const originsSchema = z.object({
  allowedOrigins: z
    .array(
      z
        .string()
        .trim()
        .toLowerCase()
        .max(300)
        .refine((origin) => ORIGIN.test(origin) && URL.canParse(origin), { error: 'must list origins such as https://shop.example.com (scheme and host, no path)' }),
    )
    .max(100, { error: 'must list at most 100 origins' }),
});

const createSchema = z.object({
  name: requiredText(200),
  rateLimitPerHour: z.number().int().min(1).optional(),
});

export function createOrganizationService({ prisma, defaultRateLimit }: { prisma: PrismaClient; defaultRateLimit: number }) {
  const verified = new TtlCache<string, OrganizationAuth | null>(CREDENTIAL_CACHE_MS, 10_000);
  const byClientId = new TtlCache<string, (OrganizationAuth & { isActive: boolean; allowedOrigins: string[] }) | null>(CREDENTIAL_CACHE_MS, 10_000);
  const byId = new TtlCache<string, OrganizationAuth | null>(CREDENTIAL_CACHE_MS, 10_000);

  async function issueSecret(organizationId: string) {
    const clientSecret = newSecret();
    const row = await prisma.clientSecret.create({
      data: { organizationId, hash: sha256(clientSecret), hint: clientSecret.slice(0, 9) },
    });
    return { secretId: row.id, clientSecret };
  }

  async function requireOrganization(id: string) {
    const org = isUuid(id) ? await prisma.organization.findUnique({ where: { id } }) : null;
    if (!org) throw notFound('Organization', id);
    return org;
  }

  function forgetCachedAuth() {
    verified.clear();
    byClientId.clear();
    byId.clear();
  }

  return {
    async create(input: { name: string; rateLimitPerHour?: number }): Promise<CreatedCredentials> {
      const data = parseInput(createSchema, input);
      const org = await prisma.organization.create({
        data: { name: data.name, clientId: newClientId(), rateLimitPerHour: data.rateLimitPerHour ?? defaultRateLimit },
      });
      const { secretId, clientSecret } = await issueSecret(org.id);
      return { organizationId: org.id, clientId: org.clientId, clientSecret, secretId };
    },

    /** The caller's own organization. */
    get: requireOrganization,

    async count(): Promise<number> {
      return prisma.organization.count();
    },

    async list(): Promise<OrganizationSummary[]> {
      return prisma.organization.findMany({
        orderBy: { createdAt: 'asc' },
        select: { id: true, name: true, clientId: true, isActive: true, rateLimitPerHour: true, createdAt: true },
      });
    },

    /** A new live secret; older ones stay valid until revoked, so clients can switch without downtime. */
    async createSecret(organizationId: string) {
      const org = await requireOrganization(organizationId);
      return { organizationId: org.id, clientId: org.clientId, ...(await issueSecret(org.id)) };
    },

    async listSecrets(organizationId: string) {
      await requireOrganization(organizationId);
      return prisma.clientSecret.findMany({
        where: { organizationId },
        orderBy: { createdAt: 'asc' },
        select: { id: true, hint: true, createdAt: true, revokedAt: true, lastUsedAt: true },
      });
    },

    async revokeSecret(organizationId: string, secretId: string) {
      const secret = isUuid(secretId) ? await prisma.clientSecret.findFirst({ where: { id: secretId, organizationId } }) : null;
      if (!secret) throw notFound('Secret', secretId);
      if (secret.revokedAt) return secret;
      const live = await prisma.clientSecret.count({ where: { organizationId, revokedAt: null } });
      if (live <= 1) {
        throw new AppError(
          'CONFLICT',
          'This is the organization\'s last live secret; create a new one (key create) before revoking it.',
        );
      }
      const revoked = await prisma.clientSecret.update({ where: { id: secretId }, data: { revokedAt: new Date() } });
      forgetCachedAuth();
      return revoked;
    },

    /**
     * The web origins whose pages may ask for this organization's widget tokens;
     * an empty list lets any origin. Takes effect within the 10 s credential cache
     * (at once on the instance that made the change).
     */
    async setAllowedOrigins(organizationId: string, allowedOrigins: string[]) {
      await requireOrganization(organizationId);
      const data = parseInput(originsSchema, { allowedOrigins });
      const org = await prisma.organization.update({ where: { id: organizationId }, data: { allowedOrigins: [...new Set(data.allowedOrigins)] } });
      forgetCachedAuth();
      return org;
    },

    async setRateLimit(organizationId: string, perHour: number) {
      await requireOrganization(organizationId);
      parseInput(z.object({ perHour: z.number().int().min(1) }), { perHour });
      const org = await prisma.organization.update({ where: { id: organizationId }, data: { rateLimitPerHour: perHour } });
      forgetCachedAuth();
      return org;
    },

    async setActive(organizationId: string, isActive: boolean) {
      await requireOrganization(organizationId);
      const org = await prisma.organization.update({ where: { id: organizationId }, data: { isActive } });
      forgetCachedAuth();
      return org;
    },

    /** The organization owning this client id and secret, or null. */
    async verifyCredentials(clientId: string, secret: string): Promise<OrganizationAuth | null> {
      const hash = sha256(secret);
      const key = `${clientId}\n${hash}`;
      const cached = verified.get(key);
      if (cached !== undefined) return cached;
      const row = await prisma.clientSecret.findUnique({
        where: { hash },
        select: { id: true, revokedAt: true, organization: { select: { id: true, clientId: true, isActive: true, rateLimitPerHour: true } } },
      });
      // The hash lookup already matched; comparing the client id in constant
      // time keeps a wrong pairing from being told apart by timing.
      const expected = Buffer.from(row?.organization.clientId ?? '');
      const given = Buffer.from(clientId);
      const matches = row !== null && expected.length === given.length && timingSafeEqual(expected, given);
      const result =
        matches && !row.revokedAt && row.organization.isActive
          ? { id: row.organization.id, rateLimitPerHour: row.organization.rateLimitPerHour }
          : null;
      verified.set(key, result);
      if (result) {
        void prisma.clientSecret.update({ where: { id: row!.id }, data: { lastUsedAt: new Date() } }).catch(() => {});
      }
      return result;
    },

    async findByClientId(clientId: string) {
      const cached = byClientId.get(clientId);
      if (cached !== undefined) return cached;
      const org = await prisma.organization.findUnique({
        where: { clientId },
        select: { id: true, isActive: true, rateLimitPerHour: true, allowedOrigins: true },
      });
      byClientId.set(clientId, org);
      return org;
    },

    /** Current auth facts of an organization (a widget token carries only its id). */
    async findAuth(id: string): Promise<OrganizationAuth | null> {
      const cached = byId.get(id);
      if (cached !== undefined) return cached;
      const org = isUuid(id)
        ? await prisma.organization.findFirst({ where: { id, isActive: true }, select: { id: true, rateLimitPerHour: true } })
        : null;
      byId.set(id, org);
      return org;
    },
  };
}

export type OrganizationService = ReturnType<typeof createOrganizationService>;
