// The few parts of autocannon's programmatic API the service benchmark uses.
declare module 'autocannon' {
  interface Request { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer }
  interface Options {
    url: string; connections?: number; duration?: number; method?: string; headers?: Record<string, string>; body?: string | Buffer;
    requests?: (Request & { setupRequest?: (req: Request) => Request })[];
  }
  interface Histogram { p50: number; p99: number; average: number }
  interface Result { latency: Histogram; requests: Histogram & { total: number }; non2xx: number; errors: number; duration: number }
  function autocannon(options: Options): Promise<Result>;
  export default autocannon;
}
