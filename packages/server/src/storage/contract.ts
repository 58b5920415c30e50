/**
 * The storage port. `core/` owns this interface and names its methods for protocol intent; each
 * adapter (SQLite, PostgreSQL) makes every method atomic on its own. Compound single-use steps
 * (`exchangeAuthorizationCode`, `rotateRefreshToken`, `revokeFamily`, `revokeGrant`) are ONE method,
 * so no caller ever holds a transaction across an `await`, and no caller can split
 * find → check → consume into a race (hydra#1719, Keycloak CVE-2026-1035).
 *
 * Times are milliseconds since the epoch. Hashes are SHA-256 digests of a token's secret half.
 * A method that resolves has committed durably; a method that rejects has written nothing.
 */

/**
 * The storage is away, overloaded, read-only or contended (after the adapter's own retries), and
 * the call wrote nothing: the request may simply be retried after `retryAfterSeconds`. Adapters
 * throw this and nothing else for an outage; any other rejection is a bug. The port owns the type
 * so that no adapter depends on core: core maps it to its `TemporarilyUnavailableError` (503
 * `temporarily_unavailable`, docs/api.md §4.3) in one place, `fromStorageError` in core/errors.ts.
 */
export class StorageUnavailableError extends Error {
  /**
   * The docs/api.md §4.3 code a request hit by this outage is answered with, so that code holding the
   * adapter's own rejection (the CLI, embedders, tests) reads the same `error` as before.
   */
  readonly error = 'temporarily_unavailable';
  readonly retryAfterSeconds: number;
  /** What failed, for the operator's log (never sent to clients). */
  readonly detail: string | undefined;
  constructor(
    message: string,
    options: { retryAfterSeconds?: number; detail?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StorageUnavailableError';
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
    this.detail = options.detail;
  }
}

/**
 * Classes of storage outage (503 temporarily_unavailable), told apart by the driver's code
 * (storage/availability.ts `outageKind`); the metrics count outages by them.
 */
export type StorageOutageKind =
  | 'unreachable'
  | 'read_only'
  | 'disk_full'
  | 'contention'
  | 'too_many_connections'
  | 'shutting_down'
  | 'writer_stopped'
  | 'io_error'
  | 'other';

export interface UserRecord {
  id: number;
  email: string;
  nickname: string;
  siteId: string;
  passwordHash: string | null;
  createdAt: number;
  /**
   * A test user (Mercado Pago's `POST /users/test_user`): the application that created it; null for
   * a real seller. Counts and lists of sellers tell the two apart by this (migration 5).
   */
  testOfClientId: string | null;
}

export interface NewUser {
  email: string;
  nickname: string;
  siteId: string;
  passwordHash: string | null;
  createdAt: number;
}

export interface ClientSecretRecord {
  /** Recorded on the client_credentials tokens it issues (AccessTokenRecord.issuingSecretId). */
  id: number;
  hash: Buffer;
  createdAt: number;
  /** null: current secret; otherwise the end of its overlap after a rotation (core checks it against its clock). */
  expiresAt: number | null;
}

export interface ApplicationRecord {
  clientId: string;
  name: string;
  /** Shown to sellers and in the developer portal; '' when none was given (migration 5). */
  description: string;
  /** An https URL of the application's logo, or null. */
  logoUrl: string | null;
  ownerUserId: number;
  redirectUris: string[];
  scope: string;
  pkceRequired: boolean;
  notificationUrl: string | null;
  /** The grant types the application may use at the token endpoint (RFC 7591 §2 `grant_types`). */
  grantTypes: GrantType[];
  /** The owner's public key uuid, used for client_credentials responses. */
  ownerPublicKey: string;
  createdAt: number;
  secrets: ClientSecretRecord[];
  /** The webhook secret, sealed under the server key (purpose `webhook-secret:<client_id>`). */
  webhookSecretSealed: Buffer;
}

/** The grant types of the token endpoint (docs/api.md §4.2). */
export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials';

export interface NewApplication {
  clientId: string;
  name: string;
  /** Omitted: ''. */
  description?: string;
  /** Omitted: null. */
  logoUrl?: string | null;
  ownerUserId: number;
  redirectUris: string[];
  scope: string;
  pkceRequired: boolean;
  notificationUrl: string | null;
  /** Omitted: all three (Mercado Pago's behaviour). Core validates the list. */
  grantTypes?: GrantType[];
  /** The webhook secret, sealed under the server key (never plaintext). */
  webhookSecretSealed: Buffer;
  ownerPublicKey: string;
  secretHash: Buffer;
  createdAt: number;
}

export interface NewAuthorizationCode {
  hash: Buffer;
  clientId: string;
  userId: number;
  redirectUri: string;
  scope: string;
  codeChallenge: string | null;
  codeChallengeMethod: 'S256' | 'plain' | null;
  createdAt: number;
  expiresAt: number;
  /** Used only if the (application, seller) grant does not exist yet. */
  publicKey: string;
}

export interface AuthorizationCodeRecord {
  id: number;
  hash: Buffer;
  clientId: string;
  userId: number;
  redirectUri: string;
  scope: string;
  codeChallenge: string | null;
  codeChallengeMethod: 'S256' | 'plain' | null;
  expiresAt: number;
}

export interface NewAccessToken {
  hash: Buffer;
  scope: string;
  issuedAt: number;
  expiresAt: number;
}

export interface NewRefreshToken {
  hash: Buffer;
  issuedAt: number;
  expiresAt: number;
}

/** The code exchange's step (StoragePort.exchangeAuthorizationCode): which code, when, the first pair. */
export interface ExchangeAuthorizationCode {
  codeId: number;
  now: number;
  liveMode: boolean;
  access: NewAccessToken;
  refresh: NewRefreshToken;
  audit?: AuditContext;
}

export type ExchangeOutcome =
  | { outcome: 'issued'; familyId: number; accessTokenId: number; refreshTokenId: number; publicKey: string }
  /** The code was already used: every token issued from it has now been revoked (RFC 6749 §4.1.2). */
  | { outcome: 'code_reused' }
  /**
   * The seller revoked the application between consent and exchange (the code was issued before
   * the revocation, even if the seller has consented again since).
   */
  | { outcome: 'grant_revoked' };

export interface RefreshTokenRecord {
  id: number;
  hash: Buffer;
  familyId: number;
  clientId: string;
  userId: number;
  /** The grant's scope; new refresh tokens keep it (RFC 6749 §6). */
  scope: string;
  liveMode: boolean;
  publicKey: string;
  issuedAt: number;
  expiresAt: number;
  rotatedAt: number | null;
  revoked: boolean;
}

export interface IssuedPair {
  accessTokenId: number;
  refreshTokenId: number;
  access: { scope: string; issuedAt: number; expiresAt: number };
}

/** What a rotation or a replay also returns so that core can answer without reading the token. */
export interface RotatedGrant {
  userId: number;
  liveMode: boolean;
  /** The grant's public key uuid. */
  publicKey: string;
}

export type RotateOutcome =
  | ({ outcome: 'rotated' } & IssuedPair & RotatedGrant)
  /** Presented again inside the replay window: the first answer, still sealed. */
  | ({ outcome: 'replayed'; replaySeal: Buffer } & IssuedPair & RotatedGrant)
  /** Presented after its rotation, outside the window: the whole family is now revoked. */
  | { outcome: 'reused'; familyId: number }
  /** The token or its family is revoked (or the token was purged while this call waited). */
  | { outcome: 'revoked' }
  /**
   * A precondition on the presented token failed; NOTHING was written. `unknown`: no such token,
   * or `presentedHash` is not its hash; `other_client`: issued to another application; `expired`.
   */
  | { outcome: 'invalid'; reason: 'unknown' | 'other_client' | 'expired' }
  /** The grant's scope lacks offline_access; nothing was written. */
  | { outcome: 'not_refreshable' }
  /** `requestedScope` is not a subset of the grant's scope; nothing was written. */
  | { outcome: 'scope_not_granted'; grantScope: string };

/** The new access token of a rotation; its scope is `requestedScope ?? grant scope`. */
export interface NewRotatedAccessToken {
  hash: Buffer;
  issuedAt: number;
  expiresAt: number;
}

/**
 * One refresh in one atomic step. The preconditions are checked inside that step, before any
 * state change and in this order: the token exists and `presentedHash` is its hash, it was issued
 * to `clientId`, it and its family are not revoked, it has not expired, the grant's scope has
 * offline_access, and `requestedScope` is a subset of the grant's scope. Only then does the step
 * rotate, replay or detect reuse, so knowing a token's id never lets anyone change its state.
 */
export interface RotateRefreshToken {
  refreshTokenId: number;
  /** SHA-256 of the presented secret half. */
  presentedHash: Buffer;
  /** The authenticated client. */
  clientId: string;
  /**
   * The scope asked for the new access token, already parsed and put in canonical form by core
   * (known scopes, space-separated); null keeps the grant's scope. The storage only checks set
   * inclusion in the grant's scope.
   */
  requestedScope: string | null;
  now: number;
  /** Replay window in ms; 0 disables replay. */
  graceMs: number;
  access: NewRotatedAccessToken;
  refresh: NewRefreshToken;
  /** Sealed secrets of the new pair, stored for replays (see core/tokens.ts sealReplay). */
  replaySeal: Buffer;
  /** Who asked: recorded with the rotation, replay or reuse in the same step. */
  audit?: AuditContext;
}

export interface AccessTokenRecord {
  id: number;
  hash: Buffer;
  clientId: string;
  userId: number;
  scope: string;
  liveMode: boolean;
  kind: 'user' | 'client_credentials';
  issuedAt: number;
  expiresAt: number;
  revoked: boolean;
  /**
   * client_credentials tokens: the client secret that authenticated their issue; null for user
   * tokens and for tokens issued before migration 4.
   */
  issuingSecretId: number | null;
  /** The refresh token family a user token was issued in; null for client_credentials tokens. */
  familyId: number | null;
}

export interface NewClientCredentialsToken extends NewAccessToken {
  clientId: string;
  userId: number;
  liveMode: boolean;
  /** The client secret (ClientSecretRecord.id) that authenticated the request; omitted: null. */
  issuingSecretId?: number | null;
}

export interface GrantRecord {
  clientId: string;
  userId: number;
  scope: string;
  createdAt: number;
  updatedAt: number;
  revokedAt: number | null;
  /** Coarse (at most one write per hour per grant, see touchGrantsLastUsed); null: never seen used. */
  lastUsedAt: number | null;
}

/**
 * What `updateApplication` may change: any subset; an omitted field keeps its value. Core has
 * validated every value (core/applications.ts); the storage writes them as given.
 */
export interface ApplicationPatch {
  name?: string;
  description?: string;
  logoUrl?: string | null;
  redirectUris?: string[];
  scope?: string;
  pkceRequired?: boolean;
  grantTypes?: GrantType[];
  notificationUrl?: string | null;
}

/**
 * One page of an application's sellers (`listGrantsOfApplication`): active grants only, newest
 * grant first (by its row id, which never changes, so keyset pagination is stable under inserts).
 */
export interface ListGrantsOfApplication {
  clientId: string;
  /** 1 or more; core bounds it. */
  limit: number;
  /** The `nextCursor` of the previous page (a grant row id); omitted: the first page. */
  cursor?: number | undefined;
  /**
   * Exact user id (when it is all digits) or a case-insensitive prefix of the nickname; `%`, `_` and
   * `\` are matched literally. Omitted: every seller.
   */
  search?: string | undefined;
  /** true: test users only; false: real sellers only; omitted: both. */
  testUsers?: boolean | undefined;
}

/** An application's seller as its owner sees it. */
export interface ApplicationGrantRecord {
  userId: number;
  nickname: string;
  isTestUser: boolean;
  scope: string;
  createdAt: number;
  updatedAt: number;
  lastUsedAt: number | null;
}

export interface ApplicationGrantsPage {
  items: ApplicationGrantRecord[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: number | null;
  /**
   * Active grants matching `search` (the `testUsers` filter aside), split into real sellers and
   * test users, so that counts never mix the two.
   */
  totals: { real: number; test: number };
}

/** A test user to create (`createTestUser`); the password is already hashed. */
export interface NewTestUser {
  clientId: string;
  user: Omit<NewUser, 'passwordHash'> & { passwordHash: string };
  description: string;
  /** The per-application cap (RENOVA_TEST_USERS_PER_APPLICATION), enforced in the same step. */
  limit: number;
}

export type CreateTestUserOutcome =
  | { outcome: 'created'; user: UserRecord }
  /** The application already has `limit` test users; nothing was written. */
  | { outcome: 'limit_reached'; count: number }
  /** The generated email is taken (a collision of random names); nothing was written. */
  | { outcome: 'email_taken' }
  /** No such application, or it is deleted; nothing was written. */
  | { outcome: 'unknown_application' };

export interface TestUserRecord {
  id: number;
  email: string;
  nickname: string;
  siteId: string;
  description: string;
  createdAt: number;
}

/** One grant seen in use at `at` (a token exchange, a refresh, a bearer call). */
export interface GrantUse {
  clientId: string;
  userId: number;
  at: number;
}

export interface ListWebhookEvents {
  /** Only this application's events; omitted: every application's (operators). */
  clientId?: string | undefined;
  status?: WebhookStatus | undefined;
  limit: number;
  /** Only events with an id below this one (keyset pagination, newest first). */
  before?: number | undefined;
}

/** A grant as operators list it (`renova grant list`): its row id is the pagination cursor. */
export interface ListedGrant extends GrantRecord {
  id: number;
}

/**
 * Keyset pagination for operators' listings: rows after the cursor, in ascending key order, at
 * most `limit` of them. Keyset (not OFFSET) so that a page costs the same at row 1 M as at row 1.
 */
export interface Page<Cursor> {
  after?: Cursor | undefined;
  limit: number;
}

/** Housekeeping (docs/api.md §3 lifetimes): what may be deleted, in bounded batches. */
export interface PurgeExpired {
  now: number;
  /**
   * Codes are kept this long past their expiry, so that a late second presentation is still
   * answered as an expired code and not as an unknown one (and clock skew between instances is
   * absorbed).
   */
  codeGraceMs: number;
  /**
   * Delivered and dead webhook events older than this are deleted; omitted, they are all kept.
   * Pending ones are never purged: the outbox promises delivery.
   */
  webhookRetentionMs?: number;
  /**
   * Token families with no refresh token, access token or code row left are deleted once created
   * before `now - familyRetentionMs`; omitted, families are kept. Safe for reuse detection: a
   * family is only needed while a token or a code of it can still be presented, and those rows are
   * kept until they would have expired anyway (see purgeExpired); a revoked family with no rows
   * left has nothing left to refuse.
   */
  familyRetentionMs?: number;
  /**
   * Grants revoked before `now - revokedGrantRetentionMs` with no family and no code left are
   * deleted; omitted, revoked grants are kept. Active grants are never deleted (the seller's
   * standing consent). A deleted grant refuses as much as a revoked one: every token needs its
   * grant, and a new consent creates a new grant (with a new public key).
   */
  revokedGrantRetentionMs?: number;
  /** Seller sessions expired before `now - sessionRetentionMs` are deleted; omitted, kept. */
  sessionRetentionMs?: number;
  /** At most this many rows per table per call: each DELETE stays short. */
  limit: number;
}

export interface PurgeResult {
  codes: number;
  accessTokens: number;
  refreshTokens: number;
  webhookEvents: number;
  /** Present when `familyRetentionMs` was given. */
  families?: number;
  /** Present when `revokedGrantRetentionMs` was given. */
  grants?: number;
  /** Present when `sessionRetentionMs` was given. */
  sessions?: number;
  /** Some table had `limit` rows to delete: call again (after yielding). */
  more: boolean;
}

/** A grant as the seller's account page lists it: active, with the application's name. */
export interface SellerGrantRecord {
  clientId: string;
  applicationName: string;
  scope: string;
  /** When the seller (last) authorized the application from a revoked or absent state. */
  createdAt: number;
  /** When the seller last consented (a re-consent or a scope change). */
  updatedAt: number;
  /** When the application last used the grant (coarse: to the hour); null: not seen used. */
  lastUsedAt: number | null;
}

export type WebhookAction = 'application.authorized' | 'application.deauthorized';

/**
 * An mp-connect notification to deliver (docs/api.md §4.6), written to the outbox in the same
 * transaction as the change it reports. The body is built at delivery time from these fields; its
 * `id` is the row id the storage assigns.
 */
export interface NewWebhookEvent {
  clientId: string;
  userId: number;
  action: WebhookAction;
  /** The full target: `{notification_url}?data.id={user_id}&type=mp-connect`. */
  url: string;
  createdAt: number;
  /**
   * A "send test event" of the developer portal: delivered like any other, with `live_mode: false`
   * in its body so receivers can tell it from a real change. Omitted: false.
   */
  test?: boolean;
}

/** `pending` until a 2xx; `dead` after the last allowed attempt failed (retryable by an operator). */
export type WebhookStatus = 'pending' | 'delivered' | 'dead';

export interface WebhookEventRecord extends NewWebhookEvent {
  id: number;
  test: boolean;
  status: WebhookStatus;
  /** Attempts made so far (recorded ones; a claimed, in-flight attempt is not counted yet). */
  attempts: number;
  nextAttemptAt: number;
  /** While in the future, one dispatcher holds the event; expired leases are claimable again. */
  leaseUntil: number | null;
  lastAttemptAt: number | null;
  /** HTTP status of the last attempt, or null if it got no response (timeout, refused). */
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
}

/** `webhookQueueStats()`: the outbox as the metrics see it. */
export interface WebhookQueueStats {
  pending: number;
  oldestPendingCreatedAt: number | null;
  dead: number;
}

/**
 * The SQLite writer's group commit as the metrics see it (sqlite/group-commit.ts): cumulative
 * batches, writes and wait, the largest batch and longest wait since the previous reading (reset
 * by reading), and the steps queued now.
 */
export interface WriterStats {
  batches: number;
  writes: number;
  waitSeconds: number;
  maxBatch: number;
  maxWaitSeconds: number;
  queueDepth: number;
}

/** The result of one delivery attempt, recorded by `recordWebhookAttempt`. */
export interface WebhookAttempt {
  id: number;
  at: number;
  httpStatus: number | null;
  error: string | null;
  /**
   * `delivered`: a 2xx; `retry`: try again at `nextAttemptAt`; `dead`: the last allowed attempt
   * failed, stop trying.
   */
  outcome: 'delivered' | 'retry' | 'dead';
  nextAttemptAt?: number;
}

export interface NewSellerSession {
  /** SHA-256 of the session cookie's value; the value itself is never stored. */
  hash: Buffer;
  userId: number;
  createdAt: number;
  expiresAt: number;
}

/**
 * Who caused an audited change. `seller`: a signed-in seller (actorId: their user id);
 * `application`: an authenticated OAuth client (actorId: its client id); `operator`: the admin API
 * or the CLI (actorId: `admin-api` or `cli`); `system`: Renova itself (housekeeping, rehashes).
 */
export type AuditActor = 'seller' | 'application' | 'operator' | 'system';

/** Every audit event type (docs/api.md §4.5 "Audit trail"). */
export const AUDIT_EVENT_TYPES = [
  'consent.granted',
  'consent.denied',
  'code.exchanged',
  'code.reused',
  'code.grant_revoked',
  'refresh.rotated',
  'refresh.replayed',
  'refresh.reused',
  'client_credentials.issued',
  'token.revoked',
  'family.revoked',
  'grant.revoked',
  'client_secret.rotated',
  'webhook_secret.rotated',
  'application.created',
  'application.changed',
  'application.deleted',
  'user.created',
  'webhook.retried',
  'seller.signed_in',
  'seller.sign_in_failed',
  'seller.signed_out',
  'seller.password_rehashed',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/**
 * Who asked for a step, passed by the HTTP layer (or the CLI) through core into the storage step,
 * which writes the audit event of its change in the SAME atomic step. Omitted: `system`, with no
 * request id and no address (a step never goes unrecorded for want of a context).
 */
export interface AuditContext {
  actor: AuditActor;
  actorId: string | null;
  requestId: string | null;
  remoteAddress: string | null;
  /**
   * When the change was asked for, by core's clock; used by the steps that take no `now` of their
   * own (the others record their `now`). Omitted: the storage's clock.
   */
  at?: number;
}

/**
 * One audit event. Identifiers only: NEVER a token, code, secret, password or email (a seller who
 * types the password into the email field would otherwise leave it here). `detail` is a short,
 * fixed vocabulary set by Renova's code (e.g. which settings changed, why a sign-in failed), never
 * request input.
 */
export interface NewAuditEvent {
  at: number;
  type: AuditEventType;
  actor: AuditActor;
  actorId: string | null;
  userId: number | null;
  clientId: string | null;
  familyId: number | null;
  requestId: string | null;
  remoteAddress: string | null;
  detail: string | null;
}

export interface AuditEventRecord extends NewAuditEvent {
  /** Increasing in insertion order: the keyset of the newest-first listing. */
  id: number;
}

/** What an event is about; unknown parts are null. */
export interface AuditSubject {
  userId?: number | null;
  clientId?: string | null;
  familyId?: number | null;
}

/** A page of the audit trail, newest first; every given filter must match. */
export interface AuditQuery {
  userId?: number;
  clientId?: string;
  type?: AuditEventType;
  /** Events at or after this time. */
  since?: number;
  /** Keyset cursor: only events with an id below this one (the last id of the previous page). */
  beforeId?: number;
  limit: number;
}

export interface StoragePort {
  /** Applies pending migrations; safe to call on every start. */
  migrate(): Promise<void>;
  /** Resolves when the storage answers a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;

  /** Inserts the user unless the email (case-insensitively) is taken: then null, nothing written. */
  createUser(user: NewUser, audit?: AuditContext): Promise<UserRecord | null>;
  findUserById(id: number): Promise<UserRecord | null>;
  findUserByEmail(email: string): Promise<UserRecord | null>;
  /** For operators: users by ascending id, after `page.after` (an id). */
  listUsers(page: Page<number>): Promise<UserRecord[]>;
  /**
   * Replaces the user's password hash if and only if it is still `previousHash` (a rehash with
   * stronger parameters after a sign-in must not undo a password change made meanwhile). Resolves
   * true when the row changed.
   */
  updatePasswordHash(
    userId: number,
    previousHash: string,
    newHash: string,
    audit?: AuditContext,
  ): Promise<boolean>;

  createApplication(app: NewApplication, audit?: AuditContext): Promise<void>;
  findApplication(clientId: string): Promise<ApplicationRecord | null>;
  listApplicationsByOwner(ownerUserId: number): Promise<ApplicationRecord[]>;
  /** For operators: every application by ascending client id, after `page.after` (a client id). */
  listApplications(page: Page<string>): Promise<ApplicationRecord[]>;
  /**
   * Optional (PostgreSQL: LISTEN/NOTIFY): calls `onChange(clientId)` when any instance changed that
   * application's client secrets, and `onChange(null)` when changes may have been missed (the watch
   * was interrupted), so that caches of secrets can be dropped at once on every instance.
   */
  watchClientSecrets?(onChange: (clientId: string | null) => void): void;
  /** Rotation: current secrets get `overlapUntil` as their end, then `hash` becomes current. */
  rotateClientSecret(
    clientId: string,
    hash: Buffer,
    overlapUntil: number,
    now: number,
    audit?: AuditContext,
  ): Promise<boolean>;
  /** Replaces the application's allowed grant types; false when there is no such application. */
  updateApplicationGrantTypes(
    clientId: string,
    grantTypes: GrantType[],
    audit?: AuditContext,
  ): Promise<boolean>;
  /**
   * Changes any subset of the application's settings in one write and returns the updated record;
   * null when there is no such application (or it is deleted).
   */
  updateApplication(
    clientId: string,
    patch: ApplicationPatch,
    audit?: AuditContext,
  ): Promise<ApplicationRecord | null>;
  /**
   * Deletes the application in ONE step: marks it deleted (its row stays, so its client_id is
   * never issued again, and every find treats it as unknown), revokes every grant, token family,
   * client_credentials token and unused code of it, ends every client secret at `now`, and marks
   * its pending webhook events `dead` (no notification is sent for a deleted application). False
   * when there was no such application (or it was deleted already).
   */
  deleteApplication(clientId: string, now: number, audit?: AuditContext): Promise<boolean>;
  /** Replaces the application's sealed webhook secret; false when there is no such application. */
  replaceWebhookSecret(clientId: string, sealed: Buffer, audit?: AuditContext): Promise<boolean>;

  /**
   * Records (or widens) the seller's consent and issues a code for it, atomically.
   *
   * `grantCreated` is true when this call created the (application, seller) grant or re-activated
   * a revoked one; false for a re-consent of an active grant. When `onNewGrant` is given, that event
   * is appended to the webhook outbox in the SAME transaction, if and only if `grantCreated`
   * (a re-consent sends no new `application.authorized`).
   */
  recordConsent(
    code: NewAuthorizationCode,
    onNewGrant?: NewWebhookEvent,
    audit?: AuditContext,
  ): Promise<{ codeId: number; grantCreated: boolean }>;
  findAuthorizationCode(id: number): Promise<AuthorizationCodeRecord | null>;
  /**
   * Marks the code used if and only if it is unused (one conditional write), then opens a token
   * family and issues its first pair. A code already used revokes that family instead.
   */
  exchangeAuthorizationCode(args: ExchangeAuthorizationCode): Promise<ExchangeOutcome>;

  /** For introspection and revocation; the refresh grant itself needs only `rotateRefreshToken`. */
  findRefreshToken(id: number): Promise<RefreshTokenRecord | null>;
  /**
   * Checks the presented token's preconditions, then rotates, replays or detects reuse, under any
   * concurrency exactly one rotation per token. A failed precondition writes nothing.
   */
  rotateRefreshToken(args: RotateRefreshToken): Promise<RotateOutcome>;

  issueClientCredentialsToken(
    token: NewClientCredentialsToken,
    audit?: AuditContext,
  ): Promise<{ accessTokenId: number }>;
  findAccessToken(id: number): Promise<AccessTokenRecord | null>;

  revokeAccessToken(id: number, now: number, audit?: AuditContext): Promise<void>;
  /** Revokes a refresh token family: every refresh and access token descending from one code. */
  revokeFamily(familyId: number, now: number, audit?: AuditContext): Promise<void>;
  /**
   * Revokes the seller's authorization of the application, every token of it and its unused
   * authorization codes (marked used with no family: a later exchange is answered `grant_revoked`,
   * also after a re-consent re-activates the grant). Resolves false
   * when there was no active grant. When `event` is given, it is appended to the webhook outbox in
   * the SAME transaction, if and only if an active grant was revoked (the call resolves true).
   */
  revokeGrant(
    clientId: string,
    userId: number,
    now: number,
    event?: NewWebhookEvent,
    audit?: AuditContext,
  ): Promise<boolean>;
  findGrant(clientId: string, userId: number): Promise<GrantRecord | null>;
  /**
   * For operators: grants across applications and sellers, revoked ones included, by ascending
   * grant id after `page.after`; narrowed to one application and/or one seller when given.
   */
  listGrants(
    filter: { clientId?: string | undefined; userId?: number | undefined } & Page<number>,
  ): Promise<ListedGrant[]>;
  /** The seller's active grants (revoked ones are left out), newest consent first. */
  listActiveGrantsOfUser(userId: number): Promise<SellerGrantRecord[]>;
  /** One page of the application's active grants with the sellers' nicknames (keyset pagination). */
  listGrantsOfApplication(args: ListGrantsOfApplication): Promise<ApplicationGrantsPage>;
  /**
   * Records grants seen in use, in one write: each grant's `lastUsedAt` becomes `at` only if it is
   * null or older than `at - coarseMs`, so a grant is written at most once per `coarseMs` however
   * often (and on however many instances) it is used. Unknown grants are skipped.
   */
  touchGrantsLastUsed(uses: GrantUse[], coarseMs: number): Promise<void>;

  // Test users (Mercado Pago's `POST /users/test_user`).

  /** Creates a test user of the application unless it already has `limit` of them: one step. */
  createTestUser(args: NewTestUser, audit?: AuditContext): Promise<CreateTestUserOutcome>;
  /** The application's test users, oldest first. */
  listTestUsers(clientId: string): Promise<TestUserRecord[]>;

  // Seller sessions (the consent and account pages). Only hashes of cookie values are stored.

  /** Stores a new session; also deletes sessions that expired before `session.createdAt`. */
  createSellerSession(session: NewSellerSession, audit?: AuditContext): Promise<void>;
  /** The session's user, or null when unknown or expired at `now`. */
  findSellerSession(hash: Buffer, now: number): Promise<{ userId: number; expiresAt: number } | null>;
  /** Logout; deleting an unknown session is not an error. */
  deleteSellerSession(hash: Buffer, audit?: AuditContext): Promise<void>;

  // The webhook outbox (docs/api.md §4.6). Events are appended only by recordConsent and revokeGrant.

  /**
   * Leases up to `limit` due events, oldest first: status `pending`, `nextAttemptAt <= now`, and no
   * unexpired lease. Each returned event now has `leaseUntil = now + leaseMs`, set atomically in
   * one conditional write, so concurrent dispatchers (in one process or many) never claim the same
   * event while its lease runs. A dispatcher that dies mid-delivery loses its lease at expiry and
   * the event is claimed again (at-least-once delivery; receivers dedupe on the body's `id`).
   */
  claimDueWebhookEvents(args: { now: number; leaseMs: number; limit: number }): Promise<WebhookEventRecord[]>;
  /**
   * Records one delivery attempt: increments `attempts`, stores the status and error, clears the
   * lease, and moves the event to `delivered`, to `dead`, or back to `pending` at `nextAttemptAt`.
   * Ignored (resolves false) when the event is no longer `pending`.
   */
  recordWebhookAttempt(attempt: WebhookAttempt): Promise<boolean>;
  /**
   * For the metrics, read on a scrape: how many events wait (`pending`) and since when (the oldest
   * pending event's `createdAt`, null when none), and how many were given up (`dead`). Uses the
   * `(status, next_attempt_at)` index; costs one query.
   */
  webhookQueueStats(): Promise<WebhookQueueStats>;
  /**
   * Adapters with a group-committing writer (SQLite) report it here, synchronously and without
   * I/O, for the metrics; others leave it out.
   */
  writerStats?(): WriterStats | undefined;
  /** Events by application and status (all when omitted), newest first, below `before`. */
  listWebhookEvents(args: ListWebhookEvents): Promise<WebhookEventRecord[]>;
  /**
   * Makes a `dead` (or `pending`) event due at `now` again, keeping its attempt count. With
   * `clientId` (an application owner's retry), only an event of that application. Resolves false
   * when the event is unknown, of another application, or already delivered.
   */
  retryWebhookEvent(id: number, now: number, clientId?: string, audit?: AuditContext): Promise<boolean>;
  /**
   * Appends a test event (`event.test` true) for a live application to the outbox; resolves its
   * id, or null when the application is unknown or deleted.
   */
  enqueueTestWebhookEvent(event: NewWebhookEvent): Promise<number | null>;

  /**
   * Deletes expired codes (past `codeGraceMs`), expired access tokens and expired refresh tokens,
   * rotated ones included: reuse detection needs a rotated refresh token only until it would have
   * expired anyway, since an expired token is refused before any rotation logic runs.
   */
  purgeExpired(args: PurgeExpired): Promise<PurgeResult>;

  // The audit trail (docs/api.md §4.5). Every step above that changes state appends its event in
  // its own atomic step; `appendAuditEvent` is only for events with no storage change of their own.

  /** One event in its own small atomic write: a refused sign-in, a denied consent. */
  appendAuditEvent(event: NewAuditEvent): Promise<void>;
  /** Newest first, keyset-paginated (`beforeId`), every given filter applied. */
  listAuditEvents(query: AuditQuery): Promise<AuditEventRecord[]>;
  /** Retention: deletes up to `limit` events older than `before`, oldest first; returns how many. */
  purgeAuditEvents(args: { before: number; limit: number }): Promise<number>;
}
