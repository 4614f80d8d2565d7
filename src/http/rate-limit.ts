// Request budgets, each spent by whoever makes the requests:
//   - "org": an organization's hourly limit, spent by its API-key traffic only;
//   - "widget": an organization's budget for its public widget traffic (widget
//     tokens asked for with its client id, and its visitors' calls), apart from
//     the API-key budget, so that anyone holding the public client id cannot
//     lock the organization's own backend out;
//   - "address": every anonymous or widget request per client address, so that
//     a flood from one address costs that address before it costs anyone else;
//   - "visitor": a widget visitor's calls (the token's visitor id);
//   - "auth-failures": failed authentications per client address.
// Counters live in rate-limiter-flexible's memory store, or in Redis when
// REDIS_URL is set, so that every instance counts together; a Redis outage
// falls back to memory rather than failing.
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { AppError } from '../errors.ts';

const HOUR = 3600;
/** Failed authentications a client address may make per window before further failures are answered 429. */
export const FAILED_AUTH_POINTS = 100;
const FAILED_AUTH_WINDOW_SECONDS = 900;

export type PolicyName = 'org' | 'widget' | 'address' | 'visitor' | 'auth-failures';

export type RateLimitState = {
  /** The policy's name in the RateLimit headers. */
  policy: PolicyName;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  resetIn: number;
  /** The policy's window in seconds. */
  window: number;
};

/** The budgets that are the same for every organization (an organization's own limit is stored with it). */
export type BudgetConfig = {
  /** Widget requests per organization per hour (tokens and visitors' calls together). */
  widgetPerHour: number;
  /** Anonymous and widget requests per client address per hour. */
  addressPerHour: number;
  /** Calls per widget visitor per hour. */
  visitorPerHour: number;
};

const WHAT_RAN_OUT: Record<PolicyName, (limit: number) => string> = {
  org: (limit) => `This organization has used its ${limit} requests for this hour.`,
  widget: (limit) => `This organization's widget has used its ${limit} requests for this hour (visitors and widget tokens together).`,
  address: (limit) => `This address has used its ${limit} anonymous and widget requests for this hour.`,
  visitor: (limit) => `This visitor has used its ${limit} requests for this hour.`,
  'auth-failures': () => 'Too many failed authentication attempts from this address.',
};

/** 429, with the state of the budget that ran out (its headers go on the response). */
export class RateLimitedError extends AppError {
  readonly state: RateLimitState;

  constructor(state: RateLimitState) {
    super('RATE_LIMITED', `${WHAT_RAN_OUT[state.policy](state.limit)} Retry in ${state.resetIn} seconds.`, { retryAfter: state.resetIn });
    this.state = state;
  }
}

export function createRateLimits({
  redis,
  budgets,
  onRefusal = () => {},
}: {
  redis?: Redis;
  budgets: BudgetConfig;
  /** Told of every request refused, with the budget that ran out (metrics). */
  onRefusal?: (policy: PolicyName) => void;
}) {
  const store = (keyPrefix: string, duration: number): RateLimiterAbstract => {
    // The counter itself never refuses (its ceiling is out of reach): the limit is
    // compared in charge(), so changing an organization's limit keeps its count.
    const options = { points: Number.MAX_SAFE_INTEGER, duration, keyPrefix };
    return redis
      ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter: new RateLimiterMemory(options) })
      : new RateLimiterMemory(options);
  };
  const windows: Record<PolicyName, number> = { org: HOUR, widget: HOUR, address: HOUR, visitor: HOUR, 'auth-failures': FAILED_AUTH_WINDOW_SECONDS };
  const counters: Record<PolicyName, RateLimiterAbstract> = {
    org: store('rl:org', HOUR),
    widget: store('rl:widget', HOUR),
    address: store('rl:addr', HOUR),
    visitor: store('rl:visitor', HOUR),
    'auth-failures': store('rl:authfail', FAILED_AUTH_WINDOW_SECONDS),
  };

  /** Counts one request against a budget; throws RateLimitedError once over the limit. */
  async function charge(policy: PolicyName, key: string, limit: number): Promise<RateLimitState> {
    const result = await counters[policy].consume(key, 1);
    const state: RateLimitState = {
      policy,
      limit,
      remaining: Math.max(0, limit - result.consumedPoints),
      resetIn: Math.max(1, Math.ceil(result.msBeforeNext / 1000)),
      window: windows[policy],
    };
    if (result.consumedPoints > limit) {
      onRefusal(policy);
      throw new RateLimitedError(state);
    }
    return state;
  }

  return {
    /** An API-key request, against the organization's own hourly limit. */
    chargeOrganization: (organizationId: string, limit: number) => charge('org', organizationId, limit),
    /** A widget request (a token asked for, or a visitor's call), against the organization's widget budget. */
    chargeWidget: (organizationId: string) => charge('widget', organizationId, budgets.widgetPerHour),
    /** An anonymous or widget request, against its client address's budget. */
    chargeAddress: (address: string) => charge('address', address, budgets.addressPerHour),
    /** A widget visitor's call, against that visitor's budget. */
    chargeVisitor: (organizationId: string, subject: string) => charge('visitor', `${organizationId}:${subject}`, budgets.visitorPerHour),
    /**
     * Counts a failed authentication from a client address; throws
     * RateLimitedError past the allowance. Valid credentials are never refused
     * for it: only the failures of an address are answered 429, so a visitor
     * behind the same address (a NAT, an office) keeps working.
     */
    chargeFailedAuth: (address: string) => charge('auth-failures', address, FAILED_AUTH_POINTS),
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;

/**
 * The headers every counted response carries: GitHub's X-RateLimit-* for the
 * budget closest to running out, and the IETF draft fields listing every
 * budget the request was counted against.
 */
export function rateLimitHeaders(states: RateLimitState[], now = Date.now()): Record<string, string> {
  if (states.length === 0) return {};
  const tightest = states.reduce((a, b) => (b.remaining < a.remaining ? b : a));
  return {
    'X-RateLimit-Limit': String(tightest.limit),
    'X-RateLimit-Remaining': String(tightest.remaining),
    'X-RateLimit-Reset': String(Math.ceil(now / 1000) + tightest.resetIn),
    'RateLimit-Policy': states.map((s) => `"${s.policy}";q=${s.limit};w=${s.window}`).join(', '),
    RateLimit: states.map((s) => `"${s.policy}";r=${s.remaining};t=${s.resetIn}`).join(', '),
  };
}
