import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { asSeller, type RequestOrigin } from '../core/audit.ts';
import { type AuthorizationRequestCheck, authorizationResponseUrl } from '../core/authorization-request.ts';
import { NotFoundError, OAuthError, RateLimitedError } from '../core/errors.ts';
import { isClientId } from '../core/identifiers.ts';
import type { Services } from '../services.ts';
import { toErrorReply } from './errors.ts';
import { formOf, one, parseMulti, queryOf, rawQuery } from './form.ts';
import { activityPage } from './pages/activity.ts';
import { MESSAGES, negotiateLocale } from './pages/i18n.ts';
import { STYLESHEET } from './pages/styles.ts';
import { accountPage, consentPage, type ErrorKind, errorPage, loginPage } from './pages/views.ts';
import { SellerSessions, type Visitor } from './sessions.ts';

export interface SellerPagesOptions {
  /** Where refusals, approvals and failures are logged (Fastify itself runs without a logger). */
  log?: FastifyBaseLogger | undefined;
  issuer: () => string;
  /** Demo mode shows the demo seller's credentials on the login page. */
  demo: boolean;
}

/**
 * What the seller pages share with other page families on the same plugin (the developer portal):
 * the same sessions and the same CSRF guard, so there is one sign-in and one way to check a form.
 */
export interface SellerPageKit {
  sessions: SellerSessions;
  formVisitor(request: FastifyRequest, reply: FastifyReply): Promise<Visitor | undefined>;
}

/**
 * The seller's side (docs/api.md §4.1 and §4.4): sign-in, the consent page, and the account page that
 * lists and revokes authorizations. Server-rendered HTML, no scripts; every form carries a CSRF
 * token; every page forbids framing.
 */
export function registerSellerPages(
  pages: FastifyInstance,
  services: Services,
  options: SellerPagesOptions,
): SellerPageKit {
  const { consent, sellerAccount, signIn, clock } = services;
  const sessions = new SellerSessions({
    account: sellerAccount,
    clock,
    random: services.random,
    csrfKey: services.sealer.deriveKey('csrf'),
    secure: () => options.issuer().startsWith('https:'),
  });

  pages.removeAllContentTypeParsers();
  pages.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 16 * 1024 },
    (_request, body, done) => done(null, parseMulti(body as string)),
  );

  // Pages answer errors with a page, never with JSON.
  pages.setErrorHandler((error, request, reply) => {
    const answer = toErrorReply(error);
    if (error instanceof RateLimitedError && error.limiter) services.events.rateLimited(error.limiter);
    if (answer.status >= 500) options.log?.error({ err: error, url: request.url }, 'page failed');
    const kind: ErrorKind = answer.status === 429 ? 'throttled' : 'generic';
    const detail = error instanceof OAuthError && answer.status < 500 ? error.description : undefined;
    void reply.headers(answer.headers);
    void sendPage(reply, answer.status, errorPage({ locale: localeOf(request), kind, detail }));
  });

  pages.get('/assets/renova.css', async (_request, reply) =>
    reply
      .header('content-type', 'text/css; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .header('x-content-type-options', 'nosniff')
      .send(STYLESHEET),
  );

  // --- GET /authorization: validate, then sign in or show the consent screen -----------------
  pages.get('/authorization', async (request, reply) => {
    const check = await services.checkAuthorizationRequest(queryOf(request));
    if (check.kind !== 'valid') return endAuthorizationRequest(request, reply, check);
    const visitor = await sessions.visitor(request);
    sessions.commit(reply, visitor);
    const next = `/authorization${rawQuery(request)}`;
    if (!visitor.user) {
      return sendPage(
        reply,
        200,
        loginPage({
          locale: localeOf(request),
          csrf: visitor.csrf,
          next,
          appName: check.request.app.name,
          demo: options.demo,
        }),
      );
    }
    const { app, redirectUri, scope } = check.request;
    const context = await sellerAccount.consentContext(app, visitor.user.id);
    return sendPage(
      reply,
      200,
      consentPage({
        locale: localeOf(request),
        csrf: visitor.csrf,
        action: next,
        appName: app.name,
        ownerNickname: context.ownerNickname,
        scope,
        redirectHost: new URL(redirectUri).host,
        email: visitor.user.email,
        previouslyAuthorizedAt: context.authorizedSince,
      }),
      // The decision's answer redirects to the client: CSP form-action applies to that redirect.
      { formActionOrigin: new URL(redirectUri).origin },
    );
  });

  // --- POST /authorization: the seller's decision ---------------------------------------------
  pages.post('/authorization', async (request, reply) => {
    const check = await services.checkAuthorizationRequest(queryOf(request));
    if (check.kind !== 'valid') return endAuthorizationRequest(request, reply, check);
    const visitor = await formVisitor(request, reply);
    if (!visitor) return reply;
    // Signed out in another tab: show the sign-in form for the same request.
    if (!visitor.user) {
      const back = ownPage(`/authorization${rawQuery(request)}`, options.issuer());
      if (back === null)
        return sendPage(reply, 400, errorPage({ locale: localeOf(request), kind: 'badNext' }));
      return reply.redirect(back, 303);
    }
    const { app, redirectUri, state, scope, codeChallenge, codeChallengeMethod } = check.request;
    const issuer = options.issuer();
    const decision = field(request, 'decision');
    const audit = asSeller(visitor.user.id, originOf(request));
    if (decision !== 'allow') {
      await consent.deny(app.clientId, visitor.user.id, audit);
      // RFC 6749 §4.1.2.1: "access_denied: The resource owner or authorization server denied the request."
      return redirectTo(
        reply,
        authorizationResponseUrl(redirectUri, issuer, {
          error: 'access_denied',
          description: 'the seller denied the request',
          state,
        }),
      );
    }
    // Exactly what the operator path (`Consent.authorize`) does: grant, code and webhook in one step.
    const code = await consent.issueCode({
      app,
      userId: visitor.user.id,
      redirectUri,
      scope,
      codeChallenge,
      codeChallengeMethod,
      audit,
    });
    options.log?.info(
      { client_id: app.clientId, user_id: visitor.user.id },
      'seller approved an application',
    );
    return redirectTo(reply, authorizationResponseUrl(redirectUri, issuer, { code, state }));
  });

  // --- Sign-in and sign-out ------------------------------------------------------------------
  pages.post('/login', async (request, reply) => {
    const visitor = await formVisitor(request, reply);
    if (!visitor) return reply;
    const locale = localeOf(request);
    const next = ownPage(field(request, 'next'), options.issuer());
    // Control characters in `next` only come from a tampered form; answered before any password
    // check, and never copied into a Location header (review #9: CR/LF there gave a 500).
    if (next === null) return sendPage(reply, 400, errorPage({ locale, kind: 'badNext' }));
    const email = (field(request, 'email') ?? '').trim();
    const password = field(request, 'password') ?? '';
    const again = async (status: number, error: string) => {
      const appName = await appNameOf(next);
      return sendPage(
        reply,
        status,
        loginPage({ locale, csrf: visitor.csrf, next, appName, email, error, demo: options.demo }),
      );
    };
    // Throttled per (address, email) and per address, before any hashing (core/seller-sign-in.ts).
    const attempt = await signIn.signIn({ email, password, address: request.ip, origin: originOf(request) });
    if (attempt.outcome === 'throttled') {
      services.events.rateLimited('seller_sign_in');
      void reply.header('retry-after', String(attempt.retryAfterSeconds));
      return again(429, MESSAGES[locale].signIn.throttled(Math.ceil(attempt.retryAfterSeconds / 60)));
    }
    if (attempt.outcome === 'busy') {
      services.events.rateLimited('seller_sign_in_busy');
      // Every hashing slot is taken (a spray, or a rush): answer now rather than queue without end.
      void reply.header('retry-after', String(attempt.retryAfterSeconds));
      return again(429, MESSAGES[locale].signIn.busy);
    }
    if (attempt.outcome === 'bad_credentials') return again(401, MESSAGES[locale].signIn.badCredentials);
    const { user, rehash } = attempt;
    if (rehash === 'upgraded') {
      options.log?.info({ user_id: user.id }, 'password hash upgraded to the current scrypt parameters');
    } else if (rehash !== 'not_needed') {
      options.log?.warn(
        { err: rehash.failed, user_id: user.id },
        'password rehash failed; the old hash stays',
      );
    }
    await sessions.signIn(reply, visitor, user.id, originOf(request));
    return reply.redirect(next, 303);
  });

  pages.post('/logout', async (request, reply) => {
    const visitor = await formVisitor(request, reply);
    if (!visitor) return reply;
    const next = ownPage(field(request, 'next'), options.issuer());
    if (next === null) return sendPage(reply, 400, errorPage({ locale: localeOf(request), kind: 'badNext' }));
    await sessions.signOut(reply, visitor, originOf(request));
    return reply.redirect(next, 303);
  });

  // --- The account page (docs/api.md §4.4) --------------------------------------------------------
  pages.get('/account/applications', async (request, reply) => {
    const signedIn = await accountVisitor(request, reply, '/account/applications');
    if (!signedIn) return reply;
    const { visitor, user, locale } = signedIn;
    const grants = await sellerAccount.authorizations(user.id);
    const removed = queryOf(request).get('removed')?.[0];
    const removedName = isClientId(removed) ? await sellerAccount.applicationName(removed) : undefined;
    return sendPage(
      reply,
      200,
      accountPage({
        locale,
        csrf: visitor.csrf,
        email: user.email,
        grants,
        removedName,
      }),
    );
  });

  pages.post('/account/applications/revoke', async (request, reply) => {
    const visitor = await formVisitor(request, reply);
    if (!visitor) return reply;
    if (!visitor.user) return reply.redirect('/account/applications', 303);
    const clientId = field(request, 'client_id') ?? '';
    try {
      // Revokes the grant and every token of it in one storage step, and queues the webhook.
      await consent.revokeGrant(clientId, visitor.user.id, asSeller(visitor.user.id, originOf(request)));
      options.log?.info({ client_id: clientId, user_id: visitor.user.id }, 'seller revoked an application');
    } catch (error) {
      // Already revoked (another tab, the operator): the page simply shows the current list.
      if (!(error instanceof NotFoundError)) throw error;
    }
    return reply.redirect(`/account/applications?removed=${encodeURIComponent(clientId)}`, 303);
  });

  // --- The seller's own activity: their audit events (docs/api.md §4.4) ---------------------------
  pages.get('/account/activity', async (request, reply) => {
    const signedIn = await accountVisitor(request, reply, '/account/activity');
    if (!signedIn) return reply;
    const { visitor, user, locale } = signedIn;
    const cursors = queryOf(request).get('cursor');
    // The seller's own events only: the user filter comes from the session, never from the query.
    const page = await services.audit.list({
      userId: user.id,
      cursor: cursors?.length === 1 ? cursors[0] : undefined,
      limit: 50,
    });
    const names = new Map<string, string>();
    for (const clientId of new Set(page.events.flatMap((e) => (e.clientId ? [e.clientId] : [])))) {
      const name = await sellerAccount.applicationName(clientId);
      if (name !== undefined) names.set(clientId, name);
    }
    return sendPage(
      reply,
      200,
      activityPage({
        locale,
        csrf: visitor.csrf,
        email: user.email,
        events: page.events,
        applicationNames: names,
        nextCursor: page.nextCursor,
      }),
    );
  });

  /**
   * Every form post starts here: the visitor, or undefined once a 403 page has been sent because
   * the form did not come from our own page (RFC 6749 §10.12, RFC 9700 §4.7: the CSRF token bound
   * to the session cookie, and Sec-Fetch-Site when the browser sends it).
   */
  /**
   * The account pages' visitor when signed in; otherwise the sign-in form (coming back to `next`)
   * has been sent and the handler returns the reply.
   */
  async function accountVisitor(
    request: FastifyRequest,
    reply: FastifyReply,
    next: string,
  ): Promise<
    { visitor: Visitor; user: NonNullable<Visitor['user']>; locale: ReturnType<typeof localeOf> } | undefined
  > {
    const visitor = await sessions.visitor(request);
    sessions.commit(reply, visitor);
    const locale = localeOf(request);
    if (visitor.user) return { visitor, user: visitor.user, locale };
    void sendPage(reply, 200, loginPage({ locale, csrf: visitor.csrf, next, demo: options.demo }));
    return undefined;
  }

  async function formVisitor(request: FastifyRequest, reply: FastifyReply): Promise<Visitor | undefined> {
    const visitor = await sessions.visitor(request);
    if (isSameSiteForm(request) && sessions.checkCsrf(visitor, field(request, 'csrf'))) return visitor;
    sessions.commit(reply, visitor);
    void sendPage(reply, 403, errorPage({ locale: localeOf(request), kind: 'csrf' }));
    return undefined;
  }

  /** The two ways an authorization request ends before consent (RFC 6749 §4.1.2.1). */
  function endAuthorizationRequest(
    request: FastifyRequest,
    reply: FastifyReply,
    check: Exclude<AuthorizationRequestCheck, { kind: 'valid' }>,
  ) {
    if (check.kind === 'page') {
      const kind: ErrorKind = check.reason === 'unknown_client' ? 'unknownClient' : 'badRedirectUri';
      return sendPage(reply, 400, errorPage({ locale: localeOf(request), kind, detail: check.description }));
    }
    return redirectTo(
      reply,
      authorizationResponseUrl(check.redirectUri, options.issuer(), {
        error: check.error,
        description: check.description,
        state: check.state,
      }),
    );
  }

  async function appNameOf(next: string): Promise<string | undefined> {
    if (!next.startsWith('/authorization?')) return undefined;
    const check = await services.checkAuthorizationRequest(parseMulti(next.slice('/authorization?'.length)));
    return check.kind === 'valid' ? check.request.app.name : undefined;
  }

  return { sessions, formVisitor };
}

/**
 * Security headers of every page: no framing (clickjacking on the consent button), no scripts at
 * all, styles and images only from this origin, forms only to this origin (plus the client's
 * origin on the consent page, whose answer redirects there: CSP form-action covers redirects).
 */
export function sendPage(
  reply: FastifyReply,
  status: number,
  body: string,
  options: { formActionOrigin?: string; scripts?: boolean } = {},
): FastifyReply {
  const formAction = options.formActionOrigin ? `'self' ${options.formActionOrigin}` : "'self'";
  // Pages that opt in may load scripts from this origin only (the developer portal's copy button);
  // never inline, never eval.
  const scripts = options.scripts ? " script-src 'self';" : '';
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header(
      'content-security-policy',
      `default-src 'none';${scripts} style-src 'self'; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    )
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cache-control', 'no-store')
    .header('vary', 'Accept-Language, Cookie')
    .send(body);
}

/** Who is asking, for the audit trail: the request's id and the client address Fastify resolved. */
function originOf(request: FastifyRequest): RequestOrigin {
  return { requestId: request.id, remoteAddress: request.ip };
}

/** The authorization response: a 302 (docs/api.md §4.1) that leaks no referrer and is never cached. */
function redirectTo(reply: FastifyReply, location: string): FastifyReply {
  return reply
    .code(302)
    .header('location', location)
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .send();
}

export function localeOf(request: FastifyRequest) {
  return negotiateLocale(request.headers['accept-language']);
}

/** Defense in depth beside the token: browsers say where a form post came from. */
function isSameSiteForm(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

/** A form field given exactly once; a repeated field is treated as missing. */
function field(request: FastifyRequest, name: string): string | undefined {
  return one(formOf(request), name);
}

/**
 * Where to go after sign-in or sign-out: only our own pages (`/authorization?…`,
 * `/account/applications` and the developer portal under `/developers`), never an open redirect. The value is re-parsed against the issuer
 * (WHATWG URL), its origin and path checked, and re-serialized, so what reaches the Location header
 * is percent-encoded ASCII. Anything else falls back to the account page. `null` when the raw
 * value carries control characters, plain or percent-encoded (CR/LF header injection, NUL): only a
 * tampered form sends those, and the caller answers 400.
 */
export function ownPage(next: string | undefined, issuer: string): string | null {
  const fallback = '/account/applications';
  if (next === undefined || next === '') return fallback;
  if (hasControlCharacters(next)) return null;
  if (!next.startsWith('/')) return fallback;
  let base: URL;
  let url: URL;
  try {
    base = new URL(issuer);
    url = new URL(next, base);
  } catch {
    return fallback;
  }
  // `//host/…` and `/\host/…` parse to another origin.
  if (url.origin !== base.origin) return fallback;
  if (url.pathname === '/authorization' && url.search.length > 1) return `/authorization${url.search}`;
  // The portal's own pages, path only: a query could carry anything, and /developers needs none.
  if (url.pathname === '/developers' || url.pathname.startsWith('/developers/')) return url.pathname;
  if (url.pathname === '/account/activity') return url.pathname;
  return fallback;
}

/** C0 controls, DEL and C1 controls, raw or percent-encoded (`%0d`, `%7F`, `%C2%85`). */
function hasControlCharacters(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return /%(?:[01][0-9a-f]|7f|c2%[89][0-9a-f])/i.test(value);
}
