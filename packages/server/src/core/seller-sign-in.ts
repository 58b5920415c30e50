import type { StoragePort, UserRecord } from '../storage/contract.ts';
import { appendAuditEvent, type RequestOrigin } from './audit.ts';
import { type PasswordHasher, PasswordHashingBusyError } from './passwords.ts';
import type { Clock } from './ports.ts';
import { countAgainst, type LimiterKey, longestWait, type RateLimiter } from './rate-limit.ts';

/** A stored hash made with older scrypt parameters is replaced (`upgraded`), or kept after a failure. */
export type Rehash = 'not_needed' | 'upgraded' | { failed: unknown };

export type SignInOutcome =
  | { outcome: 'signed_in'; user: UserRecord; rehash: Rehash }
  /** Too many failures from this address, or for this (address, email): wait `retryAfterSeconds`. */
  | { outcome: 'throttled'; retryAfterSeconds: number }
  /** Every password-hashing slot is taken: answered at once instead of queueing without end. */
  | { outcome: 'busy'; retryAfterSeconds: number }
  /** Unknown email or wrong password: the caller cannot tell which, by design. */
  | { outcome: 'bad_credentials' };

/**
 * A seller's sign-in with email and password on the consent and account pages. RFC 6749 §10.10
 * and OWASP: online guessing is made slow, keyed by (address, email) so that one attacker cannot
 * lock a seller out from everywhere, and by address alone so that one address cannot spray a
 * common password over many accounts (security review #6). Both are checked before any hashing.
 */
export class SellerSignIn {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #passwords: PasswordHasher;
  readonly #perEmail: RateLimiter;
  readonly #perAddress: RateLimiter;

  constructor(deps: {
    storage: StoragePort;
    clock: Clock;
    passwords: PasswordHasher;
    /** Failures per (address, email). */
    loginLimiter: RateLimiter;
    /** Failures per address across all emails. */
    loginAddressLimiter: RateLimiter;
  }) {
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    this.#passwords = deps.passwords;
    this.#perEmail = deps.loginLimiter;
    this.#perAddress = deps.loginAddressLimiter;
  }

  async signIn(args: {
    email: string;
    password: string;
    address: string;
    /** The request, for the audit trail's `seller.sign_in_failed`. */
    origin?: RequestOrigin;
  }): Promise<SignInOutcome> {
    const email = args.email.trim();
    const keys: LimiterKey[] = [
      { limiter: this.#perAddress, key: `login-address:${args.address}` },
      { limiter: this.#perEmail, key: `login:${args.address}:${email.toLowerCase()}` },
    ];
    const now = this.#clock.now();
    const wait = await longestWait(keys, now);
    if (wait > 0) return { outcome: 'throttled', retryAfterSeconds: wait };
    const user = email === '' ? null : await this.#storage.findUserByEmail(email);
    let ok: boolean;
    try {
      // An unknown email is checked against a dummy hash of the same cost: timing says nothing.
      ok = await this.#passwords.verify(args.password, user?.passwordHash ?? undefined);
    } catch (error) {
      if (!(error instanceof PasswordHashingBusyError)) throw error;
      return { outcome: 'busy', retryAfterSeconds: error.retryAfterSeconds };
    }
    if (!user?.passwordHash || !ok) {
      await countAgainst(keys, now);
      // Recorded with the account when there is one; never the email as typed (a seller who put
      // the password in the email field would leave it in the trail). Throttled attempts are not
      // recorded: they are refused before any check, and recording them would let one address
      // grow the table at request rate.
      await appendAuditEvent(
        this.#storage,
        this.#clock,
        'seller.sign_in_failed',
        {
          actor: 'seller',
          actorId: user ? String(user.id) : null,
          requestId: args.origin?.requestId ?? null,
          remoteAddress: args.origin?.remoteAddress ?? args.address,
        },
        { userId: user?.id ?? null },
        user ? 'wrong_password' : 'unknown_account',
      );
      return { outcome: 'bad_credentials' };
    }
    return {
      outcome: 'signed_in',
      user,
      rehash: await this.#upgrade(user.id, user.passwordHash, args.password),
    };
  }

  /**
   * A hash made with older scrypt parameters is replaced after a successful sign-in, the only time
   * the password is known. Best effort: a failure keeps the old hash and the sign-in goes on. The
   * write is conditional on the old hash, so it never undoes a password change made meanwhile.
   */
  async #upgrade(userId: number, stored: string, password: string): Promise<Rehash> {
    try {
      const upgraded = await this.#passwords.upgrade(password, stored);
      if (!upgraded) return 'not_needed';
      return (await this.#storage.updatePasswordHash(userId, stored, upgraded)) ? 'upgraded' : 'not_needed';
    } catch (error) {
      return { failed: error };
    }
  }
}
