// Child-process entry: one autocannon run against 127.0.0.1, its options as
// JSON in argv[2]; prints one JSON line with what the benchmark keeps. Run as
// its own process so that the load generator and the measured server never
// share a thread (nor the benchmark's own event loop).
import autocannon from 'autocannon';

type LoadOptions = {
  url: string;
  /** Spreads the connections over these URLs instead (round-robin by connection, autocannon's own). */
  urls?: string[];
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  durationSeconds: number;
};

const options = JSON.parse(process.argv[2]) as LoadOptions;
const urls = options.urls ?? [options.url];
if (urls.some((url) => new URL(url).hostname !== '127.0.0.1')) throw new Error('Load goes to 127.0.0.1 only.');

const result = await autocannon({
  url: urls.length === 1 ? urls[0] : urls,
  method: options.method ?? 'GET',
  headers: options.headers,
  body: options.body,
  connections: options.connections,
  pipelining: 1,
  duration: options.durationSeconds,
  timeout: 10,
});

const ok = result['2xx'];
process.stdout.write(
  `${JSON.stringify({
    requests: result.requests.total,
    sent: result.requests.sent,
    ok,
    durationSeconds: result.duration,
    rps: ok / result.duration,
    latency: { p50: result.latency.p50, p99: result.latency.p99, mean: result.latency.average, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: result.statusCodeStats,
  })}\n`,
);
