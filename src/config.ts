// The one place that reads process.env. Parsed once at start-up into a typed
// object; a wrong value stops start-up with a message naming the variable.
import path from 'node:path';
import proxyAddr from 'proxy-addr';
import { parseAllowHosts } from './knowledge/address-policy.ts';

export type Config = {
  port: number;
  host: string;
  /** Folder of the embedded database, its lock and the CLI's control socket. */
  dataDir: string;
  /** Unset: embedded PGlite in dataDir. */
  databaseUrl?: string;
  /** Unset: rate limits and pub/sub stay in this process's memory. */
  redisUrl?: string;
  ollamaHost: string;
  ollamaModel: string;
  ollamaEmbedModel: string;
  /** The largest context window (num_ctx) asked of Ollama; longer histories are trimmed to it. */
  ollamaContextLength: number;
  /** Unset: any origin is echoed back (with credentials allowed). */
  corsOrigins?: string[];
  /** Default hourly request budget of new organizations (spent by their API keys). */
  rateLimitPerHour: number;
  /** Widget requests (tokens and visitors' calls) per organization per hour. */
  widgetRateLimitPerHour: number;
  /** Anonymous and widget requests per client address per hour. */
  addressRateLimitPerHour: number;
  /** Calls per widget visitor per hour. */
  visitorRateLimitPerHour: number;
  /** Proxies whose X-Forwarded-For names the client (proxy-addr's trust list); empty: the socket's peer is the client. */
  trustProxy: string[];
  /** How long a retired widget signing key still verifies the tokens it signed (seconds). */
  widgetKeyGraceSeconds: number;
  maxConcurrentGenerations: number;
  generationQueueSize: number;
  /** Reply slots one organization may hold at once on an instance (default: half of them). */
  maxGenerationsPerOrganization: number;
  /** Queue places one organization may hold on an instance (default: a quarter of them). */
  generationQueuePerOrganization: number;
  uploadMaxBytes: number;
  /** Longest document (in pages) the knowledge base extracts. */
  knowledgeMaxPages: number;
  /** Cosine similarity from which a passage counts as relevant; depends on the embedding model. */
  knowledgeMinSimilarity: number;
  knowledgeUrlAllowHosts: string[];
  /** Webhook hosts that may be private addresses (a receiver on the same network). */
  webhookAllowHosts: string[];
  /** Largest JSON body accepted by the REST and GraphQL endpoints. */
  bodyMaxBytes: number;
  /** pino's level (LOG_LEVEL): info writes one access line per request. */
  logLevel: string;
  /** JSON lines for a log collector, or readable lines for a person (LOG_FORMAT=pretty). */
  logFormat: 'json' | 'pretty';
  /** Unset: /metrics is open (bind HOST or firewall it); set: it needs this as a bearer token. */
  metricsToken?: string;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}".`);
  }
  return value;
}

function fraction(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new ConfigError(`${name} must be a number between 0 and 1, got "${raw}".`);
  return value;
}

function url(env: Env, name: string, protocols: string[], fallback?: string): string | undefined {
  const raw = env[name]?.trim() || fallback;
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be a URL (${protocols.join(' or ')}), got "${raw}".`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.join(' or ')}, got "${raw}".`);
  }
  return raw.replace(/\/+$/, '');
}

function list(env: Env, name: string): string[] | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  return raw.split(',').map((item) => item.trim()).filter(Boolean);
}

function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (!values.includes(raw as T)) throw new ConfigError(`${name} must be one of ${values.join(', ')}, got "${raw}".`);
  return raw as T;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}".`);
}

function trustProxy(env: Env): string[] {
  const entries = list(env, 'TRUST_PROXY') ?? [];
  try {
    proxyAddr.compile(entries);
  } catch (error) {
    throw new ConfigError(`TRUST_PROXY must list addresses, CIDR ranges or loopback/linklocal/uniquelocal: ${(error as Error).message}`);
  }
  return entries;
}

function allowHosts(env: Env, name: 'KNOWLEDGE_URL_ALLOW_HOSTS' | 'WEBHOOK_ALLOW_HOSTS'): string[] {
  try {
    return parseAllowHosts(env[name], name);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

export function loadConfig(env: Env = process.env): Config {
  const origins = list(env, 'CORS_ORIGINS');
  for (const origin of origins ?? []) {
    if (origin !== '*' && !/^https?:\/\/[^/]+$/.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS must list origins such as https://shop.example.com (no path), got "${origin}".`);
    }
  }
  const maxConcurrentGenerations = integer(env, 'MAX_CONCURRENT_GENERATIONS', 4, 1, 10_000);
  const generationQueueSize = integer(env, 'GENERATION_QUEUE_SIZE', 64, 0, 1_000_000);
  return {
    port: integer(env, 'PORT', 4000, 0, 65535),
    host: env.HOST?.trim() || '0.0.0.0',
    dataDir: path.resolve(env.DATA_DIR?.trim() || './data'),
    databaseUrl: url(env, 'DATABASE_URL', ['postgresql:', 'postgres:']),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    ollamaHost: url(env, 'OLLAMA_HOST', ['http:', 'https:'], 'http://127.0.0.1:11434')!,
    ollamaModel: env.OLLAMA_MODEL?.trim() || 'llama3.2',
    ollamaEmbedModel: env.OLLAMA_EMBED_MODEL?.trim() || 'nomic-embed-text',
    ollamaContextLength: integer(env, 'OLLAMA_NUM_CTX', 8192, 512, 1_048_576),
    corsOrigins: origins?.includes('*') ? undefined : origins,
    rateLimitPerHour: integer(env, 'RATE_LIMIT_PER_HOUR', 1000, 1),
    widgetRateLimitPerHour: integer(env, 'WIDGET_RATE_LIMIT_PER_HOUR', 10_000, 1),
    addressRateLimitPerHour: integer(env, 'ADDRESS_RATE_LIMIT_PER_HOUR', 600, 1),
    visitorRateLimitPerHour: integer(env, 'VISITOR_RATE_LIMIT_PER_HOUR', 300, 1),
    trustProxy: trustProxy(env),
    widgetKeyGraceSeconds: integer(env, 'WIDGET_KEY_GRACE_SECONDS', 3600, 0),
    maxConcurrentGenerations,
    generationQueueSize,
    // Shares that leave room for others by default; an organization's flood is refused beyond them.
    maxGenerationsPerOrganization: integer(env, 'MAX_GENERATIONS_PER_ORGANIZATION', Math.ceil(maxConcurrentGenerations / 2), 1, maxConcurrentGenerations),
    generationQueuePerOrganization: integer(env, 'GENERATION_QUEUE_PER_ORGANIZATION', Math.ceil(generationQueueSize / 4), 0, generationQueueSize),
    uploadMaxBytes: integer(env, 'UPLOAD_MAX_BYTES', 20 * 1024 * 1024, 1),
    knowledgeMaxPages: integer(env, 'KNOWLEDGE_MAX_PAGES', 500, 1),
    knowledgeMinSimilarity: fraction(env, 'KNOWLEDGE_MIN_SIMILARITY', 0.6),
    knowledgeUrlAllowHosts: allowHosts(env, 'KNOWLEDGE_URL_ALLOW_HOSTS'),
    webhookAllowHosts: allowHosts(env, 'WEBHOOK_ALLOW_HOSTS'),
    bodyMaxBytes: integer(env, 'BODY_MAX_BYTES', 1024 * 1024, 1024),
    logLevel: oneOf(env, 'LOG_LEVEL', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    logFormat: oneOf(env, 'LOG_FORMAT', ['json', 'pretty'] as const, 'json'),
    metricsToken: env.METRICS_TOKEN?.trim() || undefined,
  };
}
