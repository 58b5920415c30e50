import { Accounts } from '../../../src/core/accounts.ts';
import { Applications } from '../../../src/core/applications.ts';
import { ClientAuthenticator } from '../../../src/core/client-auth.ts';
import { DEFAULT_LIFETIMES, type Lifetimes } from '../../../src/core/config.ts';
import { Consent } from '../../../src/core/consent.ts';
import { OAuthError } from '../../../src/core/errors.ts';
import type { Params } from '../../../src/core/params.ts';
import { cryptoRandom } from '../../../src/core/random.ts';
import { InProcessRateLimiter, type RateLimiter } from '../../../src/core/rate-limit.ts';
import { Sealer } from '../../../src/core/sealing.ts';
import { type GrantResult, TokenEndpoint } from '../../../src/core/token-endpoint.ts';
import { MemoryStorage } from '../../../src/storage/memory/adapter.ts';
import { TestClock } from '../../helpers/clock.ts';

/**
 * Core objects over the in-memory storage, wired by hand as services.ts wires them: no HTTP, no
 * database, no Redis. Each call of `coreWorld` starts from an empty storage.
 */

export { TestClock };

export const REDIRECT_URI = 'https://shop.example/callback';
export const ADDRESS = '203.0.113.7';

export interface SeedOptions {
  scope?: string;
  pkceRequired?: boolean;
  grantTypes?: string[];
}

export interface SeededApp {
  ownerId: number;
  sellerId: number;
  clientId: string;
  clientSecret: string;
  /** A fresh authorization code for the seller, issued as the consent page issues it. */
  code(options?: { scope?: string; codeChallenge?: string; codeChallengeMethod?: string }): Promise<string>;
}

export function coreWorld(options: { lifetimes?: Partial<Lifetimes>; rateLimiter?: RateLimiter } = {}) {
  const storage = new MemoryStorage();
  const clock = new TestClock();
  const random = cryptoRandom;
  const lifetimes: Lifetimes = { ...DEFAULT_LIFETIMES, ...options.lifetimes };
  const rateLimiter = options.rateLimiter ?? new InProcessRateLimiter();
  const clients = new ClientAuthenticator(storage, clock, rateLimiter);
  const sealer = new Sealer(Buffer.alloc(32, 7), random);
  const accounts = new Accounts({ storage, clock });
  const applications = new Applications({
    storage,
    clock,
    random,
    lifetimes,
    sealer,
    onClientSecretsChanged: (clientId) => clients.forget(clientId),
  });
  const consent = new Consent({ storage, clock, random, lifetimes, applications });
  const tokens = new TokenEndpoint({ storage, clock, random, lifetimes, rateLimiter }, clients);
  let counter = 0;

  async function seed(seedOptions: SeedOptions = {}): Promise<SeededApp> {
    counter += 1;
    const owner = await accounts.createUser({ email: `owner${counter}@example.com` });
    const seller = await accounts.createUser({ email: `seller${counter}@example.com` });
    const created = await applications.create({
      name: `App ${counter}`,
      ownerUserId: owner.id,
      redirectUris: [REDIRECT_URI],
      scope: seedOptions.scope,
      pkceRequired: seedOptions.pkceRequired,
      grantTypes: seedOptions.grantTypes,
    });
    return {
      ownerId: owner.id,
      sellerId: seller.id,
      clientId: created.clientId,
      clientSecret: created.clientSecret,
      async code(codeOptions = {}) {
        const issued = await consent.authorize({
          clientId: created.clientId,
          userId: seller.id,
          ...codeOptions,
        });
        return issued.code;
      },
    };
  }

  /** `POST /oauth/token` as core sees it. */
  function token(params: Params, authorization?: string): Promise<GrantResult> {
    return tokens.handle({ params, authorization, remoteAddress: ADDRESS });
  }

  return { storage, clock, lifetimes, clients, accounts, applications, consent, tokens, seed, token };
}

export type CoreWorld = ReturnType<typeof coreWorld>;

/**
 * What a call ends in, as a table cell: 'ok', or the OAuth error code it throws. Anything that is
 * not an OAuthError (a bug, which HTTP would answer with 500) is rethrown so the test fails loudly.
 */
export async function outcomeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    if (error instanceof OAuthError) return error.error;
    throw error;
  }
}

/** The OAuthError a call throws (fails the test when it resolves or throws anything else). */
export async function errorOf(call: Promise<unknown>): Promise<OAuthError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof OAuthError) return error;
    throw error;
  }
  throw new Error('expected an OAuthError, but the call succeeded');
}

export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** The same token with one hex digit of its secret changed: a well-formed token nobody issued. */
export function withWrongSecret(token: string): string {
  const parts = token.split('-');
  const hexIndex = parts.length === 3 ? 1 : 3; // TG-{hex}-{user} or APP_USR-{client}-{stamp}-{hex}-{user}
  const hex = parts[hexIndex] as string;
  parts[hexIndex] = hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');
  return parts.join('-');
}
