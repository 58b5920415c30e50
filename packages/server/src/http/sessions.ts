import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { asSeller, type RequestOrigin } from '../core/audit.ts';
import type { Clock, RandomSource } from '../core/ports.ts';
import type { SellerAccount } from '../core/seller-account.ts';
import type { UserRecord } from '../storage/contract.ts';

/** A signed-in session lasts 12 hours; signing in again starts a new one. */
export const SESSION_SECONDS = 12 * 3600;

/** What a page request knows about its visitor. */
export interface Visitor {
  /** The cookie value: a random id, stored (hashed) only once the visitor signs in. */
  cookie: string;
  /** True when the cookie was just minted and must be sent with this response. */
  fresh: boolean;
  user: UserRecord | null;
  /** The CSRF token every form on the page carries. */
  csrf: string;
}

/**
 * Seller sessions and CSRF protection for the consent and account pages.
 *
 * One cookie carries a random 256-bit value. Before sign-in it is stored nowhere; after sign-in the
 * storage holds its SHA-256 and the user id. Signing in always mints a new value (session fixation:
 * a value planted before login is worthless after it), and signing out deletes the stored session
 * and mints another.
 *
 * CSRF: every form carries `HMAC-SHA-256(server-derived key, cookie value)` (a synchronizer token
 * that needs no storage). A cross-site page can neither read the cookie nor compute the token. The
 * cookie is `HttpOnly`, `SameSite=Lax` (cross-site POSTs do not carry it at all), `Secure` with the
 * `__Host-` prefix when the issuer is https, so a sibling subdomain cannot plant it either.
 */
export class SellerSessions {
  readonly #account: SellerAccount;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #csrfKey: Buffer;
  readonly #secure: () => boolean;

  constructor(deps: {
    account: SellerAccount;
    clock: Clock;
    random: RandomSource;
    csrfKey: Buffer;
    /** True when the issuer is https: cookies get `Secure` and the `__Host-` prefix. */
    secure: () => boolean;
  }) {
    this.#account = deps.account;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#csrfKey = deps.csrfKey;
    this.#secure = deps.secure;
  }

  get #name(): string {
    return this.#secure() ? '__Host-renova_session' : 'renova_session';
  }

  #mint(): string {
    return this.#random.bytes(32).toString('base64url');
  }

  #csrfFor(cookie: string): string {
    return createHmac('sha256', this.#csrfKey).update(`csrf:${cookie}`).digest('base64url');
  }

  /** Reads the visitor; mints an anonymous cookie (sent by `commit`) if there is none. */
  async visitor(request: FastifyRequest): Promise<Visitor> {
    const cookie = readCookie(request.headers.cookie, this.#name);
    if (cookie === undefined || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) {
      const fresh = this.#mint();
      return { cookie: fresh, fresh: true, user: null, csrf: this.#csrfFor(fresh) };
    }
    const user = await this.#account.userOfSession(cookie, this.#clock.now());
    return { cookie, fresh: false, user, csrf: this.#csrfFor(cookie) };
  }

  /**
   * The form's token matches the cookie the request carries. A request without our cookie (a
   * forged cross-site post, or a visitor whose cookie was minted on this very request) fails.
   */
  checkCsrf(visitor: Visitor, token: string | undefined): boolean {
    if (visitor.fresh || token === undefined) return false;
    const expected = Buffer.from(visitor.csrf);
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Sends the visitor's cookie if it was minted on this request. */
  commit(reply: FastifyReply, visitor: Visitor): void {
    if (visitor.fresh) this.#setCookie(reply, visitor.cookie, undefined);
  }

  /** Signs the user in under a NEW cookie value; the previous session, if any, is deleted. */
  async signIn(
    reply: FastifyReply,
    previous: Visitor,
    userId: number,
    origin?: RequestOrigin,
  ): Promise<void> {
    const now = this.#clock.now();
    if (!previous.fresh && previous.user) {
      await this.#account.endSession(previous.cookie, { ...asSeller(previous.user.id, origin), at: now });
    }
    const cookie = this.#mint();
    await this.#account.startSession(
      { cookie, userId, now, expiresAt: now + SESSION_SECONDS * 1000 },
      asSeller(userId, origin),
    );
    this.#setCookie(reply, cookie, SESSION_SECONDS);
  }

  /** Deletes the session and replaces the cookie, so tokens of the old one die with it. */
  async signOut(reply: FastifyReply, visitor: Visitor, origin?: RequestOrigin): Promise<void> {
    if (!visitor.fresh) {
      const audit = visitor.user
        ? { ...asSeller(visitor.user.id, origin), at: this.#clock.now() }
        : undefined;
      await this.#account.endSession(visitor.cookie, audit);
    }
    this.#setCookie(reply, this.#mint(), undefined);
  }

  #setCookie(reply: FastifyReply, value: string, maxAgeSeconds: number | undefined): void {
    const parts = [`${this.#name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
    if (this.#secure()) parts.push('Secure');
    if (maxAgeSeconds !== undefined) parts.push(`Max-Age=${maxAgeSeconds}`);
    void reply.header('set-cookie', parts.join('; '));
  }
}

/** RFC 6265 §5.4 cookie header: `a=1; b=2`. The first cookie of that name wins. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
