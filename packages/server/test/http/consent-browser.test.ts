import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { MercadoPagoConfig, OAuth } from 'mercadopago';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { createdApplicationView } from '../../src/views.ts';
import { type Harness, harness, postForm, type Seeded } from '../helpers/fixtures.ts';
import { storageFactories } from '../helpers/storages.ts';

// The official SDK has no base-URL option; its RestClient reads this static at call time, and
// getAuthorizationURL hard-codes auth.mercadopago.com.
const require = createRequire(import.meta.url);
const { AppConfig } = require('mercadopago/dist/utils/config') as { AppConfig: { BASE_URL: string } };

const ARTIFACTS = new URL('../../artifacts/', import.meta.url).pathname;

/** The URL the official SDK builds, re-pointed at the Renova under test. */
function sdkAuthorizationUrl(
  base: string,
  s: Seeded,
  state: string,
  extra: Record<string, string> = {},
): string {
  const oauth = new OAuth(new MercadoPagoConfig({ accessToken: 'APP_USR-integrator-token' }));
  const built = new URL(
    oauth.getAuthorizationURL({
      options: { client_id: s.clientId, redirect_uri: s.redirectUri, state, ...extra },
    }),
  );
  assert.equal(built.origin, 'https://auth.mercadopago.com');
  return `${base}${built.pathname}${built.search}`;
}

for (const factory of storageFactories) {
  describe(`the seller's side in Chromium on ${factory.name}`, () => {
    let h: Harness;
    let base: string;
    let browser: Browser;
    /** The integrator's side: a real server whose /callback is the registered redirect URI. */
    let integrator: Server;
    let callbackOrigin: string;
    /** Every request that reached the integrator, registered path or not. */
    const callbacks: URL[] = [];
    let counter = 0;

    /** An owner, a seller with a password, and an application redirecting to the integrator. */
    async function seed(options: { pkceRequired?: boolean } = {}): Promise<Seeded> {
      counter += 1;
      const { accounts, applications } = h.services;
      const owner = await accounts.createUser({
        email: `b-owner${counter}@example.com`,
        nickname: 'ACME_SOFTWARE',
      });
      const seller = await accounts.createUser({
        email: `b-seller${counter}@example.com`,
        password: 'correct horse',
      });
      const redirectUri = `${callbackOrigin}/callback`;
      const app = createdApplicationView(
        await applications.create({
          name: counter === 1 ? 'Acme Store Sync' : `Browser App ${counter}`,
          ownerUserId: owner.id,
          redirectUris: [redirectUri],
          pkceRequired: options.pkceRequired,
        }),
      );
      return {
        ownerId: owner.id,
        sellerId: seller.id,
        clientId: app.client_id,
        clientSecret: app.client_secret,
        redirectUri,
        code: () => Promise.reject(new Error('codes come from the browser here')),
      };
    }

    before(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      integrator = createServer((request, response) => {
        callbacks.push(new URL(request.url ?? '/', callbackOrigin));
        response.setHeader('content-type', 'text/html');
        response.end('<h1>integrator</h1>');
      });
      await new Promise<void>((resolve) => integrator.listen(0, '127.0.0.1', resolve));
      const address = integrator.address();
      callbackOrigin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      h = await harness(factory, { realClock: true });
      base = await h.app.listen({ host: '127.0.0.1', port: 0 });
      AppConfig.BASE_URL = base;
      browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
    });
    after(async () => {
      await browser?.close();
      await h.close();
      await new Promise((resolve) => integrator.close(resolve));
    });

    async function newPage(locale = 'en-US'): Promise<{ context: BrowserContext; page: Page }> {
      const context = await browser.newContext({ locale, viewport: { width: 1000, height: 900 } });
      return { context, page: await context.newPage() };
    }

    async function signIn(page: Page, s: Seeded): Promise<void> {
      const email = ((await h.services.storage.findUserById(s.sellerId)) as { email: string }).email;
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill('correct horse');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Allow' }).waitFor();
    }

    async function decide(page: Page, button: 'Allow' | 'Deny'): Promise<URL> {
      await Promise.all([
        page.waitForURL(`${callbackOrigin}/**`),
        page.getByRole('button', { name: button }).click(),
      ]);
      return new URL(page.url());
    }

    async function usersMe(accessToken: string): Promise<number> {
      const response = await fetch(`${base}/users/me`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      return response.status;
    }

    test('runs the whole flow: SDK authorization URL, sign-in, consent, code and state, exchange, /users/me', async () => {
      const s = await seed();
      const state = randomBytes(12).toString('hex');
      const { context, page } = await newPage();
      await page.goto(sdkAuthorizationUrl(base, s, state));
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await page.screenshot({ path: `${ARTIFACTS}login.png`, fullPage: true });
      await signIn(page, s);
      await page.getByRole('heading', { name: /wants to access your account/ }).waitFor();
      assert.equal(await page.getByText('See your account information').count(), 1);
      assert.equal(await page.getByText('Act on your behalf').count(), 1);
      assert.equal(await page.getByText("Keep access while you're away").count(), 1);
      await page.screenshot({ path: `${ARTIFACTS}consent.png`, fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: `${ARTIFACTS}consent-mobile.png`, fullPage: true });

      const back = await decide(page, 'Allow');
      assert.equal(`${back.origin}${back.pathname}`, s.redirectUri);
      assert.match(back.searchParams.get('code') ?? '', /^TG-[0-9a-f]+-\d+$/);
      assert.equal(back.searchParams.get('state'), state);
      assert.equal(back.searchParams.get('iss'), 'http://renova.test');

      const oauth = new OAuth(new MercadoPagoConfig({ accessToken: 'APP_USR-integrator-token' }));
      const tokens = await oauth.create({
        body: {
          client_id: s.clientId,
          client_secret: s.clientSecret,
          code: back.searchParams.get('code') as string,
          redirect_uri: s.redirectUri,
        },
      });
      assert.equal(tokens.user_id, s.sellerId);
      assert.equal(tokens.scope, 'offline_access read write');
      assert.equal(await usersMe(tokens.access_token as string), 200);
      await context.close();
    });

    test('a denial goes back with error=access_denied and the state, and no code', async () => {
      const s = await seed();
      const { context, page } = await newPage();
      await page.goto(sdkAuthorizationUrl(base, s, 'deny-state'));
      await signIn(page, s);
      const back = await decide(page, 'Deny');
      assert.equal(back.searchParams.get('error'), 'access_denied');
      assert.equal(back.searchParams.get('state'), 'deny-state');
      assert.equal(back.searchParams.get('code'), null);
      assert.equal(await h.services.storage.findGrant(s.clientId, s.sellerId), null);
      await context.close();
    });

    test('a redirect URI that is not registered shows an error page and never redirects', async () => {
      const s = await seed();
      const before = callbacks.length;
      const { context, page } = await newPage();
      const url = sdkAuthorizationUrl(base, { ...s, redirectUri: `${callbackOrigin}/steal` }, 'st');
      const response = await page.goto(url);
      assert.equal(response?.status(), 400);
      assert.equal(new URL(page.url()).origin, base);
      await page.getByRole('heading', { name: "We can't continue" }).waitFor();
      await page.screenshot({ path: `${ARTIFACTS}error.png`, fullPage: true });
      assert.equal(callbacks.length, before);
      await context.close();
    });

    test('a forged form post without the CSRF token fails, from the same browser or another site', async () => {
      const s = await seed();
      const { context, page } = await newPage();
      const url = sdkAuthorizationUrl(base, s, 'csrf-state');
      await page.goto(url);
      await signIn(page, s);
      // Same cookies as the signed-in seller, but no token.
      const direct = await context.request.post(url, { form: { decision: 'allow' }, maxRedirects: 0 });
      assert.equal(direct.status(), 403);
      assert.equal(direct.headers().location, undefined);
      // A page on another site auto-posting the decision form.
      await context.route('https://attacker.example/**', (route) =>
        route.fulfill({
          contentType: 'text/html',
          body: `<form id="f" method="post" action="${url}"><input name="decision" value="allow"><button>go</button></form>`,
        }),
      );
      const attacker = await context.newPage();
      await attacker.goto('https://attacker.example/');
      const [response] = await Promise.all([attacker.waitForResponse(() => true), attacker.click('button')]);
      assert.equal(response.status(), 403);
      await attacker.getByRole('heading', { name: "We can't continue" }).waitFor();
      assert.equal(await h.services.storage.findGrant(s.clientId, s.sellerId), null);
      await context.close();
    });

    test('revoking on the account page makes the tokens fail at /users/me and /oauth/introspect', async () => {
      const s = await seed();
      const { context, page } = await newPage();
      await page.goto(sdkAuthorizationUrl(base, s, 'revoke-state'));
      await signIn(page, s);
      const back = await decide(page, 'Allow');
      const exchanged = await postForm(h.app, '/oauth/token', {
        grant_type: 'authorization_code',
        client_id: s.clientId,
        client_secret: s.clientSecret,
        code: back.searchParams.get('code') as string,
        redirect_uri: s.redirectUri,
      });
      const access = exchanged.body.access_token as string;
      const refreshToken = exchanged.body.refresh_token as string;
      assert.equal(await usersMe(access), 200);

      await page.goto(`${base}/account/applications`);
      const name = (await h.services.storage.findApplication(s.clientId))?.name as string;
      await page.getByRole('heading', { name }).waitFor();
      await page.screenshot({ path: `${ARTIFACTS}account.png`, fullPage: true });
      await page.getByRole('button', { name: `Remove access for ${name}` }).click();
      await page.getByText(`${name} no longer has access to your account.`).waitFor();
      assert.equal(await page.getByRole('button', { name: `Remove access for ${name}` }).count(), 0);
      await page.screenshot({ path: `${ARTIFACTS}account-after-revoke.png`, fullPage: true });

      assert.equal(await usersMe(access), 401);
      for (const token of [access, refreshToken]) {
        const introspected = await postForm(h.app, '/oauth/introspect', {
          client_id: s.clientId,
          client_secret: s.clientSecret,
          token,
        });
        assert.deepEqual(introspected.body, { active: false });
      }
      const refreshed = await postForm(h.app, '/oauth/token', {
        grant_type: 'refresh_token',
        client_id: s.clientId,
        client_secret: s.clientSecret,
        refresh_token: refreshToken,
      });
      assert.equal(refreshed.body.error, 'invalid_grant');
      await context.close();
    });

    test('runs a PKCE S256 flow end to end for an application that requires PKCE', async () => {
      const s = await seed({ pkceRequired: true });
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const { context, page } = await newPage('pt-BR');

      // Without a challenge the request goes back with invalid_request before any sign-in.
      await page.goto(sdkAuthorizationUrl(base, s, 'no-pkce'));
      await page.waitForURL(`${callbackOrigin}/**`);
      assert.equal(new URL(page.url()).searchParams.get('error'), 'invalid_request');

      await page.goto(
        sdkAuthorizationUrl(base, s, 'pkce-state', {
          code_challenge: challenge,
          code_challenge_method: 'S256',
        }),
      );
      const email = ((await h.services.storage.findUserById(s.sellerId)) as { email: string }).email;
      await page.getByLabel('E-mail').fill(email);
      await page.getByLabel('Senha').fill('correct horse');
      await page.getByRole('button', { name: 'Entrar' }).click();
      await page.getByRole('heading', { name: /quer acessar sua conta/ }).waitFor();
      await page.screenshot({ path: `${ARTIFACTS}consent-pt.png`, fullPage: true });
      await Promise.all([
        page.waitForURL(`${callbackOrigin}/**`),
        page.getByRole('button', { name: 'Permitir' }).click(),
      ]);
      const code = new URL(page.url()).searchParams.get('code') as string;

      const oauth = new OAuth(new MercadoPagoConfig({ accessToken: 'APP_USR-integrator-token' }));
      const tokens = await oauth.create({
        body: {
          client_id: s.clientId,
          client_secret: s.clientSecret,
          code,
          redirect_uri: s.redirectUri,
          code_verifier: verifier,
        } as Parameters<typeof oauth.create>[0]['body'],
      });
      assert.equal(tokens.user_id, s.sellerId);
      assert.equal(await usersMe(tokens.access_token as string), 200);
      await context.close();
    });
  });
}
