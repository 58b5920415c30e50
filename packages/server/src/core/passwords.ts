import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { RateLimitedError } from './errors.ts';

/**
 * Seller passwords are chosen by people, so they get a slow, memory-hard hash: scrypt from
 * node:crypto. Stored as `scrypt$N$r$p$salt$hash`, so a hash keeps the parameters it was made with
 * and stronger defaults apply to old hashes at the owner's next successful sign-in (`needsRehash`).
 */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/**
 * OWASP Password Storage Cheat Sheet (scrypt): "a minimum CPU/memory cost parameter of (2^17), a
 * minimum block size of 8 (1024 bytes), and a parallelization parameter of 1". That is 128 MiB and
 * roughly 150-650 ms per hash, depending on the machine. Hashes made before with N=2^15 are
 * upgraded at the next sign-in.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };

/** Parameters a stored hash may carry; anything beyond is refused rather than run (memory bound). */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;
const KEY_LENGTH = 32;
/** At least 160 MiB (the brief's floor for N=2^17, r=8), and scrypt's need of 128·N·r plus slack. */
const maxMemFor = (n: number, r: number) => Math.max(160 * 1024 * 1024, 128 * n * r + 32 * 1024 * 1024);

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const { N, r, p } = params;
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFKC'),
      salt,
      KEY_LENGTH,
      { N, r, p, maxmem: maxMemFor(N, r) },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

function parseHash(stored: string): ParsedHash | null {
  const [scheme, n, r, p, salt, hash, ...rest] = stored.split('$');
  if (scheme !== 'scrypt' || rest.length > 0 || !n || !r || !p || !salt || !hash) return null;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  const { N } = params;
  if (!Number.isSafeInteger(N) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0) return null;
  if (!Number.isSafeInteger(params.r) || params.r < 1 || params.r > MAX_R) return null;
  if (!Number.isSafeInteger(params.p) || params.p < 1 || params.p > MAX_P) return null;
  return { params, salt: Buffer.from(salt, 'base64url'), hash: Buffer.from(hash, 'base64url') };
}

/** Makes a new hash with `params` (the OWASP defaults unless a test asks for cheaper ones). */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time check of `password` against a stored hash; a malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.params);
  return key.length === parsed.hash.length && timingSafeEqual(key, parsed.hash);
}

/** True when `stored` was made with other parameters than `params`: hash again after a sign-in. */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT): boolean {
  const parsed = parseHash(stored);
  return (
    !parsed || parsed.params.N !== params.N || parsed.params.r !== params.r || parsed.params.p !== params.p
  );
}

/** Every slot and queue place is taken: the caller answers 429 instead of waiting for them. */
export class PasswordHashingBusyError extends RateLimitedError {
  constructor(retryAfterSeconds: number) {
    super(
      `too many sign-ins are being checked right now; retry in ${retryAfterSeconds} s`,
      retryAfterSeconds,
    );
  }
}

export interface PasswordHasherOptions {
  params?: ScryptParams;
  /** Hashes computed at once (default 4: Node's libuv thread pool has 4 threads). */
  maxConcurrent?: number;
  /** Hashes that may wait for a slot (default 8); beyond, `verify` fails at once with 429. */
  maxQueued?: number;
}

/**
 * Password hashing with a bound on the work in flight. Each scrypt holds 128 MiB and a libuv
 * thread for a few hundred milliseconds, and sign-in is unauthenticated: without a bound, a spray
 * of sign-in attempts queues behind the 4 threads and a real seller's sign-in waits seconds
 * (review #6: 5.4 s instead of 160 ms under 60 concurrent attempts). With it, at most
 * `maxConcurrent` hashes run, `maxQueued` wait, and the rest are answered 429 at once, so the
 * queue (and the memory) never grows with the attack.
 */
export class PasswordHasher {
  readonly params: ScryptParams;
  readonly #maxConcurrent: number;
  readonly #maxQueued: number;
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];
  /** A hash of a random password with the current parameters, verified for unknown emails. */
  #dummy: Promise<string> | undefined;

  constructor(options: PasswordHasherOptions = {}) {
    this.params = options.params ?? DEFAULT_SCRYPT;
    this.#maxConcurrent = Math.max(1, options.maxConcurrent ?? 4);
    this.#maxQueued = Math.max(0, options.maxQueued ?? 8);
  }

  /** Hashes running now (for tests and metrics). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** A new hash with the current parameters (operator paths: the admin API and the CLI). */
  hash(password: string): Promise<string> {
    return hashPassword(password, this.params);
  }

  /**
   * Checks `password` against `stored`; with `stored` undefined (an unknown email) against a dummy
   * hash of the same cost, so the answer's timing does not tell whether the email exists. Throws
   * `PasswordHashingBusyError` when every slot and queue place is taken.
   */
  async verify(password: string, stored: string | undefined): Promise<boolean> {
    this.#dummy ??= hashPassword(randomBytes(16).toString('base64url'), this.params);
    const target = stored ?? (await this.#dummy);
    return this.#gated(async () => (await verifyPassword(password, target)) && stored !== undefined);
  }

  /**
   * After a successful sign-in: a new hash of `password` when `stored` has older parameters, or
   * undefined. Skipped (undefined) when the slots are busy: the next sign-in tries again.
   */
  async upgrade(password: string, stored: string): Promise<string | undefined> {
    if (!needsRehash(stored, this.params)) return undefined;
    if (this.#inFlight >= this.#maxConcurrent) return undefined;
    return this.#gated(() => hashPassword(password, this.params));
  }

  async #gated<T>(work: () => Promise<T>): Promise<T> {
    if (this.#inFlight >= this.#maxConcurrent) {
      if (this.#waiting.length >= this.#maxQueued) throw new PasswordHashingBusyError(1);
      // The slot is handed over by the finishing hash (inFlight stays counted), so no newcomer can
      // overtake a queued one.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#inFlight += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#inFlight -= 1;
    }
  }
}
