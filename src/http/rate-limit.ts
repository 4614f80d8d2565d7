// Request budgets: per organization per hour (its own limit), and per client
// address for failed authentication. Counters live in rate-limiter-flexible's
// memory store, or in Redis when REDIS_URL is set, so that every instance
// counts together; a Redis outage falls back to memory rather than failing.
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '../errors.ts';

const WINDOW_SECONDS = 3600;
/** Failed authentications a client address may make per window before it is told to wait. */
export const FAILED_AUTH_POINTS = 100;
const FAILED_AUTH_WINDOW_SECONDS = 900;

export type RateLimitState = {
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetIn: number;
  /** The policy's name in the RateLimit headers; "org" (an organization's hourly budget) when absent. */
  policy?: string;
  /** The policy's window in seconds; an hour when absent. */
  window?: number;
};

export function createRateLimits({ redis }: { redis?: Redis }) {
  // The counter itself never refuses (its ceiling is out of reach): each
  // organization's own limit is compared below, so changing a limit keeps the count.
  const counterOptions = { points: Number.MAX_SAFE_INTEGER, duration: WINDOW_SECONDS };
  const failureOptions = { points: FAILED_AUTH_POINTS, duration: FAILED_AUTH_WINDOW_SECONDS };
  const store = (options: { points: number; duration: number }, keyPrefix: string): RateLimiterAbstract =>
    redis
      ? new RateLimiterRedis({ ...options, keyPrefix, storeClient: redis, insuranceLimiter: new RateLimiterMemory({ ...options, keyPrefix }) })
      : new RateLimiterMemory({ ...options, keyPrefix });
  const organizations = store(counterOptions, 'rl:org');
  const failures = store(failureOptions, 'rl:authfail');

  return {
    /** Counts one request; throws RATE_LIMITED (with the state) once over the limit. */
    async chargeOrganization(organizationId: string, limit: number): Promise<RateLimitState> {
      const result = await organizations.consume(organizationId, 1);
      const state = {
        limit,
        remaining: Math.max(0, limit - result.consumedPoints),
        resetIn: Math.max(1, Math.ceil(result.msBeforeNext / 1000)),
      };
      if (result.consumedPoints > limit) throw rateLimited(state, `This organization has used its ${limit} requests for this hour.`);
      return state;
    },

    /** Counts a failed authentication from a client address; throws RATE_LIMITED past the allowance. */
    async chargeFailedAuth(address: string): Promise<void> {
      try {
        await failures.consume(address, 1);
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error;
        throw tooManyFailures(error.msBeforeNext);
      }
    },

    /**
     * Throws RATE_LIMITED when the address has used up its failed attempts, so
     * that it is refused before its next credentials are even checked.
     */
    async refuseAfterFailures(address: string): Promise<void> {
      const used = await failures.get(address);
      if (used && used.consumedPoints >= FAILED_AUTH_POINTS) throw tooManyFailures(used.msBeforeNext);
    },
  };
}

function tooManyFailures(msBeforeNext: number) {
  const state = {
    limit: FAILED_AUTH_POINTS,
    remaining: 0,
    resetIn: Math.max(1, Math.ceil(msBeforeNext / 1000)),
    // Not the organization's budget: the allowance of failed attempts per client address.
    policy: 'auth-failures',
    window: FAILED_AUTH_WINDOW_SECONDS,
  };
  return rateLimited(state, 'Too many failed authentication attempts from this address.');
}

export type RateLimits = ReturnType<typeof createRateLimits>;

function rateLimited(state: RateLimitState, reason: string): AppError & { rateLimit: RateLimitState } {
  const error = new AppError('RATE_LIMITED', `${reason} Retry in ${state.resetIn} seconds.`, { retryAfter: state.resetIn });
  return Object.assign(error, { rateLimit: state });
}

/** The headers every counted response carries: GitHub's X-RateLimit-* and the IETF draft fields. */
export function rateLimitHeaders(state: RateLimitState, now = Date.now()): Record<string, string> {
  return {
    'X-RateLimit-Limit': String(state.limit),
    'X-RateLimit-Remaining': String(state.remaining),
    'X-RateLimit-Reset': String(Math.ceil(now / 1000) + state.resetIn),
    'RateLimit-Policy': `"${state.policy ?? 'org'}";q=${state.limit};w=${state.window ?? WINDOW_SECONDS}`,
    RateLimit: `"${state.policy ?? 'org'}";r=${state.remaining};t=${state.resetIn}`,
  };
}
