/**
 * Timing helpers of the keeper: capped timers, backoff with jitter, and a token-bucket rate limiter.
 *
 * @module
 */

/** The largest delay `setTimeout` honours (2^31 − 1 ms ≈ 24.8 days); longer delays fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Clamps a delay into `[0, MAX_TIMER_MS]`. */
export function clampDelay(ms: number): number {
  if (!Number.isFinite(ms)) return MAX_TIMER_MS;
  return Math.min(Math.max(0, Math.round(ms)), MAX_TIMER_MS);
}

/**
 * Resolves after `ms` (clamped to {@link MAX_TIMER_MS}), or early when `signal` aborts.
 *
 * @param ms - delay in milliseconds
 * @param signal - optional abort signal; the promise resolves (does not reject) on abort
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, clampDelay(ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Capped exponential backoff with full jitter: a random delay in `[0, min(max, base·2^(attempt−1))]`,
 * never below `base / 2`.
 *
 * @param attempt - 1 for the first retry
 * @param baseMs - first backoff step
 * @param maxMs - cap
 * @param random - random source in [0, 1)
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(baseMs / 2, random() * ceiling);
}

/**
 * A token bucket: `ratePerSecond` permits per second on average, bursts of up to `burst`.
 * Waiters are served in arrival order.
 */
export class TokenBucket {
  /** Permits added per second. */
  readonly ratePerSecond: number;
  /** Bucket capacity. */
  readonly burst: number;
  #tokens: number;
  #last: number;
  #queue: Promise<void> = Promise.resolve();
  readonly #clock: () => number;

  /**
   * @param ratePerSecond - average permits per second (> 0)
   * @param burst - capacity (≥ 1); default 1, i.e. evenly spaced
   * @param clock - monotonic ms clock; default `performance.now`
   */
  constructor(ratePerSecond: number, burst = 1, clock: () => number = () => performance.now()) {
    if (!(ratePerSecond > 0)) throw new RangeError('ratePerSecond must be > 0');
    this.ratePerSecond = ratePerSecond;
    this.burst = Math.max(1, burst);
    this.#tokens = this.burst;
    this.#clock = clock;
    this.#last = clock();
  }

  #refill(): void {
    const now = this.#clock();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.ratePerSecond) / 1000);
    this.#last = now;
  }

  /**
   * Waits for one permit.
   *
   * @param signal - stops waiting (resolves `false`) when aborted
   * @returns `true` when a permit was taken
   */
  take(signal?: AbortSignal): Promise<boolean> {
    const turn = this.#queue.then(async () => {
      for (;;) {
        if (signal?.aborted) return false;
        this.#refill();
        if (this.#tokens >= 1) {
          this.#tokens -= 1;
          return true;
        }
        await sleep(Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSecond), signal);
      }
    });
    this.#queue = turn.then(() => undefined);
    return turn;
  }
}
