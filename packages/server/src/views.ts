import { SITES } from './core/accounts.ts';
import type { CreatedApplication, SellersPage } from './core/applications.ts';
import type { AuditPage } from './core/audit.ts';
import type { InspectedToken } from './core/inventory.ts';
import type {
  ApplicationGrantRecord,
  ApplicationRecord,
  AuditEventRecord,
  GrantType,
  ListedGrant,
  TestUserRecord,
  UserRecord,
  WebhookEventRecord,
} from './storage/contract.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

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

/** One audit event (docs/api.md §4.5 "Audit trail"): identifiers and times only. */
export function auditEventView(e: AuditEventRecord) {
  return {
    id: e.id,
    at: new Date(e.at).toISOString(),
    type: e.type,
    actor: { type: e.actor, id: e.actorId },
    user_id: e.userId,
    client_id: e.clientId,
    family_id: e.familyId,
    request_id: e.requestId,
    remote_address: e.remoteAddress,
    detail: e.detail,
  };
}

/** `GET /admin/audit` and `renova audit --json`: a page, newest first, and the cursor of the next. */
export function auditPageView(page: AuditPage) {
  return { events: page.events.map(auditEventView), next_cursor: page.nextCursor };
}

/** `renova grant list --json`: a seller's authorization of an application, revoked ones too. */
export interface GrantView {
  id: number;
  client_id: string;
  user_id: number;
  scope: string;
  status: 'active' | 'revoked';
  created_at: string;
  updated_at: string;
  revoked_at: string | null;
  /** Coarse (to the hour): when the application last used a token of this grant; null: never seen. */
  last_used_at: string | null;
}

export function grantView(grant: ListedGrant): GrantView {
  return {
    id: grant.id,
    client_id: grant.clientId,
    user_id: grant.userId,
    scope: grant.scope,
    status: grant.revokedAt === null ? 'active' : 'revoked',
    created_at: iso(grant.createdAt) as string,
    updated_at: iso(grant.updatedAt) as string,
    revoked_at: iso(grant.revokedAt),
    last_used_at: iso(grant.lastUsedAt),
  };
}

/**
 * `renova token inspect --json`: what Renova stores about a token, found by its selector. No
 * secret, no hash: only what an operator needs to tell why a token is or is not accepted.
 */
export interface InspectedTokenView {
  kind: 'access_token' | 'refresh_token';
  /** The row id the token carries in clear (its selector). */
  selector: number;
  /** `user`: issued to act for a seller; `client_credentials`: the application's own token. */
  issued_for: 'user' | 'client_credentials';
  client_id: string;
  user_id: number;
  scope: string;
  live_mode: boolean;
  issued_at: string;
  expires_at: string;
  expired: boolean;
  /** The token itself, its family or (for refresh tokens) its grant was revoked. */
  revoked: boolean;
  /** Refresh tokens: when it was exchanged for its successor (single use); null while unused. */
  rotated_at: string | null;
  /** The refresh token family (one per authorization code); null for client_credentials tokens. */
  family_id: number | null;
  /** Accepted by the token, introspection and resource endpoints right now. */
  active: boolean;
  grant: { status: 'active' | 'revoked' | 'absent'; revoked_at: string | null } | null;
}

export function inspectedTokenView(found: InspectedToken): InspectedTokenView {
  const { record, grant } = found;
  const rotatedAt = found.kind === 'refresh_token' ? found.record.rotatedAt : null;
  const issuedFor = found.kind === 'access_token' ? found.record.kind : 'user';
  const familyId = found.kind === 'access_token' ? found.record.familyId : found.record.familyId;
  return {
    kind: found.kind,
    selector: record.id,
    issued_for: issuedFor,
    client_id: record.clientId,
    user_id: record.userId,
    scope: record.scope,
    live_mode: record.liveMode,
    issued_at: iso(record.issuedAt) as string,
    expires_at: iso(record.expiresAt) as string,
    expired: found.expired,
    revoked: record.revoked,
    rotated_at: iso(rotatedAt),
    family_id: familyId,
    active: !found.expired && !record.revoked && rotatedAt === null,
    grant:
      issuedFor === 'client_credentials'
        ? null
        : grant === null
          ? { status: 'absent', revoked_at: null }
          : { status: grant.revokedAt === null ? 'active' : 'revoked', revoked_at: iso(grant.revokedAt) },
  };
}
