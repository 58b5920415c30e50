import { createHash } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SITES } from '../core/accounts.ts';
import { checkGrantTypes, checkRedirectUri } from '../core/applications.ts';
import { asSeller } from '../core/audit.ts';
import { InvalidRequestError, NotFoundError, OAuthError } from '../core/errors.ts';
import { isClientId, isUserId } from '../core/identifiers.ts';
import { ALL_SCOPES } from '../core/scopes.ts';
import { TestUserLimitError } from '../core/test-users.ts';
import { checkNotificationUrl } from '../core/webhook-targets.ts';
import type { Services } from '../services.ts';
import type { ApplicationRecord } from '../storage/contract.ts';
import { type Form, formOf, one, queryOf } from './form.ts';
import { PORTAL_SCRIPT, PORTAL_STYLESHEET } from './pages/developers-assets.ts';
import { PORTAL_MESSAGES, type PortalMessages } from './pages/developers-i18n.ts';
import {
  type ApplicationFormValues,
  createdPage,
  deletePage,
  emptyApplicationForm,
  type FieldErrors,
  formValuesOf,
  GRANT_TYPE_CHOICES,
  newApplicationPage,
  OVERLAP_CHOICES,
  type OverlapChoice,
  overviewPage,
  type PortalApplication,
  type PortalUser,
  portalHomePage,
  rotatedSecretPage,
  sellersPage,
  settingsPage,
  testingPage,
  webhooksPage,
} from './pages/developers-views.ts';
import type { Locale } from './pages/i18n.ts';
import { loginPage } from './pages/views.ts';
import { localeOf, type SellerPageKit, sendPage } from './seller.ts';
import type { Visitor } from './sessions.ts';

export interface DeveloperPortalOptions {
  log?: FastifyBaseLogger | undefined;
  issuer: () => string;
  /** Demo mode shows the demo seller's credentials on the sign-in page. */
  demo: boolean;
}

/** The signed-in developer of a portal request, set by the portal's preHandler hook. */
interface Developer {
  visitor: Visitor;
  userId: number;
  page: PortalUser;
  locale: Locale;
}

/** Bounds of the form fields (the core checks the rest). */
const LIMITS = { name: 100, description: 500, url: 2048, redirectUris: 20, search: 100 } as const;

/** A secret waits in its sealed cookie at most this long between the POST and the page that shows it. */
const REVEAL_SECONDS = 120;

const SELLERS_PER_PAGE = 20;
const EVENTS_PER_PAGE = 20;
/** The core's bound (core/test-users.ts TEST_USER_DESCRIPTION_MAX), checked here to answer next to the field. */
const TEST_USER_DESCRIPTION_LIMIT = 255;

/**
 * The developer portal (docs/developer-portal.md): an integrator manages the applications it owns.
 * Same sessions, sign-in and CSRF guard as the seller pages. Every route under `/developers`
 * passes the plugin's preHandler (signed in, and for posts the CSRF check); every route with an
 * application in its path loads it through `owned`, which answers 404 for an application that is
 * not the visitor's, exactly as for one that does not exist.
 *
 * Secrets are shown once, after POST-redirect-GET: the POST seals the new secret into a short-lived
 * HttpOnly cookie bound to the session and the application, and the GET that shows it clears that
 * cookie; a reload finds nothing. The secret is never in a URL, a log line or the storage in the
 * clear; every page is `Cache-Control: no-store`.
 */
export async function registerDeveloperPortal(
  pages: FastifyInstance,
  services: Services,
  kit: SellerPageKit,
  options: DeveloperPortalOptions,
): Promise<void> {
  const { sessions } = kit;
  const developers = new WeakMap<FastifyRequest, Developer>();

  pages.get('/assets/developers.css', async (_request, reply) =>
    reply
      .header('content-type', 'text/css; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .header('x-content-type-options', 'nosniff')
      .send(PORTAL_STYLESHEET),
  );
  pages.get('/assets/developers.js', async (_request, reply) =>
    reply
      .header('content-type', 'text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=3600')
      .header('x-content-type-options', 'nosniff')
      .send(PORTAL_SCRIPT),
  );

  await pages.register(
    async (portal) => {
      // Authentication belongs to the plugin: no portal route runs for an anonymous visitor.
      portal.addHook('preHandler', async (request, reply) => {
        const locale = localeOf(request);
        if (request.method === 'GET' || request.method === 'HEAD') {
          const visitor = await sessions.visitor(request);
          sessions.commit(reply, visitor);
          if (!visitor.user) {
            return sendPage(
              reply,
              200,
              loginPage({ locale, csrf: visitor.csrf, next: nextOf(request), demo: options.demo }),
            );
          }
          developers.set(request, developerOf(visitor, locale));
          return;
        }
        // Every form post: the CSRF guard of the seller pages (403 page when it fails).
        const visitor = await kit.formVisitor(request, reply);
        if (!visitor) return reply;
        if (!visitor.user) return reply.redirect('/developers', 303);
        developers.set(request, developerOf(visitor, locale));
      });

      const developer = (request: FastifyRequest): Developer => {
        const found = developers.get(request);
        // The hook above ran for every route of this plugin; a missing entry is a programming error.
        if (!found) throw new Error('developer portal route reached without its preHandler');
        return found;
      };

      /** The signed-in owner, from where, for the audit trail (docs/api.md §4.5). */
      const actor = (request: FastifyRequest) =>
        asSeller(developer(request).userId, { requestId: request.id, remoteAddress: request.ip });

      /**
       * The application of the path, if the developer owns it. Another owner's application and an
       * unknown one get the same 404 (no way to probe which client_ids exist).
       */
      const owned = async (request: FastifyRequest): Promise<ApplicationRecord> => {
        const clientId = (request.params as { clientId?: unknown }).clientId;
        const notYours = new NotFoundError('no application of yours has this client_id');
        if (!isClientId(clientId)) throw notYours;
        let app: ApplicationRecord;
        try {
          app = await services.applications.require(clientId);
        } catch (error) {
          // The same words as for another owner's: the page must not tell which ids exist.
          if (error instanceof NotFoundError) throw notYours;
          throw error;
        }
        if (app.ownerUserId !== developer(request).userId) throw notYours;
        return app;
      };

      const page = (reply: FastifyReply, status: number, body: string) =>
        sendPage(reply, status, body, { scripts: true });

      // --- The list ----------------------------------------------------------------------------
      portal.get('', async (request, reply) => {
        const me = developer(request);
        const apps = await services.applications.listOwnedBy(me.userId);
        const deleted = queryOf(request).get('deleted')?.[0] === '1';
        return page(
          reply,
          200,
          portalHomePage({
            locale: me.locale,
            user: me.page,
            applications: apps.map(toPortalApplication),
            deleted,
          }),
        );
      });

      // --- Create ------------------------------------------------------------------------------
      portal.get('/applications/new', async (request, reply) => {
        const me = developer(request);
        return page(
          reply,
          200,
          newApplicationPage({
            locale: me.locale,
            user: me.page,
            values: emptyApplicationForm(),
            errors: {},
          }),
        );
      });

      portal.post('/applications', async (request, reply) => {
        const me = developer(request);
        const t = PORTAL_MESSAGES[me.locale];
        const { values, errors, input } = readApplicationForm(formOf(request), t, services);
        const again = (fieldErrors: FieldErrors) =>
          page(
            reply,
            400,
            newApplicationPage({ locale: me.locale, user: me.page, values, errors: fieldErrors }),
          );
        if (!input) return again(errors);
        let created: Awaited<ReturnType<Services['applications']['create']>>;
        try {
          created = await services.applications.create(
            { ...input, description: input.description ?? undefined, ownerUserId: me.userId },
            actor(request),
          );
        } catch (error) {
          const fieldErrors = fieldErrorsOf(error);
          if (fieldErrors) return again(fieldErrors);
          throw error;
        }
        options.log?.info(
          { client_id: created.clientId, owner_user_id: me.userId },
          'portal: application created',
        );
        reveal(reply, me, created.clientId, {
          kind: 'created',
          clientSecret: created.clientSecret,
          webhookSecret: created.webhookSecret,
        });
        return reply.redirect(`/developers/applications/${created.clientId}/reveal`, 303);
      });

      // --- One application: credentials ------------------------------------------------------------
      portal.get('/applications/:clientId', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const notice = noticeOf(request, PORTAL_MESSAGES[me.locale]);
        const secrets = await services.applications.secrets(app.clientId);
        return page(reply, 200, overviewPage({ ...frame(me, app), secrets: currentFirst(secrets), notice }));
      });

      portal.post('/applications/:clientId/client-secret', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const overlap = one(formOf(request), 'overlap_seconds');
        if (!isOverlapChoice(overlap)) {
          // Only a tampered form sends another value: the select offers these four.
          throw new InvalidPortalInput(
            `overlap_seconds must be one of ${OVERLAP_CHOICES.join(', ')} (seconds the old secrets keep working)`,
          );
        }
        const { clientSecret } = await services.applications.rotateClientSecret(
          app.clientId,
          Number(overlap),
          actor(request),
        );
        options.log?.info(
          { client_id: app.clientId, overlap_seconds: Number(overlap) },
          'portal: client secret rotated',
        );
        reveal(reply, me, app.clientId, { kind: 'client', secret: clientSecret, overlap });
        return reply.redirect(`/developers/applications/${app.clientId}/reveal`, 303);
      });

      portal.post('/applications/:clientId/webhook-secret', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const { webhookSecret } = await services.applications.rotateWebhookSecret(
          app.clientId,
          actor(request),
        );
        options.log?.info({ client_id: app.clientId }, 'portal: webhook secret rotated');
        reveal(reply, me, app.clientId, { kind: 'webhook', secret: webhookSecret });
        return reply.redirect(`/developers/applications/${app.clientId}/reveal`, 303);
      });

      /** The one page that shows a new secret; the cookie that carried it is cleared here. */
      portal.get('/applications/:clientId/reveal', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const secret = takeReveal(request, reply, me, app.clientId);
        if (!secret) return reply.redirect(`/developers/applications/${app.clientId}?notice=shown`, 303);
        const view = frame(me, app);
        if (secret.kind === 'testUser') {
          return page(
            reply,
            200,
            await testing(me, app, { siteId: 'MLA', description: '' }, {}, secret.user),
          );
        }
        if (secret.kind === 'created') {
          return page(
            reply,
            200,
            createdPage({ ...view, clientSecret: secret.clientSecret, webhookSecret: secret.webhookSecret }),
          );
        }
        return page(
          reply,
          200,
          rotatedSecretPage({
            ...view,
            kind: secret.kind,
            secret: secret.secret,
            overlap: secret.kind === 'client' ? secret.overlap : undefined,
          }),
        );
      });

      // --- Settings ------------------------------------------------------------------------------
      portal.get('/applications/:clientId/settings', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const saved = queryOf(request).get('saved')?.[0] === '1';
        return page(
          reply,
          200,
          settingsPage({
            ...frame(me, app),
            values: formValuesOf(toPortalApplication(app)),
            errors: {},
            saved,
          }),
        );
      });

      portal.post('/applications/:clientId/settings', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const t = PORTAL_MESSAGES[me.locale];
        const { values, errors, input } = readApplicationForm(formOf(request), t, services);
        const again = (fieldErrors: FieldErrors) =>
          page(reply, 400, settingsPage({ ...frame(me, app), values, errors: fieldErrors }));
        if (!input) return again(errors);
        try {
          await services.applications.update(
            app.clientId,
            { ...input, description: input.description ?? '' },
            actor(request),
          );
        } catch (error) {
          const fieldErrors = fieldErrorsOf(error);
          if (fieldErrors) return again(fieldErrors);
          throw error;
        }
        options.log?.info({ client_id: app.clientId }, 'portal: application settings changed');
        return reply.redirect(`/developers/applications/${app.clientId}/settings?saved=1`, 303);
      });

      // --- Delete --------------------------------------------------------------------------------
      portal.get('/applications/:clientId/delete', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        return page(reply, 200, deletePage(frame(me, app)));
      });

      portal.post('/applications/:clientId/delete', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const typed = one(formOf(request), 'confirm_name') ?? '';
        // The confirmation step: the name typed exactly (surrounding spaces aside).
        if (typed.trim() !== app.name) {
          return page(
            reply,
            400,
            deletePage({ ...frame(me, app), typed, error: PORTAL_MESSAGES[me.locale].remove.mismatch }),
          );
        }
        // Revokes every grant, token, code and secret of it in one storage step.
        await services.applications.delete(app.clientId, actor(request));
        options.log?.info(
          { client_id: app.clientId, owner_user_id: me.userId },
          'portal: application deleted',
        );
        return reply.redirect('/developers?deleted=1', 303);
      });

      // --- Sellers -------------------------------------------------------------------------------
      portal.get('/applications/:clientId/sellers', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const t = PORTAL_MESSAGES[me.locale];
        const query = queryOf(request);
        const search = query.get('search')?.[0] ?? '';
        const cursor = query.get('cursor')?.[0];
        const revoked = query.get('revoked')?.[0];
        const notice = isUserId(revoked) ? t.sellers.revoked(String(revoked)) : undefined;
        let sellers: Awaited<ReturnType<Services['applications']['sellers']>>;
        let searchError: { description: string } | undefined;
        try {
          sellers = await services.applications.sellers(app.clientId, {
            limit: SELLERS_PER_PAGE,
            cursor,
            search,
          });
        } catch (error) {
          if (!(error instanceof InvalidRequestError)) throw error;
          // A search too long or with control characters, or a cursor we did not issue: said
          // next to the search field, with the first page of everyone below it.
          searchError = error;
          sellers = await services.applications.sellers(app.clientId, { limit: SELLERS_PER_PAGE });
        }
        return page(
          reply,
          searchError ? 400 : 200,
          sellersPage({
            ...frame(me, app),
            sellers: { rows: sellers.items, nextCursor: sellers.nextCursor, totals: sellers.totals },
            search,
            ...(searchError ? { searchError: searchError.description } : { notice }),
          }),
        );
      });

      portal.post('/applications/:clientId/sellers/revoke', async (request, reply) => {
        const app = await owned(request);
        const userId = one(formOf(request), 'user_id');
        if (!isUserId(userId)) throw new InvalidPortalInput('user_id must be a user id (digits)');
        try {
          // The seller's own revocation: grant, families and tokens in one step, and the
          // application.deauthorized webhook.
          await services.consent.revokeGrant(app.clientId, Number(userId), actor(request));
          options.log?.info(
            { client_id: app.clientId, user_id: Number(userId) },
            'portal: owner revoked a seller',
          );
        } catch (error) {
          // Already revoked (the seller, another tab): the list simply no longer shows it.
          if (!(error instanceof NotFoundError)) throw error;
        }
        return reply.redirect(`/developers/applications/${app.clientId}/sellers?revoked=${userId}`, 303);
      });

      // --- Webhooks ------------------------------------------------------------------------------
      portal.get('/applications/:clientId/webhooks', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const t = PORTAL_MESSAGES[me.locale];
        const query = queryOf(request);
        const beforeText = query.get('before')?.[0];
        const before =
          beforeText !== undefined && /^[1-9][0-9]{0,15}$/.test(beforeText) ? Number(beforeText) : undefined;
        if (beforeText !== undefined && before === undefined) {
          throw new InvalidPortalInput('before must be the id of an event (a positive whole number)');
        }
        const rows = await services.webhookOutbox.listForApplication(app.clientId, {
          limit: EVENTS_PER_PAGE,
          before,
        });
        const last = rows.at(-1);
        const notice = { retried: t.webhooks.retried, test_sent: t.webhooks.testSent }[
          query.get('notice')?.[0] ?? ''
        ];
        return page(
          reply,
          200,
          webhooksPage({
            ...frame(me, app),
            events: { rows, olderCursor: rows.length === EVENTS_PER_PAGE && last ? String(last.id) : null },
            canSendTest: true,
            notice,
          }),
        );
      });

      portal.post('/applications/:clientId/webhooks/retry', async (request, reply) => {
        const app = await owned(request);
        const eventId = one(formOf(request), 'event_id');
        if (eventId === undefined || !/^[1-9][0-9]{0,15}$/.test(eventId)) {
          throw new InvalidPortalInput('event_id must be the id of an event (a positive whole number)');
        }
        // Another application's event is answered like an unknown one (404).
        await services.webhookOutbox.retryForApplication(app.clientId, Number(eventId), actor(request));
        return reply.redirect(`/developers/applications/${app.clientId}/webhooks?notice=retried`, 303);
      });

      portal.post('/applications/:clientId/webhooks/test', async (request, reply) => {
        const app = await owned(request);
        await services.webhookOutbox.sendTestEvent(app.clientId);
        return reply.redirect(`/developers/applications/${app.clientId}/webhooks?notice=test_sent`, 303);
      });

      // --- Testing: test credentials and test users -----------------------------------------------
      portal.get('/applications/:clientId/testing', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        return page(reply, 200, await testing(me, app, { siteId: 'MLA', description: '' }, {}));
      });

      portal.post('/applications/:clientId/testing/users', async (request, reply) => {
        const me = developer(request);
        const app = await owned(request);
        const t = PORTAL_MESSAGES[me.locale];
        const form = formOf(request);
        const values = { siteId: one(form, 'site_id') ?? '', description: one(form, 'description') ?? '' };
        const errors: FieldErrors = {};
        if (!(values.siteId in SITES)) errors.site_id = t.form.unknownChoice(Object.keys(SITES).join(', '));
        if ([...values.description].length > TEST_USER_DESCRIPTION_LIMIT) {
          errors.description = t.form.tooLong(TEST_USER_DESCRIPTION_LIMIT);
        } else if (hasControls(values.description)) errors.description = t.form.controls;
        if (Object.keys(errors).length > 0) return page(reply, 400, await testing(me, app, values, errors));
        let created: Awaited<ReturnType<Services['testUsers']['create']>>;
        try {
          created = await services.testUsers.create(app.clientId, values, actor(request));
        } catch (error) {
          if (error instanceof TestUserLimitError) {
            return page(reply, 400, await testing(me, app, values, { _form: t.testing.limitReached }));
          }
          if (error instanceof InvalidRequestError) {
            return page(reply, 400, await testing(me, app, values, { _form: error.description }));
          }
          throw error;
        }
        options.log?.info({ client_id: app.clientId, user_id: created.id }, 'portal: test user created');
        reveal(reply, me, app.clientId, {
          kind: 'testUser',
          user: {
            id: created.id,
            nickname: created.nickname,
            email: created.email,
            password: created.password,
            siteId: created.site_id,
          },
        });
        return reply.redirect(`/developers/applications/${app.clientId}/reveal`, 303);
      });

      async function testing(
        me: Developer,
        app: ApplicationRecord,
        values: { siteId: string; description: string },
        errors: FieldErrors,
        created?: { id: number; nickname: string; email: string; password: string; siteId: string },
      ): Promise<string> {
        const users = await services.testUsers.list(app.clientId);
        return testingPage({
          ...frame(me, app),
          testUsers: { rows: users, limit: services.testUsers.limit },
          sites: Object.keys(SITES),
          values,
          errors,
          created,
        });
      }

      // ----- helpers of the routes -----
      function reveal(reply: FastifyReply, me: Developer, clientId: string, secret: RevealedSecret): void {
        const body = JSON.stringify({ ...secret, until: services.clock.now() + REVEAL_SECONDS * 1000 });
        const sealed = services.sealer.seal(revealPurpose(me.visitor, clientId), body).toString('base64url');
        setRevealCookie(reply, sealed, REVEAL_SECONDS);
      }

      function takeReveal(
        request: FastifyRequest,
        reply: FastifyReply,
        me: Developer,
        clientId: string,
      ): RevealedSecret | undefined {
        const value = readCookieValue(request.headers.cookie, REVEAL_COOKIE);
        if (value === undefined) return undefined;
        setRevealCookie(reply, '', 0);
        try {
          const opened = JSON.parse(
            services.sealer.open(revealPurpose(me.visitor, clientId), Buffer.from(value, 'base64url')),
          ) as RevealedSecret & { until: number };
          return opened.until > services.clock.now() ? opened : undefined;
        } catch {
          // Another session's, another application's, tampered or truncated: nothing to show.
          return undefined;
        }
      }

      function setRevealCookie(reply: FastifyReply, value: string, maxAge: number): void {
        const parts = [
          `${REVEAL_COOKIE}=${value}`,
          'Path=/developers',
          'HttpOnly',
          'SameSite=Strict',
          `Max-Age=${maxAge}`,
        ];
        if (options.issuer().startsWith('https:')) parts.push('Secure');
        void reply.header('set-cookie', parts.join('; '));
      }
    },
    { prefix: '/developers' },
  );
}

/** The name of the cookie that carries a just-issued secret from the POST to the page that shows it. */
const REVEAL_COOKIE = 'renova_reveal';

type RevealedSecret =
  | { kind: 'created'; clientSecret: string; webhookSecret: string }
  | { kind: 'client'; secret: string; overlap: OverlapChoice }
  | { kind: 'webhook'; secret: string }
  | {
      kind: 'testUser';
      user: { id: number; nickname: string; email: string; password: string; siteId: string };
    };

/** Bound to this session and this application: a copied cookie opens nowhere else. */
function revealPurpose(visitor: Visitor, clientId: string): string {
  const session = createHash('sha256').update(visitor.cookie).digest('base64url');
  return `portal-reveal:${session}:${clientId}`;
}

/** A form value a legitimate page never sends (a tampered form): answered 400 on an error page. */
class InvalidPortalInput extends OAuthError {
  constructor(description: string) {
    super('invalid_request', description);
  }
}

function developerOf(visitor: Visitor, locale: Locale): Developer {
  const user = visitor.user as NonNullable<Visitor['user']>;
  return { visitor, userId: user.id, page: { email: user.email, csrf: visitor.csrf }, locale };
}

function frame(me: Developer, app: ApplicationRecord) {
  return { locale: me.locale, user: me.page, app: toPortalApplication(app) };
}

export function toPortalApplication(app: ApplicationRecord): PortalApplication {
  const extra = app as ApplicationRecord & { description?: string | null; logoUrl?: string | null };
  return {
    clientId: app.clientId,
    name: app.name,
    description: extra.description ?? null,
    logoUrl: extra.logoUrl ?? null,
    redirectUris: app.redirectUris,
    scope: app.scope,
    pkceRequired: app.pkceRequired,
    grantTypes: app.grantTypes,
    notificationUrl: app.notificationUrl,
    ownerPublicKey: app.ownerPublicKey,
    createdAt: app.createdAt,
  };
}

/** The current secret first, then those in their overlap, soonest to end first. */
function currentFirst<T extends { expiresAt: number | null }>(secrets: T[]): T[] {
  return [...secrets].sort(
    (a, b) => (a.expiresAt ?? Number.NEGATIVE_INFINITY) - (b.expiresAt ?? Number.NEGATIVE_INFINITY),
  );
}

function noticeOf(request: FastifyRequest, t: PortalMessages): string | undefined {
  const notice = queryOf(request).get('notice')?.[0];
  if (notice === 'shown') return t.credentials.alreadyShown;
  return undefined;
}

function isOverlapChoice(value: string | undefined): value is OverlapChoice {
  return (OVERLAP_CHOICES as readonly (string | undefined)[]).includes(value);
}

/** Where sign-in returns to: this portal path when it is plainly one of ours, else the portal's home. */
function nextOf(request: FastifyRequest): string {
  const path = request.url.split('?')[0] ?? '';
  return /^\/developers(?:\/[A-Za-z0-9_-]+)*$/.test(path) ? path : '/developers';
}

function readCookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{1,4096}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/** C0 and C1 control characters; `allowNewlines` keeps \n, \r and \t (multi-line text areas). */
function hasControls(value: string, allowNewlines = false): boolean {
  for (const ch of value) {
    const c = ch.codePointAt(0) ?? 0;
    if (allowNewlines && (c === 0x0a || c === 0x0d || c === 0x09)) continue;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

export interface ApplicationInput {
  name: string;
  description: string | null;
  logoUrl: string | null;
  redirectUris: string[];
  scope: string;
  pkceRequired: boolean;
  grantTypes: string[];
  notificationUrl: string | null;
}

/**
 * Reads and checks the application form, field by field, with the core's own checks (the same
 * rules as the admin API and the CLI), so that each error is shown next to its field with what
 * the developer typed. `input` is set only when every field is valid.
 */
export function readApplicationForm(
  form: Form,
  t: PortalMessages,
  services: Pick<Services, 'webhookTargets'>,
): { values: ApplicationFormValues; errors: FieldErrors; input?: ApplicationInput } {
  const errors: FieldErrors = {};
  const text = (name: string): string => {
    const values = form.get(name) ?? [];
    if (values.length > 1) errors[name] = t.form.once;
    return values[0] ?? '';
  };
  const values: ApplicationFormValues = {
    name: text('name'),
    description: text('description'),
    logoUrl: text('logo_url'),
    redirectUris: text('redirect_uris'),
    scopes: [...new Set(form.get('scope') ?? [])],
    pkceRequired: form.get('pkce_required')?.[0] === 'true',
    grantTypes: [...new Set(form.get('grant_types') ?? [])],
    notificationUrl: text('notification_url'),
  };

  const name = values.name.trim();
  if (!errors.name) {
    if (name === '') errors.name = t.form.required;
    else if ([...name].length > LIMITS.name) errors.name = t.form.tooLong(LIMITS.name);
    else if (hasControls(name)) errors.name = t.form.controls;
  }
  const description = values.description.trim();
  if (!errors.description) {
    if ([...description].length > LIMITS.description) errors.description = t.form.tooLong(LIMITS.description);
    else if (hasControls(description, true)) errors.description = t.form.controls;
  }
  const logoUrl = values.logoUrl.trim();
  if (!errors.logo_url && logoUrl !== '') {
    if (logoUrl.length > LIMITS.url) errors.logo_url = t.form.tooLong(LIMITS.url);
    else if (!isHttpsUrl(logoUrl)) errors.logo_url = t.form.badUrl;
  }
  const redirectUris = [
    ...new Set(
      values.redirectUris
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line !== ''),
    ),
  ];
  if (!errors.redirect_uris) {
    if (redirectUris.length === 0) errors.redirect_uris = t.form.atLeastOneUri;
    else if (redirectUris.length > LIMITS.redirectUris)
      errors.redirect_uris = t.form.tooManyUris(LIMITS.redirectUris);
    else {
      for (const uri of redirectUris) {
        const problem =
          uri.length > LIMITS.url
            ? t.form.tooLong(LIMITS.url)
            : hasControls(uri)
              ? t.form.controls
              : messageOf(() => checkRedirectUri(uri));
        if (problem) {
          errors.redirect_uris = `${shorten(uri)}: ${problem}`;
          break;
        }
      }
    }
  }
  const unknownScopes = values.scopes.filter((s) => !(ALL_SCOPES as readonly string[]).includes(s));
  if (values.scopes.length === 0) errors.scope = t.form.atLeastOneScope;
  else if (unknownScopes.length > 0) errors.scope = t.form.unknownChoice(ALL_SCOPES.join(', '));
  const unknownGrants = values.grantTypes.filter(
    (g) => !(GRANT_TYPE_CHOICES as readonly string[]).includes(g),
  );
  if (unknownGrants.length > 0) errors.grant_types = t.form.unknownChoice(GRANT_TYPE_CHOICES.join(', '));
  else {
    const problem = messageOf(() => checkGrantTypes(values.grantTypes));
    if (problem) errors.grant_types = problem;
  }
  const pkceValues = form.get('pkce_required') ?? [];
  if (pkceValues.length > 1 || (pkceValues.length === 1 && pkceValues[0] !== 'true')) {
    errors.pkce_required = t.form.unknownChoice('true');
  }
  const notificationUrl = values.notificationUrl.trim();
  if (!errors.notification_url && notificationUrl !== '') {
    const problem =
      notificationUrl.length > LIMITS.url
        ? t.form.tooLong(LIMITS.url)
        : hasControls(notificationUrl)
          ? t.form.controls
          : messageOf(() => checkNotificationUrl(notificationUrl, services.webhookTargets));
    if (problem) errors.notification_url = problem;
  }
  if (Object.keys(errors).length > 0) return { values, errors };
  return {
    values,
    errors,
    input: {
      name,
      description: description === '' ? null : description,
      logoUrl: logoUrl === '' ? null : logoUrl,
      redirectUris,
      scope: ALL_SCOPES.filter((s) => values.scopes.includes(s)).join(' '),
      pkceRequired: values.pkceRequired,
      grantTypes: GRANT_TYPE_CHOICES.filter((g) => values.grantTypes.includes(g)),
      notificationUrl: notificationUrl === '' ? null : notificationUrl,
    },
  };
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}

/** The core check's message (its OAuth error description), or undefined when the value passes. */
function messageOf(check: () => unknown): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof OAuthError) return error.description;
    throw error;
  }
}

function shorten(value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}…` : value;
}

/**
 * A refusal of the core that belongs on the form rather than on an error page: a field-level
 * validation error (per field), or an invalid_request (shown above the form).
 */
const FORM_FIELDS = new Set([
  'name',
  'description',
  'logo_url',
  'redirect_uris',
  'scope',
  'grant_types',
  'pkce_required',
  'notification_url',
]);

function fieldErrorsOf(error: unknown): FieldErrors | undefined {
  const fields = (error as { fields?: unknown }).fields;
  if (error instanceof OAuthError && fields && typeof fields === 'object') {
    const mapped: FieldErrors = {};
    for (const [name, message] of Object.entries(fields as Record<string, string>)) {
      // The core names the scope field `scopes` (its wire name); the form's checkboxes are `scope`.
      const field = name === 'scopes' ? 'scope' : name;
      // A field the form does not have (owner_user_id) is said above the form.
      if (FORM_FIELDS.has(field)) mapped[field] = message;
      else mapped._form = message;
    }
    return mapped;
  }
  if (error instanceof OAuthError && error.error === 'invalid_request') return { _form: error.description };
  return undefined;
}
