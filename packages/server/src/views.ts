import { SITES } from './core/accounts.ts';
import type { CreatedApplication, SellersPage } from './core/applications.ts';
import type {
  ApplicationGrantRecord,
  ApplicationRecord,
  GrantType,
  TestUserRecord,
  UserRecord,
  WebhookEventRecord,
} from './storage/contract.ts';

/**
 * The wire shapes of the admin API and of `renova … --json` (docs/api.md §4.4, §4.5, §5): snake_case,
 * ISO dates. Core returns domain objects; these functions are the one place they become JSON.
 */

/** A user as the admin API and the CLI show it. */
export interface UserView {
  id: number;
  email: string;
  nickname: string;
  site_id: string;
}

export function userView(user: UserRecord): UserView {
  return { id: user.id, email: user.email, nickname: user.nickname, site_id: user.siteId };
}

/** An application as the admin API shows it after a change: no secrets. */
export interface ApplicationView {
  client_id: string;
  name: string;
  description: string;
  logo_url: string | null;
  owner_user_id: number;
  redirect_uris: string[];
  scopes: string[];
  pkce_required: boolean;
  notification_url: string | null;
  grant_types: GrantType[];
}

export function applicationView(app: ApplicationRecord): ApplicationView {
  return {
    client_id: app.clientId,
    name: app.name,
    description: app.description,
    logo_url: app.logoUrl,
    owner_user_id: app.ownerUserId,
    redirect_uris: app.redirectUris,
    scopes: app.scope.split(' '),
    pkce_required: app.pkceRequired,
    notification_url: app.notificationUrl,
    grant_types: app.grantTypes,
  };
}

/** The admin API's answer for a new application (docs/api.md §4.5); secrets are shown this once. */
export interface CreatedApplicationView {
  client_id: string;
  client_secret: string;
  name: string;
  description: string;
  logo_url: string | null;
  owner_user_id: number;
  redirect_uris: string[];
  scopes: string[];
  pkce_required: boolean;
  notification_url: string | null;
  grant_types: GrantType[];
  webhook_secret: string;
}

export function createdApplicationView(created: CreatedApplication): CreatedApplicationView {
  return {
    client_id: created.clientId,
    client_secret: created.clientSecret,
    name: created.name,
    description: created.description,
    logo_url: created.logoUrl,
    owner_user_id: created.ownerUserId,
    redirect_uris: created.redirectUris,
    scopes: created.scope.split(' '),
    pkce_required: created.pkceRequired,
    notification_url: created.notificationUrl,
    grant_types: created.grantTypes,
    webhook_secret: created.webhookSecret,
  };
}

export function clientSecretView(rotated: { clientSecret: string }): { client_secret: string } {
  return { client_secret: rotated.clientSecret };
}

export function webhookSecretView(rotated: { webhookSecret: string }): { webhook_secret: string } {
  return { webhook_secret: rotated.webhookSecret };
}

/** `POST /admin/authorizations` and `renova authorize --json`. */
export function issuedCodeView(issued: { code: string; redirectUri: string }): {
  code: string;
  redirect_uri: string;
} {
  return { code: issued.code, redirect_uri: issued.redirectUri };
}

/** `GET /users/me` in the shape of Mercado Pago's users API (docs/api.md §4.4). */
export function usersMeView(user: UserRecord) {
  return {
    id: user.id,
    nickname: user.nickname,
    email: user.email,
    site_id: user.siteId,
    country_id: SITES[user.siteId] ?? null,
    registration_date: new Date(user.createdAt).toISOString(),
    status: { site_status: 'active' },
  };
}

/** `renova webhooks list --json`: snake_case and ISO dates, like the admin API's objects. */
export function webhookEventView(e: WebhookEventRecord) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: e.id,
    status: e.status,
    action: e.action,
    application_id: e.clientId,
    user_id: e.userId,
    url: e.url,
    attempts: e.attempts,
    created_at: iso(e.createdAt),
    next_attempt_at: e.status === 'pending' ? iso(e.nextAttemptAt) : null,
    last_attempt_at: iso(e.lastAttemptAt),
    last_status: e.lastStatus,
    last_error: e.lastError,
    delivered_at: iso(e.deliveredAt),
    live_mode: !e.test,
  };
}

const isoDate = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * One seller of an application (`GET /applications/{client_id}/grants`): Mercado Pago's
 * `date_created`, plus the coarse `last_used` (to the hour; null when never seen used).
 */
export function applicationGrantView(g: ApplicationGrantRecord) {
  return {
    user_id: g.userId,
    nickname: g.nickname,
    scope: g.scope,
    date_created: new Date(g.createdAt).toISOString(),
    last_updated: new Date(g.updatedAt).toISOString(),
    last_used: isoDate(g.lastUsedAt),
    test_user: g.isTestUser,
  };
}

/** Mercado Pago's search shape: `{paging:{total, limit, …}, results:[…]}`, keyset-paged. */
export function sellersPageView(page: SellersPage) {
  return {
    paging: {
      total: page.total,
      limit: page.limit,
      next_cursor: page.nextCursor,
      real_users: page.totals.real,
      test_users: page.totals.test,
    },
    results: page.items.map(applicationGrantView),
  };
}

/** A test user as listed (never its password, which was shown once at creation). */
export function testUserView(u: TestUserRecord) {
  return {
    id: u.id,
    nickname: u.nickname,
    email: u.email,
    site_id: u.siteId,
    description: u.description,
    date_created: new Date(u.createdAt).toISOString(),
  };
}
