import ipaddr from 'ipaddr.js';

/**
 * The unit an address is counted in: an IPv4 address (IPv4-mapped IPv6 included) on its own,
 * an IPv6 address by its /64, since one host is commonly given a whole /64 to draw from.
 */
export function addressBucket(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const ip = ipaddr.process(address);
  if (ip.kind() === 'ipv4') return ip.toString();
  return `${ip.toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}

/**
 * Failed authentications per client address: each address may fail `burst` times, then one
 * more every 60/`perMinute` seconds. While an address has no failures left, every request from
 * it is refused before its key is looked at, the right key included, so a guesser learns
 * nothing from the answers. Kept in the process: with several processes each holds its own count.
 */
export interface AuthThrottleOptions {
  burst: number;
  perMinute: number;
}

export const DEFAULT_AUTH_THROTTLE: AuthThrottleOptions = { burst: 10, perMinute: 6 };

export class AuthThrottle {
  private readonly buckets = new Map<string, { tokens: number; at: number; blockedSince?: number }>();

  constructor(private readonly options: AuthThrottleOptions, private readonly clock: () => number = () => performance.now()) {}

  private bucket(address: string) {
    const now = this.clock();
    const b = this.buckets.get(addressBucket(address)) ?? { tokens: this.options.burst, at: now };
    b.tokens = Math.min(this.options.burst, b.tokens + ((now - b.at) / 60_000) * this.options.perMinute);
    b.at = now;
    if (b.tokens >= 1) delete b.blockedSince;
    return b;
  }

  /** Seconds until this address may try again, or 0 when it may. */
  waitFor(address: string): number {
    const b = this.bucket(address);
    return b.tokens >= 1 ? 0 : ((1 - b.tokens) * 60) / this.options.perMinute;
  }

  /**
   * Counts a failure. Returns true when this failure used the address's last try, so the
   * lockout that follows is recorded once rather than once per refused request.
   */
  fail(address: string): boolean {
    const b = this.bucket(address);
    b.tokens = Math.max(0, b.tokens - 1);
    this.buckets.set(addressBucket(address), b);
    if (this.buckets.size > 100_000) this.sweep();
    if (b.tokens < 1 && b.blockedSince === undefined) {
      b.blockedSince = this.clock();
      return true;
    }
    return false;
  }

  /** Forgets addresses whose tries are all back. */
  private sweep(): void {
    for (const [key] of this.buckets) if (this.bucket(key).tokens >= this.options.burst) this.buckets.delete(key);
  }
}
