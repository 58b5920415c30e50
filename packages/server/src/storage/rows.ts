import type {
  AccessTokenRecord,
  ApplicationGrantRecord,
  ApplicationRecord,
  AuthorizationCodeRecord,
  ClientSecretRecord,
  GrantRecord,
  GrantType,
  RefreshTokenRecord,
  SellerGrantRecord,
  TestUserRecord,
  UserRecord,
  WebhookAction,
  WebhookEventRecord,
  WebhookStatus,
} from './contract.ts';

/**
 * Row mappers shared by the SQLite and PostgreSQL adapters, whose tables have the same columns.
 * Both drivers return snake_case columns and times as epoch-ms numbers (`pg` parses BIGINT, see
 * postgres/client.ts); the one difference is booleans: SQLite stores 1/0, PostgreSQL true/false.
 * Each adapter casts a driver result to one of these row types once, where it reads it.
 */

/** SQLite's 1/0 and PostgreSQL's true/false as a boolean. */
export const bool = (value: boolean | number): boolean => value === true || value === 1;

/** A boolean as either engine's driver accepts it. */
export type DbBool = boolean | number;

export interface UserRow {
  id: number;
  email: string;
  nickname: string;
  site_id: string;
  password_hash: string | null;
  created_at: number;
  test_of_client_id: string | null;
}

export interface ApplicationRow {
  client_id: string;
  name: string;
  description: string | null;
  logo_url: string | null;
  owner_user_id: number;
  /** JSON array of strings. */
  redirect_uris: string;
  scope: string;
  pkce_required: DbBool;
  notification_url: string | null;
  /** Space-separated grant types. */
  grant_types: string | null;
  owner_public_key: string;
  created_at: number;
  webhook_secret_sealed: Buffer;
}

export interface ClientSecretRow {
  id: number;
  client_id?: string;
  secret_hash: Buffer;
  created_at: number;
  expires_at: number | null;
}

export interface AuthorizationCodeRow {
  id: number;
  code_hash: Buffer;
  client_id: string;
  user_id: number;
  redirect_uri: string;
  scope: string;
  code_challenge: string | null;
  code_challenge_method: 'S256' | 'plain' | null;
  expires_at: number;
}

/** refresh_tokens joined with its family (scope, live_mode, revoked_at) and grant. */
export interface RefreshTokenRow {
  id: number;
  token_hash: Buffer;
  family_id: number;
  client_id: string;
  user_id: number;
  scope: string;
  live_mode: DbBool;
  public_key: string;
  issued_at: number;
  expires_at: number;
  rotated_at: number | null;
  revoked_at: number | null;
  family_revoked_at: number | null;
}

/** access_tokens left-joined with its family's revoked_at (client_credentials tokens have none). */
export interface AccessTokenRow {
  id: number;
  token_hash: Buffer;
  family_id: number | null;
  client_id: string;
  user_id: number;
  scope: string;
  live_mode: DbBool;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  family_revoked_at: number | null;
  issuing_secret_id: number | null;
}

export interface GrantRow {
  id: number;
  client_id: string;
  user_id: number;
  scope: string;
  created_at: number;
  updated_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

/** grants joined with the application's name. */
export interface SellerGrantRow {
  client_id: string;
  name: string;
  scope: string;
  created_at: number;
  updated_at: number;
  last_used_at: number | null;
}

/** grants joined with the seller's nickname and test marker (listGrantsOfApplication). */
export interface ApplicationGrantRow {
  id: number;
  user_id: number;
  nickname: string;
  test_of_client_id: string | null;
  scope: string;
  created_at: number;
  updated_at: number;
  last_used_at: number | null;
}

export interface TestUserRow {
  id: number;
  email: string;
  nickname: string;
  site_id: string;
  test_description: string | null;
  created_at: number;
}

export const toApplicationGrant = (r: ApplicationGrantRow): ApplicationGrantRecord => ({
  userId: r.user_id,
  nickname: r.nickname,
  isTestUser: r.test_of_client_id != null,
  scope: r.scope,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  lastUsedAt: r.last_used_at ?? null,
});

export const toTestUser = (r: TestUserRow): TestUserRecord => ({
  id: r.id,
  email: r.email,
  nickname: r.nickname,
  siteId: r.site_id,
  description: r.test_description ?? '',
  createdAt: r.created_at,
});

/**
 * A LIKE pattern matching values that start with `prefix` literally: `\`, `%` and `_` are escaped
 * (both engines' statements say `ESCAPE '\'`), so a search for "50%_off" finds only that text.
 * Lower-cased, like the column it is compared with (`lower(nickname)`).
 */
export const likePrefix = (prefix: string): string => `${prefix.toLowerCase().replace(/[\\%_]/g, '\\$&')}%`;

/** The user id a search term names, when it is one (all digits, a safe integer); else null. */
export const searchedUserId = (search: string): number | null =>
  /^[1-9][0-9]{0,15}$/.test(search) && Number.isSafeInteger(Number(search)) ? Number(search) : null;

export interface WebhookEventRow {
  id: number;
  client_id: string;
  user_id: number;
  action: WebhookAction;
  url: string;
  created_at: number;
  status: WebhookStatus;
  attempts: number;
  next_attempt_at: number;
  lease_until: number | null;
  last_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: number | null;
  test: DbBool | null;
}

export interface SellerSessionRow {
  user_id: number;
  expires_at: number;
}

export const toWebhookEvent = (r: WebhookEventRow): WebhookEventRecord => ({
  id: r.id,
  clientId: r.client_id,
  userId: r.user_id,
  action: r.action,
  url: r.url,
  createdAt: r.created_at,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  leaseUntil: r.lease_until ?? null,
  lastAttemptAt: r.last_attempt_at ?? null,
  lastStatus: r.last_status ?? null,
  lastError: r.last_error ?? null,
  deliveredAt: r.delivered_at ?? null,
  test: bool(r.test ?? false),
});

export const toUser = (r: UserRow): UserRecord => ({
  id: r.id,
  email: r.email,
  nickname: r.nickname,
  siteId: r.site_id,
  passwordHash: r.password_hash ?? null,
  createdAt: r.created_at,
  testOfClientId: r.test_of_client_id ?? null,
});

export const toClientSecret = (s: ClientSecretRow): ClientSecretRecord => ({
  id: s.id,
  hash: s.secret_hash,
  createdAt: s.created_at,
  expiresAt: s.expires_at ?? null,
});

/** An application row and its secrets (oldest first). */
export const toApplication = (row: ApplicationRow, secrets: ClientSecretRecord[]): ApplicationRecord => ({
  clientId: row.client_id,
  name: row.name,
  description: row.description ?? '',
  logoUrl: row.logo_url ?? null,
  ownerUserId: row.owner_user_id,
  redirectUris: JSON.parse(row.redirect_uris) as string[],
  scope: row.scope,
  pkceRequired: bool(row.pkce_required),
  notificationUrl: row.notification_url ?? null,
  grantTypes: toGrantTypes(row.grant_types),
  ownerPublicKey: row.owner_public_key,
  createdAt: row.created_at,
  secrets,
  webhookSecretSealed: row.webhook_secret_sealed,
});

export const toAuthorizationCode = (row: AuthorizationCodeRow): AuthorizationCodeRecord => ({
  id: row.id,
  hash: row.code_hash,
  clientId: row.client_id,
  userId: row.user_id,
  redirectUri: row.redirect_uri,
  scope: row.scope,
  codeChallenge: row.code_challenge ?? null,
  codeChallengeMethod: row.code_challenge_method ?? null,
  expiresAt: row.expires_at,
});

export const toRefreshToken = (row: RefreshTokenRow): RefreshTokenRecord => ({
  id: row.id,
  hash: row.token_hash,
  familyId: row.family_id,
  clientId: row.client_id,
  userId: row.user_id,
  scope: row.scope,
  liveMode: bool(row.live_mode),
  publicKey: row.public_key,
  issuedAt: row.issued_at,
  expiresAt: row.expires_at,
  rotatedAt: row.rotated_at ?? null,
  revoked: row.revoked_at != null || row.family_revoked_at != null,
});

export const toAccessToken = (row: AccessTokenRow): AccessTokenRecord => ({
  id: row.id,
  hash: row.token_hash,
  clientId: row.client_id,
  userId: row.user_id,
  scope: row.scope,
  liveMode: bool(row.live_mode),
  kind: row.family_id == null ? 'client_credentials' : 'user',
  issuedAt: row.issued_at,
  expiresAt: row.expires_at,
  revoked: row.revoked_at != null || row.family_revoked_at != null,
  issuingSecretId: row.issuing_secret_id ?? null,
});

export const toGrant = (row: GrantRow): GrantRecord => ({
  clientId: row.client_id,
  userId: row.user_id,
  scope: row.scope,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  revokedAt: row.revoked_at ?? null,
  lastUsedAt: row.last_used_at ?? null,
});

export const toSellerGrant = (r: SellerGrantRow): SellerGrantRecord => ({
  clientId: r.client_id,
  applicationName: r.name,
  scope: r.scope,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  lastUsedAt: r.last_used_at ?? null,
});

export const toSellerSession = (r: SellerSessionRow): { userId: number; expiresAt: number } => ({
  userId: r.user_id,
  expiresAt: r.expires_at,
});

/** Every grant type, in the order the column stores and responses list them. */
export const ALL_GRANT_TYPES: readonly GrantType[] = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
];

/** `grant_types` column (space-separated) → the list, in canonical order. */
const toGrantTypes = (column: string | null): GrantType[] => {
  const stored = new Set(String(column ?? '').split(' '));
  return ALL_GRANT_TYPES.filter((g) => stored.has(g));
};
