// The part of autocannon's (untyped) API that bench/lib/load.ts uses.
declare module 'autocannon' {
  type Histogram = { average: number; mean: number; max: number; min: number; total: number; p50: number; p99: number; [key: string]: number };
  type Result = {
    requests: Histogram;
    latency: Histogram;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
    statusCodeStats: Record<string, { count: number }>;
  };
  type Options = {
    /** Several URLs share the connections: connection i goes to url[i % url.length]. */
    url: string | string[];
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    connections?: number;
    pipelining?: number;
    duration?: number;
    timeout?: number;
  };
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
