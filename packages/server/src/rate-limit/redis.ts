import { Redis } from 'ioredis';
import type { FixedWindowOptions, RateLimiter } from '../core/rate-limit.ts';

/** INCR and, on the window's first hit, set its expiry: atomic, one round trip. */
const HIT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

export interface RedisRateLimiterOptions extends FixedWindowOptions {
  redis: Redis;
  /** Key prefix; different limits (failed authentications, token requests) use different ones. */
  prefix: string;
  onError?: (error: unknown) => void;
}

/**
 * The RateLimiter port on Redis, so that every Renova instance behind a load balancer counts the
 * same attempts. Fixed windows aligned on multiples of the window length; each
 * window's counter expires by itself.
 *
 * Redis going away must not take the token endpoint with it: a failed or slow Redis call (the
 * client neither queues offline nor retries) counts as "not limited" and is reported through
 * `onError`. Throttling is a defence in depth (RFC 6749 §10.10); refusing every client while Redis
 * restarts would turn it into an outage.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly #options: RedisRateLimiterOptions;

  constructor(options: RedisRateLimiterOptions) {
    this.#options = options;
  }

  #key(key: string, now: number): { key: string; windowEnd: number } {
    const windowMs = this.#options.windowSeconds * 1000;
    const index = Math.floor(now / windowMs);
    return { key: `${this.#options.prefix}${key}:${index}`, windowEnd: (index + 1) * windowMs };
  }

  async retryAfter(key: string, now: number, scale = 1): Promise<number> {
    const window = this.#key(key, now);
    try {
      const count = Number((await this.#options.redis.get(window.key)) ?? 0);
      return count >= this.#options.maxFailures * scale
        ? Math.max(1, Math.ceil((window.windowEnd - now) / 1000))
        : 0;
    } catch (error) {
      this.#options.onError?.(error);
      return 0;
    }
  }

  async recordFailure(key: string, now: number): Promise<void> {
    const window = this.#key(key, now);
    try {
      await this.#options.redis.eval(HIT, 1, window.key, String(this.#options.windowSeconds * 2000));
    } catch (error) {
      this.#options.onError?.(error);
    }
  }
}

/** A client for rate limits: fails fast instead of queueing while Redis is away. */
export function rateLimitRedis(url: string): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 250,
    connectTimeout: 1_000,
    lazyConnect: false,
  });
  // Connection errors are reported per command; ioredis keeps reconnecting in the background.
  redis.on('error', () => {});
  return redis;
}
