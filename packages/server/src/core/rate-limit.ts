/**
 * Throttling of failed client authentications (RFC 6749 §10.10 asks servers to make credential
 * guessing hard). The port lets a shared implementation (Redis) replace the in-process one.
 */
export interface RateLimiter {
  /** Seconds until `key` may try again, or 0 when it is not limited. */
  retryAfter(key: string, now: number): Promise<number>;
  /** Counts one failure against `key`. */
  recordFailure(key: string, now: number): Promise<void>;
}

export interface FixedWindowOptions {
  /** Failures allowed per window before the key is limited. */
  maxFailures: number;
  windowSeconds: number;
}

/** An in-process fixed-window limiter with bounded memory (old windows are swept lazily). */
export class InProcessRateLimiter implements RateLimiter {
  readonly #options: FixedWindowOptions;
  readonly #windows = new Map<string, { start: number; failures: number }>();
  #lastSweep = 0;

  constructor(options: FixedWindowOptions = { maxFailures: 20, windowSeconds: 60 }) {
    this.#options = options;
  }

  async retryAfter(key: string, now: number): Promise<number> {
    const window = this.#windows.get(key);
    if (!window) return 0;
    const end = window.start + this.#options.windowSeconds * 1000;
    if (now >= end) return 0;
    return window.failures >= this.#options.maxFailures ? Math.ceil((end - now) / 1000) : 0;
  }

  async recordFailure(key: string, now: number): Promise<void> {
    const windowMs = this.#options.windowSeconds * 1000;
    if (now - this.#lastSweep > windowMs) {
      for (const [k, w] of this.#windows) if (now - w.start >= windowMs) this.#windows.delete(k);
      this.#lastSweep = now;
    }
    const window = this.#windows.get(key);
    if (!window || now - window.start >= windowMs) this.#windows.set(key, { start: now, failures: 1 });
    else window.failures += 1;
  }
}
