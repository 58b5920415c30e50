import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { OAuthError } from '../core/errors.ts';
import type { Services } from '../services.ts';
import { toErrorReply } from './errors.ts';
import { MESSAGES } from './pages/i18n.ts';
import { demoCallbackPage, errorPage } from './pages/views.ts';
import { localeOf, sendPage } from './seller.ts';
import { readCookie } from './sessions.ts';

/** The demo application's credentials, known once `runDemo` has rotated its secret. */
export interface DemoState {
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
}

const COOKIE = 'renova_demo';

/**
 * `serve --demo` only: Renova plays the application too. `/demo/start` begins a consent flow the
 * way a careful client does (a fresh `state` and a PKCE S256 pair, kept in a short-lived cookie),
 * and `/demo/callback`, the demo application's redirect URI, checks `state` and `iss`, exchanges
 * the code at the token endpoint and refreshes once, showing both answers.
 */
export function registerDemoPages(
  pages: FastifyInstance,
  services: Services,
  issuer: () => string,
  demo: DemoState,
) {
  pages.get('/demo/start', async (request, reply) => {
    if (!demo.clientId || !demo.redirectUri) {
      return sendPage(reply, 503, errorPage({ locale: localeOf(request), kind: 'generic' }));
    }
    const state = services.random.bytes(16).toString('base64url');
    const verifier = services.random.bytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const url = new URL(`${issuer()}/authorization`);
    url.search = new URLSearchParams({
      client_id: demo.clientId,
      response_type: 'code',
      platform_id: 'mp',
      redirect_uri: demo.redirectUri,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    return reply
      .code(302)
      .header('set-cookie', `${COOKIE}=${state}.${verifier}; Path=/demo; HttpOnly; SameSite=Lax; Max-Age=600`)
      .header('cache-control', 'no-store')
      .header('location', url.toString())
      .send();
  });

  pages.get('/demo/callback', async (request, reply) => {
    const locale = localeOf(request);
    const t = MESSAGES[locale].demo;
    const query = request.query as Record<string, string | undefined>;
    const [state, verifier] = (readCookie(request.headers.cookie, COOKIE) ?? '').split('.');
    const page = (status: number, steps: Parameters<typeof demoCallbackPage>[0]['steps'], problem?: string) =>
      sendPage(
        reply.header('set-cookie', `${COOKIE}=; Path=/demo; Max-Age=0`),
        status,
        demoCallbackPage({ locale, steps, problem }),
      );
    // RFC 9207 §2.4: the client compares iss with the issuer it sent the seller to; and state
    // binds the answer to this browser (RFC 6749 §10.12).
    if (query.iss !== issuer() || !state || query.state !== state) return page(400, [], t.stateMismatch);
    if (query.error) return page(200, [], t.returned(query.error));
    const credentials = {
      client_id: demo.clientId,
      client_secret: demo.clientSecret,
    };
    const call = async (title: string, params: Record<string, string | undefined>) => {
      try {
        const result = await services.tokens.handle({
          params,
          authorization: undefined,
          remoteAddress: request.ip,
        });
        return { title, status: 200, body: result.response as unknown };
      } catch (error) {
        if (!(error instanceof OAuthError)) throw error;
        const answer = toErrorReply(error);
        return { title: `${title} · ${t.failed}`, status: answer.status, body: answer.body as unknown };
      }
    };
    const exchange = await call(t.exchange, {
      grant_type: 'authorization_code',
      ...credentials,
      code: query.code,
      redirect_uri: demo.redirectUri,
      code_verifier: verifier,
    });
    const refreshToken = (exchange.body as { refresh_token?: string }).refresh_token;
    if (!refreshToken) return page(400, [exchange]);
    const refresh = await call(t.refresh, {
      grant_type: 'refresh_token',
      ...credentials,
      refresh_token: refreshToken,
    });
    return page(200, [exchange, refresh]);
  });
}
