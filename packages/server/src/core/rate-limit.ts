/**
 * Throttling of failed client authentications (RFC 6749 §10.10 asks servers to make credential
 * guessing hard). The port lets a shared implementation (Redis) replace the in-process one.
 */
export interface RateLimiter {
  /**
   * Seconds until `key` may try again, or 0 when it is not limited. `scale` multiplies the
   * limiter's budget for this key (default 1): the per-address budget of failed client
   * authentications is a multiple of the per-(client, address) one.
   */
  retryAfter(key: string, now: number, scale?: number): Promise<number>;
  /** Counts one failure against `key`. */
  recordFailure(key: string, now: number): Promise<void>;
}

/** One counter to consult: a limiter, a key in it, and how much of its budget the key gets. */
export interface LimiterKey {
  limiter: RateLimiter;
  key: string;
  scale?: number;
}

/** "Check every key": the longest wait among `keys`, 0 when none of them is limited. */
export async function longestWait(keys: readonly LimiterKey[], now: number): Promise<number> {
  let wait = 0;
  for (const { limiter, key, scale } of keys)
    wait = Math.max(wait, await limiter.retryAfter(key, now, scale));
  return wait;
}

/** "Then count": one failure (or one request) against every key. */
export async function countAgainst(keys: readonly LimiterKey[], now: number): Promise<void> {
  await Promise.all(keys.map(({ limiter, key }) => limiter.recordFailure(key, now)));
}

export interface FixedWindowOptions {
  /** Failures allowed per window before the key is limited. */
  maxFailures: number;
  windowSeconds: number;
  /**
   * In-process only: most keys held at once (default DEFAULT_MAX_KEYS). When full, expired windows
   * are dropped first, then the oldest windows, so memory stays bounded whatever the number of
   * distinct addresses or clients an attacker uses (security review #7).
   */
  maxKeys?: number;
}

/**
 * Keys are short (validated client ids, addresses, prefixes: under ~80 characters), so 100 000
 * windows take on the order of 20 MB at most.
 */
export const DEFAULT_MAX_KEYS = 100_000;

/**
 * An in-process fixed-window limiter with bounded memory: old windows are swept lazily, and at
 * most `maxKeys` windows are held (the oldest give way first). Evicting a window forgets its
 * failures; that is the price of the bound, and it takes `maxKeys` fresh keys to push one out.
 */
export class InProcessRateLimiter implements RateLimiter {
  readonly #options: FixedWindowOptions;
  readonly #maxKeys: number;
  /** Insertion order is window-start order: a key that starts a new window is re-inserted last. */
  readonly #windows = new Map<string, { start: number; failures: number }>();
  #lastSweep = 0;

  constructor(options: FixedWindowOptions = { maxFailures: 20, windowSeconds: 60 }) {
    this.#options = options;
    this.#maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
  }

  /** Keys currently held (for tests and metrics). */
  get size(): number {
    return this.#windows.size;
  }

  /** Whether `key` has a window (for tests: a refused identifier must never become a key). */
  has(key: string): boolean {
    return this.#windows.has(key);
  }

  /** The held keys, oldest window first (for tests). */
  keys(): string[] {
    return [...this.#windows.keys()];
  }

  async retryAfter(key: string, now: number, scale = 1): Promise<number> {
    const window = this.#windows.get(key);
    if (!window) return 0;
    const end = window.start + this.#options.windowSeconds * 1000;
    if (now >= end) return 0;
    return window.failures >= this.#options.maxFailures * scale ? Math.ceil((end - now) / 1000) : 0;
  }

  async recordFailure(key: string, now: number): Promise<void> {
    const windowMs = this.#options.windowSeconds * 1000;
    if (now - this.#lastSweep > windowMs) this.#sweep(now, windowMs);
    const window = this.#windows.get(key);
    if (window && now - window.start < windowMs) {
      window.failures += 1;
      return;
    }
    if (window) this.#windows.delete(key);
    else if (this.#windows.size >= this.#maxKeys) {
      this.#sweep(now, windowMs);
      // Still full of live windows: the oldest ones go (Map iteration is insertion order).
      for (const oldest of this.#windows.keys()) {
        if (this.#windows.size < this.#maxKeys) break;
        this.#windows.delete(oldest);
      }
    }
    this.#windows.set(key, { start: now, failures: 1 });
  }

  #sweep(now: number, windowMs: number): void {
    for (const [k, w] of this.#windows) if (now - w.start >= windowMs) this.#windows.delete(k);
    this.#lastSweep = now;
  }
}
