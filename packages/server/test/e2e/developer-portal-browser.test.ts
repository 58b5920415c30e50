import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { MercadoPagoConfig, OAuth } from 'mercadopago';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { buildApp } from '../../src/http/app.ts';
import { webhookTargetPolicy } from '../../src/runtime.ts';
import { createServices, type Services } from '../../src/services.ts';
import { sqliteFactory, type TestStorage } from '../helpers/storages.ts';

/**
 * The developer portal in Chromium (docs/developer-portal.md): an integrator registers an
 * application, copies its secret with the copy button, and the real `mercadopago` SDK runs the
 * authorization code flow against it through the consent page; the webhook reaches a local
 * receiver. Every page is checked at 375 px and 1280 px for horizontal overflow.
 *
 * SQLite only: the pages are the same on every engine and the in-process suite
 * (test/http/developer-portal.test.ts) runs on both; a second browser run would only cost time
 * on a shared two-core machine.
 *
 * Screenshots go to artifacts/portal/; with RENOVA_PORTAL_SCREENSHOTS=docs they replace the ones
 * of docs/developer-portal.md (docs/images/portal-*.png).
 */

const require = createRequire(import.meta.url);
const { AppConfig } = require('mercadopago/dist/utils/config') as { AppConfig: { BASE_URL: string } };

const SHOTS =
  process.env.RENOVA_PORTAL_SCREENSHOTS === 'docs'
    ? new URL('../../../../docs/images/', import.meta.url).pathname
    : new URL('../../artifacts/portal/', import.meta.url).pathname;

interface Delivery {
  url: string;
  body: Record<string, unknown>;
}

describe('the developer portal in Chromium', () => {
  let storage: TestStorage;
  let services: Services;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let integrator: Server;
  let integratorOrigin: string;
  let receiver: Server;
  let receiverUrl: string;
  const deliveries: Delivery[] = [];

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    integrator = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end('<h1>integrator</h1>');
    });
    receiver = createServer((request: IncomingMessage, response) => {
      let raw = '';
      request.on('data', (chunk) => {
        raw += chunk;
      });
      request.on('end', () => {
        deliveries.push({ url: request.url ?? '', body: JSON.parse(raw || '{}') });
        response.end('ok');
      });
    });
    integratorOrigin = await listen(integrator);
    receiverUrl = `${await listen(receiver)}/hooks/renova`;
    storage = await sqliteFactory.create();
    services = createServices({
      storage: storage.storage,
      serverKey: Buffer.alloc(32, 9),
      // The receiver listens on loopback: the development policy (RENOVA_WEBHOOK_ALLOW_PRIVATE).
      webhookTargets: webhookTargetPolicy({ allowPrivate: true }),
      webhookPolicy: { baseDelayMs: 20, maxDelayMs: 80, maxAttempts: 3, timeoutMs: 2000, pollMs: 25 },
    });
    services.webhooks.start();
    app = await buildApp(services, { issuer: 'http://127.0.0.1', logger: false });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    AppConfig.BASE_URL = base;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  after(async () => {
    await browser?.close();
    await services?.webhooks.stop();
    await app?.close();
    await storage?.cleanup();
    await new Promise((resolve) => integrator.close(resolve));
    await new Promise((resolve) => receiver.close(resolve));
  });

  async function newPage(width = 1280): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ locale: 'en-US', viewport: { width, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    return { context, page: await context.newPage() };
  }

  /** No horizontal overflow at 375 px and 1280 px, and the named controls on screen. */
  async function checkLayout(page: Page, name: string, controls: string[]): Promise<void> {
    for (const width of [375, 1280]) {
      await page.setViewportSize({ width, height: 900 });
      const { scroll, client } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
      }));
      assert.ok(scroll <= client, `${name} at ${width}px: scrollWidth ${scroll} > clientWidth ${client}`);
      for (const control of controls) {
        const locator = page.locator(control).first();
        await locator.scrollIntoViewIfNeeded();
        const box = await locator.boundingBox();
        assert.ok(box, `${name} at ${width}px: ${control} not rendered`);
        assert.ok(
          box.x >= 0 && box.x + box.width <= width + 0.5,
          `${name} at ${width}px: ${control} off screen`,
        );
      }
      await page.screenshot({
        path: `${SHOTS}portal-${name}${width === 375 ? '-mobile' : ''}.png`,
        fullPage: true,
      });
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  test('register, copy the secret, authorize with the SDK, see the webhook; every page fits 375 and 1280 px', async () => {
    await services.accounts.createUser({
      email: 'integrator@acme.example',
      password: 'correct horse',
      nickname: 'ACME',
    });
    const { context, page } = await newPage();

    // Sign in through the seller sign-in, back to the portal.
    await page.goto(`${base}/developers`);
    await page.getByLabel('Email').fill('integrator@acme.example');
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your applications' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/developers');

    // Register, with one field wrong first: the error is next to it and the rest is kept.
    await page.getByRole('link', { name: 'New application' }).first().click();
    await page.getByLabel('Name').fill('Acme Store Sync');
    await page.getByLabel('Description').fill('Keeps the Acme catalogue and the seller’s stock in sync.');
    await page.getByLabel('Redirect URIs').fill('http://acme.example/callback');
    await page.getByLabel('Notification URL').fill(receiverUrl);
    await page.getByRole('button', { name: 'Create application' }).click();
    await page.locator('#redirect_uris-error').waitFor();
    assert.match((await page.locator('#redirect_uris-error').textContent()) ?? '', /must use https/);
    assert.equal(await page.getByLabel('Name').inputValue(), 'Acme Store Sync');
    await checkLayout(page, 'new-error', ['#redirect_uris-error', 'button[type=submit]']);
    await page.getByLabel('Redirect URIs').fill(`${integratorOrigin}/callback`);
    await page.getByRole('button', { name: 'Create application' }).click();
    await page.getByRole('heading', { name: 'Acme Store Sync is registered' }).waitFor();

    // The copy button (the served script) puts exactly the shown secret on the clipboard.
    const shown = ((await page.locator('#client-secret').textContent()) ?? '').trim();
    const clientId = ((await page.locator('#client-id').textContent()) ?? '').trim();
    assert.match(shown, /^[A-Za-z0-9]{32}$/);
    const copy = page.locator('button[data-copy="client-secret"]');
    await copy.click();
    await page.waitForFunction(
      () => document.querySelector('button[data-copy="client-secret"]')?.textContent === 'Copied',
    );
    const clientSecret = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(clientSecret, shown);
    await checkLayout(page, 'created', [
      '#client-secret',
      'button[data-copy="client-secret"]',
      'a.btn-primary',
    ]);

    // After a reload the secret is gone.
    await page.reload();
    await page.getByText('shown once and is gone').waitFor();
    assert.ok(!(await page.content()).includes(clientSecret));
    await checkLayout(page, 'credentials', ['#client-id', '#overlap_seconds', 'text=Rotate client secret']);

    // A test user from the Testing tab: id, nickname, email and password, the password once.
    await page.getByRole('link', { name: 'Testing' }).click();
    assert.match((await page.locator('#test-user-limit').textContent()) ?? '', /0 of 10 test users used/);
    await checkLayout(page, 'testing', ['#site_id', 'text=Create test user']);
    await page.getByLabel('Description').fill('checkout flow');
    await page.getByRole('button', { name: 'Create test user' }).click();
    await page.getByRole('heading', { name: 'Test user created' }).waitFor();
    const testUser = {
      id: Number(((await page.locator('#test-user-id').textContent()) ?? '').trim()),
      email: ((await page.locator('#test-user-email').textContent()) ?? '').trim(),
      password: ((await page.locator('#test-user-password').textContent()) ?? '').trim(),
    };
    assert.match((await page.locator('#test-user-limit').textContent()) ?? '', /1 of 10 test users used/);
    await checkLayout(page, 'test-user-created', ['#test-user-password', 'text=Create test user']);

    // The real SDK against it, through the consent page, with PKCE (required by default).
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const oauth = new OAuth(new MercadoPagoConfig({ accessToken: 'APP_USR-integrator-token' }));
    const built = new URL(
      oauth.getAuthorizationURL({
        options: {
          client_id: clientId,
          redirect_uri: `${integratorOrigin}/callback`,
          state: 'portal-state',
          code_challenge: challenge,
          code_challenge_method: 'S256',
        } as Parameters<typeof oauth.getAuthorizationURL>[0]['options'],
      }),
    );
    const sellerContext = await browser.newContext({ locale: 'en-US' });
    const sellerPage = await sellerContext.newPage();
    await sellerPage.goto(`${base}${built.pathname}${built.search}`);
    await sellerPage.getByLabel('Email').fill(testUser.email);
    await sellerPage.getByLabel('Password').fill(testUser.password);
    await sellerPage.getByRole('button', { name: 'Sign in' }).click();
    await Promise.all([
      sellerPage.waitForURL(`${integratorOrigin}/**`),
      sellerPage.getByRole('button', { name: 'Allow' }).click(),
    ]);
    const code = new URL(sellerPage.url()).searchParams.get('code') as string;
    const tokens = await oauth.create({
      body: {
        client_id: clientId,
        client_secret: clientSecret,
        code,
        redirect_uri: `${integratorOrigin}/callback`,
        code_verifier: verifier,
        // Mercado Pago's test credentials: TEST- tokens, live_mode false.
        test_token: 'true',
      } as Parameters<typeof oauth.create>[0]['body'],
    });
    assert.equal(tokens.user_id, testUser.id);
    assert.match(tokens.access_token ?? '', /^TEST-/);
    assert.equal(tokens.live_mode, false);
    await sellerContext.close();

    // The application.authorized webhook reached the receiver.
    await until(
      () => deliveries.some((d) => d.body.action === 'application.authorized'),
      'the authorized webhook',
    );
    assert.match(deliveries[0]?.url ?? '', new RegExp(`data\\.id=${testUser.id}&type=mp-connect`));

    // The test user appears among the application's sellers; the owner revokes it.
    await page.goto(`${base}/developers/applications/${clientId}/sellers`);
    const row = page.locator(`li[data-user-id="${testUser.id}"]`);
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /test user/);
    await checkLayout(page, 'sellers', [`li[data-user-id="${testUser.id}"] button`, '#search']);
    await page.getByLabel('Search').fill(String(testUser.id));
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await row.waitFor();
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByText(`The authorization of ${testUser.id} was revoked`).waitFor();
    assert.equal(await page.locator(`li[data-user-id="${testUser.id}"]`).count(), 0);
    const me = await fetch(`${base}/users/me`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    assert.equal(me.status, 401);

    // Both deliveries in the portal, with their status; then a test event.
    await until(
      () => deliveries.some((d) => d.body.action === 'application.deauthorized'),
      'the deauthorized webhook',
    );
    await page.goto(`${base}/developers/applications/${clientId}/webhooks`);
    await page.getByText('application.deauthorized').waitFor();
    assert.equal(await page.locator('.badge.delivered').count(), 2);
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText('A test event is queued').waitFor();
    await until(() => deliveries.length >= 3, 'the test event');
    await page.reload();
    assert.equal(await page.locator('.badge.delivered').count(), 3);
    await checkLayout(page, 'webhooks', ['text=Send test event', 'li[data-event-id]']);

    // Rotation with a chosen overlap: the new secret once, the old one listed with its end.
    await page.goto(`${base}/developers/applications/${clientId}`);
    await page.getByLabel('Old secrets keep working for').selectOption('3600');
    await page.getByRole('button', { name: 'Rotate client secret' }).click();
    await page.getByRole('heading', { name: 'New client secret' }).waitFor();
    await checkLayout(page, 'rotated', ['#client-secret']);
    await page.getByRole('link', { name: 'Back to the application' }).click();
    await page.getByText('Works until').waitFor();

    // The settings and delete pages fit as well.
    await page.goto(`${base}/developers/applications/${clientId}/settings`);
    await checkLayout(page, 'settings', ['#name', '#redirect_uris', 'button[type=submit]']);
    await page.goto(`${base}/developers/applications/${clientId}/delete`);
    await checkLayout(page, 'delete', ['#confirm_name', 'button.btn-danger']);
    await page.goto(`${base}/developers`);
    await checkLayout(page, 'home', ['text=Acme Store Sync', 'a.btn-primary']);
    await context.close();
  });

  test('works without JavaScript: no copy button, the secret is plain selectable text', async () => {
    await services.accounts.createUser({ email: 'nojs@acme.example', password: 'correct horse' });
    const context = await browser.newContext({ locale: 'en-US', javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${base}/developers`);
    await page.getByLabel('Email').fill('nojs@acme.example');
    await page.getByLabel('Password').fill('correct horse');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.goto(`${base}/developers/applications/new`);
    await page.getByLabel('Name').fill('No Script App');
    await page.getByLabel('Redirect URIs').fill('https://noscript.example/cb');
    await page.getByRole('button', { name: 'Create application' }).click();
    await page.getByRole('heading', { name: 'No Script App is registered' }).waitFor();
    assert.equal(await page.locator('button[data-copy]').first().isVisible(), false);
    assert.match(((await page.locator('#client-secret').textContent()) ?? '').trim(), /^[A-Za-z0-9]{32}$/);
    await context.close();
  });
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
