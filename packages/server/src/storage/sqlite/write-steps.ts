import { auditEvent } from '../audit.ts';
import type {
  ApplicationPatch,
  AuditContext,
  CreateTestUserOutcome,
  ExchangeAuthorizationCode,
  ExchangeOutcome,
  GrantType,
  GrantUse,
  NewAccessToken,
  NewApplication,
  NewAuditEvent,
  NewAuthorizationCode,
  NewClientCredentialsToken,
  NewRefreshToken,
  NewSellerSession,
  NewTestUser,
  NewUser,
  NewWebhookEvent,
  PurgeExpired,
  PurgeResult,
  RotatedGrant,
  RotateOutcome,
  RotateRefreshToken,
  UserRecord,
  WebhookAttempt,
  WebhookEventRecord,
  WebhookStatus,
} from '../contract.ts';
import { decideRotation } from '../rotation.ts';
import {
  ALL_GRANT_TYPES,
  type ApplicationRow,
  bool,
  type DbBool,
  toUser,
  toWebhookEvent,
  type UserRow,
  type WebhookEventRow,
  withRetention,
} from '../rows.ts';
import { appendAudit } from './audit.ts';
import type { Statements } from './statements.ts';

/** What `rotationState` reads: the token, its family and grant, and its rotation's successors. */
interface RotationStateRow {
  token_hash: Buffer;
  expires_at: number;
  rotated_at: number | null;
  revoked_at: number | null;
  family_id: number;
  successor_refresh_id: number | null;
  successor_access_id: number | null;
  replay_seal: Buffer | null;
  family_revoked_at: number | null;
  scope: string;
  live_mode: DbBool;
  client_id: string;
  user_id: number;
  public_key: string;
}
type SuccessorRow = { rotated_at: number | null; revoked_at: number | null };
type AccessIssueRow = { scope: string; issued_at: number; expires_at: number };
type IdRow = { id: number };

/** Called only inside a write step, so the event commits (or not) with the change it reports. */
function appendWebhookEvent(s: Statements, event: NewWebhookEvent): void {
  s.insertWebhookEvent.run(
    event.clientId,
    event.userId,
    event.action,
    event.url,
    event.createdAt,
    event.createdAt,
  );
}

/** What purgeRefresh returns of each refresh token it deleted. */
interface PurgedRefreshRow {
  family_id: number;
  rotated_at: number | null;
  expires_at: number;
  access_expires_at: number | null;
}

function insertPair(
  s: Statements,
  familyId: number,
  clientId: string,
  userId: number,
  liveMode: boolean,
  access: NewAccessToken,
  refresh: NewRefreshToken,
): { accessTokenId: number; refreshTokenId: number } {
  const accessTokenId = Number(
    s.insertAccess.run(
      access.hash,
      familyId,
      clientId,
      userId,
      access.scope,
      liveMode ? 1 : 0,
      access.issuedAt,
      access.expiresAt,
    ).lastInsertRowid,
  );
  const refreshTokenId = Number(
    s.insertRefresh.run(refresh.hash, familyId, refresh.issuedAt, refresh.expiresAt, access.expiresAt)
      .lastInsertRowid,
  );
  return { accessTokenId, refreshTokenId };
}

/**
 * Every write the SQLite adapter makes, one function per storage-port step. Each runs
 * synchronously inside the writer's transaction (see group-commit.ts), so its reads and conditional
 * writes are atomic with respect to every other step. Arguments and results are plain data so the
 * steps can run in the writer thread.
 */
export const writeSteps = {
  createUser(s: Statements, { audit, ...user }: NewUser & { audit?: AuditContext }): UserRecord | null {
    // A conditional insert: two concurrent sign-ups with one email leave one row and one null.
    const row = s.insertUser.get(user.email, user.nickname, user.siteId, user.passwordHash, user.createdAt);
    if (!row) return null;
    const created = toUser(row as UserRow);
    appendAudit(s, auditEvent('user.created', user.createdAt, audit, { userId: created.id }));
    return created;
  },

  updatePasswordHash(
    s: Statements,
    args: { userId: number; previousHash: string; newHash: string; audit?: AuditContext },
  ): boolean {
    // Conditional on the old hash: a concurrent password change wins over a rehash.
    if (s.updatePasswordHash.run(args.newHash, args.userId, args.previousHash).changes !== 1) return false;
    appendAudit(s, auditEvent('seller.password_rehashed', undefined, args.audit, { userId: args.userId }));
    return true;
  },

  createApplication(s: Statements, { audit, ...app }: NewApplication & { audit?: AuditContext }): void {
    s.insertApplication.run(
      app.clientId,
      app.name,
      app.ownerUserId,
      JSON.stringify(app.redirectUris),
      app.scope,
      app.pkceRequired ? 1 : 0,
      app.notificationUrl,
      app.webhookSecretSealed,
      app.ownerPublicKey,
      app.createdAt,
      (app.grantTypes ?? ALL_GRANT_TYPES).join(' '),
      app.description ?? '',
      app.logoUrl ?? null,
    );
    s.insertSecret.run(app.clientId, app.secretHash, app.createdAt);
    appendAudit(
      s,
      auditEvent('application.created', app.createdAt, audit, {
        userId: app.ownerUserId,
        clientId: app.clientId,
      }),
    );
  },

  /** Read, merge, write inside one transaction: a concurrent update is not half-applied. */
  updateApplication(
    s: Statements,
    args: { clientId: string; patch: ApplicationPatch; audit?: AuditContext },
  ): boolean {
    const row = s.applicationById.get(args.clientId) as ApplicationRow | undefined;
    if (!row) return false;
    const p = args.patch;
    const changed =
      s.updateApplication.run({
        clientId: args.clientId,
        name: p.name ?? row.name,
        description: p.description ?? row.description ?? '',
        logoUrl: p.logoUrl === undefined ? row.logo_url : p.logoUrl,
        redirectUris: p.redirectUris === undefined ? row.redirect_uris : JSON.stringify(p.redirectUris),
        scope: p.scope ?? row.scope,
        pkceRequired: p.pkceRequired === undefined ? row.pkce_required : p.pkceRequired ? 1 : 0,
        grantTypes: p.grantTypes === undefined ? row.grant_types : p.grantTypes.join(' '),
        notificationUrl: p.notificationUrl === undefined ? row.notification_url : p.notificationUrl,
      }).changes === 1;
    if (changed) {
      // `detail`: which settings changed (their names, never their values).
      const fields = Object.keys(p).sort().join(',');
      appendAudit(
        s,
        auditEvent('application.changed', undefined, args.audit, { clientId: args.clientId }, fields),
      );
    }
    return changed;
  },

  /** Everything the application issued dies in this one transaction (StoragePort.deleteApplication). */
  deleteApplication(s: Statements, args: { clientId: string; now: number; audit?: AuditContext }): boolean {
    if (s.markApplicationDeleted.run(args.now, args.clientId).changes !== 1) return false;
    appendAudit(s, auditEvent('application.deleted', args.now, args.audit, { clientId: args.clientId }));
    s.revokeGrantsOfClient.run(args.now, args.clientId);
    s.revokeFamiliesOfClient.run(args.now, args.clientId);
    s.useCodesOfClient.run(args.now, args.clientId);
    s.revokeClientCredentialsTokensOfClient.run(args.now, args.clientId);
    s.endCurrentSecrets.run(args.now, args.clientId, args.now);
    s.killPendingEventsOfClient.run(args.clientId);
    return true;
  },

  /** One conditional UPDATE per grant, all in one transaction (one fsync for the whole batch). */
  touchGrantsLastUsed(s: Statements, args: { uses: GrantUse[]; coarseMs: number }): void {
    for (const use of args.uses) {
      s.touchGrantLastUsed.run({ ...use, coarseMs: args.coarseMs });
    }
  },

  /** The count and the insert in one transaction: N concurrent creations never pass the cap. */
  createTestUser(s: Statements, args: NewTestUser & { audit?: AuditContext }): CreateTestUserOutcome {
    if (!s.applicationById.get(args.clientId)) return { outcome: 'unknown_application' };
    const count = (s.countTestUsersOf.get(args.clientId) as { n: number }).n;
    if (count >= args.limit) return { outcome: 'limit_reached', count };
    const { user } = args;
    const row = s.insertTestUser.get(
      user.email,
      user.nickname,
      user.siteId,
      user.passwordHash,
      user.createdAt,
      args.clientId,
      args.description,
    );
    if (!row) return { outcome: 'email_taken' };
    const created = toUser(row as UserRow);
    appendAudit(
      s,
      auditEvent(
        'user.created',
        user.createdAt,
        args.audit,
        { userId: created.id, clientId: args.clientId },
        'test_user',
      ),
    );
    return { outcome: 'created', user: created };
  },

  enqueueTestWebhookEvent(s: Statements, event: NewWebhookEvent): number | null {
    const info = s.insertTestWebhookEvent.run({
      clientId: event.clientId,
      userId: event.userId,
      action: event.action,
      url: event.url,
      createdAt: event.createdAt,
    });
    return info.changes === 1 ? Number(info.lastInsertRowid) : null;
  },

  updateApplicationGrantTypes(
    s: Statements,
    args: { clientId: string; grantTypes: GrantType[]; audit?: AuditContext },
  ): boolean {
    if (s.updateGrantTypes.run(args.grantTypes.join(' '), args.clientId).changes !== 1) return false;
    appendAudit(
      s,
      auditEvent('application.changed', undefined, args.audit, { clientId: args.clientId }, 'grant_types'),
    );
    return true;
  },

  rotateClientSecret(
    s: Statements,
    args: { clientId: string; hash: Buffer; overlapUntil: number; now: number; audit?: AuditContext },
  ): boolean {
    if (!s.applicationById.get(args.clientId)) return false;
    s.endCurrentSecrets.run(args.overlapUntil, args.clientId, args.overlapUntil);
    s.insertSecret.run(args.clientId, args.hash, args.now);
    appendAudit(s, auditEvent('client_secret.rotated', args.now, args.audit, { clientId: args.clientId }));
    return true;
  },

  replaceWebhookSecret(
    s: Statements,
    args: { clientId: string; sealed: Buffer; audit?: AuditContext },
  ): boolean {
    if (s.replaceWebhookSecret.run(args.sealed, args.clientId).changes !== 1) return false;
    appendAudit(s, auditEvent('webhook_secret.rotated', undefined, args.audit, { clientId: args.clientId }));
    return true;
  },

  recordConsent(
    s: Statements,
    {
      code,
      onNewGrant,
      audit,
    }: { code: NewAuthorizationCode; onNewGrant: NewWebhookEvent | undefined; audit?: AuditContext },
  ): { codeId: number; grantCreated: boolean } {
    const before = s.grantState.get(code.clientId, code.userId) as { revoked_at: number | null } | undefined;
    const grantCreated = before === undefined || before.revoked_at != null;
    const grant = s.upsertGrant.get(
      code.clientId,
      code.userId,
      code.scope,
      code.publicKey,
      code.createdAt,
      code.createdAt,
    ) as IdRow;
    const info = s.insertCode.run(
      code.hash,
      grant.id,
      code.clientId,
      code.userId,
      code.redirectUri,
      code.scope,
      code.codeChallenge,
      code.codeChallengeMethod,
      code.createdAt,
      code.expiresAt,
    );
    // The outbox row commits (or not) with the consent it reports (docs/api.md §4.6).
    if (grantCreated && onNewGrant) appendWebhookEvent(s, onNewGrant);
    appendAudit(
      s,
      auditEvent('consent.granted', code.createdAt, audit, { userId: code.userId, clientId: code.clientId }),
    );
    return { codeId: Number(info.lastInsertRowid), grantCreated };
  },

  exchangeAuthorizationCode(s: Statements, args: ExchangeAuthorizationCode): ExchangeOutcome {
    // The single-use guard: one conditional write; exactly one caller sees a changed row.
    if (s.useCode.run(args.now, args.codeId).changes !== 1) {
      const used = s.codeFamily.get(args.codeId) as
        | { family_id: number | null; client_id: string; user_id: number }
        | undefined;
      // Used but with no family: revokeGrant killed it (or an earlier exchange found the grant
      // revoked). Nothing was issued from it, so there is nothing to revoke either.
      if (used && used.family_id == null) return { outcome: 'grant_revoked' };
      // RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization
      // server MUST deny the request and SHOULD revoke (when possible) all tokens previously issued
      // based on that authorization code."
      if (used?.family_id != null) {
        s.revokeFamily.run(args.now, used.family_id);
        appendAudit(
          s,
          auditEvent('code.reused', args.now, args.audit, {
            userId: used.user_id,
            clientId: used.client_id,
            familyId: used.family_id,
          }),
        );
      }
      return { outcome: 'code_reused' };
    }
    const code = s.codeById.get(args.codeId) as {
      grant_id: number;
      scope: string;
      client_id: string;
      user_id: number;
    };
    const grant = s.liveGrantById.get(code.grant_id) as { public_key: string } | undefined;
    const subject = { userId: code.user_id, clientId: code.client_id };
    if (!grant) {
      // The code is now used (a change), though nothing was issued.
      appendAudit(s, auditEvent('code.grant_revoked', args.now, args.audit, subject));
      return { outcome: 'grant_revoked' };
    }
    const familyId = Number(
      s.insertFamily.run(code.grant_id, code.scope, args.liveMode ? 1 : 0, args.now).lastInsertRowid,
    );
    s.setCodeFamily.run(familyId, args.codeId);
    const pair = insertPair(
      s,
      familyId,
      code.client_id,
      code.user_id,
      args.liveMode,
      args.access,
      args.refresh,
    );
    appendAudit(s, auditEvent('code.exchanged', args.now, args.audit, { ...subject, familyId }));
    return { outcome: 'issued', familyId, ...pair, publicKey: grant.public_key };
  },

  rotateRefreshToken(s: Statements, args: RotateRefreshToken): RotateOutcome {
    const state = s.rotationState.get(args.refreshTokenId) as RotationStateRow | undefined;
    const successor =
      state?.rotated_at == null
        ? undefined
        : (s.successorState.get(state.successor_refresh_id) as SuccessorRow | undefined);
    const decision = decideRotation(
      state && {
        hash: state.token_hash,
        clientId: state.client_id,
        revoked: state.revoked_at != null || state.family_revoked_at != null,
        expiresAt: state.expires_at,
        grantScope: state.scope,
        rotatedAt: state.rotated_at,
        successor: successor && {
          rotated: successor.rotated_at != null,
          revoked: successor.revoked_at != null,
        },
      },
      args,
    );
    if (decision.action === 'refuse') return decision.refusal;
    // decideRotation refuses an unknown token, so `state` is there from here on.
    const row = state as RotationStateRow;
    const familyId = row.family_id;
    const grant: RotatedGrant = {
      userId: row.user_id,
      liveMode: bool(row.live_mode),
      publicKey: row.public_key,
    };
    const subject = { userId: row.user_id, clientId: row.client_id, familyId };

    if (decision.action === 'rotate') {
      const access = { ...args.access, scope: decision.accessScope };
      const pair = insertPair(s, familyId, row.client_id, grant.userId, grant.liveMode, access, args.refresh);
      // Conditional on rotated_at IS NULL: the single-use guard holds even if this step ever ran
      // outside the serialized batch.
      const changed = s.markRotated.run(
        args.now,
        pair.refreshTokenId,
        pair.accessTokenId,
        args.replaySeal,
        args.refreshTokenId,
      ).changes;
      if (changed !== 1) throw new Error('refresh token rotated concurrently inside one transaction');
      appendAudit(s, auditEvent('refresh.rotated', args.now, args.audit, subject));
      return {
        outcome: 'rotated',
        ...pair,
        ...grant,
        access: { scope: access.scope, issuedAt: access.issuedAt, expiresAt: access.expiresAt },
      };
    }
    if (decision.action === 'replay') {
      const access = s.accessIssue.get(row.successor_access_id) as AccessIssueRow;
      // A replay changes no token, but it hands out a pair again: it is recorded with the decision.
      appendAudit(s, auditEvent('refresh.replayed', args.now, args.audit, subject));
      return {
        outcome: 'replayed',
        replaySeal: row.replay_seal as Buffer,
        ...grant,
        accessTokenId: row.successor_access_id as number,
        refreshTokenId: row.successor_refresh_id as number,
        access: { scope: access.scope, issuedAt: access.issued_at, expiresAt: access.expires_at },
      };
    }
    s.revokeFamily.run(args.now, familyId);
    appendAudit(s, auditEvent('refresh.reused', args.now, args.audit, subject));
    return { outcome: 'reused', familyId };
  },

  issueClientCredentialsToken(
    s: Statements,
    { audit, ...token }: NewClientCredentialsToken & { audit?: AuditContext },
  ): { accessTokenId: number } {
    appendAudit(
      s,
      auditEvent('client_credentials.issued', token.issuedAt, audit, {
        userId: token.userId,
        clientId: token.clientId,
      }),
    );
    return {
      accessTokenId: Number(
        s.insertClientCredentialsAccess.run(
          token.hash,
          token.clientId,
          token.userId,
          token.scope,
          token.liveMode ? 1 : 0,
          token.issuedAt,
          token.expiresAt,
          token.issuingSecretId ?? null,
        ).lastInsertRowid,
      ),
    };
  },

  revokeAccessToken(s: Statements, args: { id: number; now: number; audit?: AuditContext }): void {
    const revoked = s.revokeAccessReturning.get(args.now, args.id) as
      | { client_id: string; user_id: number; family_id: number | null }
      | undefined;
    if (!revoked) return;
    appendAudit(
      s,
      auditEvent('token.revoked', args.now, args.audit, {
        userId: revoked.user_id,
        clientId: revoked.client_id,
        familyId: revoked.family_id,
      }),
    );
  },

  revokeFamily(s: Statements, args: { familyId: number; now: number; audit?: AuditContext }): void {
    if (s.revokeFamily.run(args.now, args.familyId).changes !== 1) return;
    const owner = s.familyOwner.get(args.familyId) as { client_id: string; user_id: number };
    appendAudit(
      s,
      auditEvent('family.revoked', args.now, args.audit, {
        userId: owner.user_id,
        clientId: owner.client_id,
        familyId: args.familyId,
      }),
    );
  },

  revokeGrant(
    s: Statements,
    args: {
      clientId: string;
      userId: number;
      now: number;
      event: NewWebhookEvent | undefined;
      audit?: AuditContext;
    },
  ): boolean {
    const grant = s.revokeGrant.get(args.now, args.clientId, args.userId) as IdRow | undefined;
    if (!grant) return false;
    s.revokeFamiliesOfGrant.run(args.now, grant.id);
    s.useCodesOfGrant.run(args.now, grant.id);
    if (args.event) appendWebhookEvent(s, args.event);
    appendAudit(
      s,
      auditEvent('grant.revoked', args.now, args.audit, { userId: args.userId, clientId: args.clientId }),
    );
    return true;
  },

  createSellerSession(
    s: Statements,
    { audit, ...session }: NewSellerSession & { audit?: AuditContext },
  ): void {
    s.deleteExpiredSessions.run(session.createdAt);
    s.insertSession.run(session.hash, session.userId, session.createdAt, session.expiresAt);
    // A successful sign-in is the session it opens: recorded with it.
    appendAudit(s, auditEvent('seller.signed_in', session.createdAt, audit, { userId: session.userId }));
  },

  deleteSellerSession(s: Statements, args: { hash: Buffer; audit?: AuditContext }): void {
    const deleted = s.deleteSessionReturning.get(args.hash) as { user_id: number } | undefined;
    if (deleted)
      appendAudit(s, auditEvent('seller.signed_out', undefined, args.audit, { userId: deleted.user_id }));
  },

  claimDueWebhookEvents(
    s: Statements,
    args: { now: number; leaseMs: number; limit: number },
  ): WebhookEventRecord[] {
    return (
      s.claimWebhookEvents.all({
        now: args.now,
        leaseUntil: args.now + args.leaseMs,
        limit: args.limit,
      }) as WebhookEventRow[]
    )
      .map(toWebhookEvent)
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id);
  },

  recordWebhookAttempt(s: Statements, attempt: WebhookAttempt): boolean {
    const status: WebhookStatus =
      attempt.outcome === 'delivered' ? 'delivered' : attempt.outcome === 'dead' ? 'dead' : 'pending';
    return (
      s.recordWebhookAttempt.run({
        id: attempt.id,
        at: attempt.at,
        httpStatus: attempt.httpStatus,
        error: attempt.error,
        status,
        nextAttemptAt: attempt.outcome === 'retry' ? (attempt.nextAttemptAt ?? attempt.at) : null,
      }).changes === 1
    );
  },

  retryWebhookEvent(
    s: Statements,
    args: { id: number; now: number; clientId: string | undefined; audit?: AuditContext },
  ): boolean {
    const retried = (
      args.clientId === undefined
        ? s.retryWebhookEventReturning.get(args.now, args.id)
        : s.retryWebhookEventOfClientReturning.get(args.now, args.id, args.clientId)
    ) as { client_id: string; user_id: number } | undefined;
    if (!retried) return false;
    appendAudit(
      s,
      auditEvent(
        'webhook.retried',
        args.now,
        args.audit,
        { userId: retried.user_id, clientId: retried.client_id },
        `event ${args.id}`,
      ),
    );
    return true;
  },

  appendAuditEvent(s: Statements, event: NewAuditEvent): void {
    appendAudit(s, event);
  },

  purgeAuditEvents(s: Statements, args: { before: number; limit: number }): number {
    return s.purgeAuditEvents.run(args.before, args.limit).changes;
  },

  /**
   * Housekeeping as one write step like any other: one bounded DELETE per table, so the write lock
   * is held for a few thousand row deletions at most, between batches of requests.
   */
  purgeExpired(s: Statements, args: PurgeExpired): PurgeResult {
    const codes = s.purgeCodes.run(args.now - args.codeGraceMs, args.limit).changes;
    const accessTokens = s.purgeAccess.run(args.now, args.limit).changes;
    const purgedRefresh = s.purgeRefresh.all(args.now, args.limit) as PurgedRefreshRow[];
    const refreshTokens = purgedRefresh.length;
    // A family's newest refresh token (never rotated) expires last of its refresh tokens: once it
    // is gone, the family ends when the access token issued with it expires (migration 8).
    for (const head of purgedRefresh) {
      if (head.rotated_at !== null) continue;
      s.endFamily.run(Math.max(head.expires_at, head.access_expires_at ?? head.expires_at), head.family_id);
    }
    const webhookEvents =
      args.webhookRetentionMs === undefined
        ? 0
        : s.purgeWebhookEvents.run(args.now - args.webhookRetentionMs, args.limit).changes;
    // After the tokens and codes of this call: a family emptied just now goes in the same step.
    const families =
      args.familyRetentionMs === undefined
        ? undefined
        : s.purgeFamilies.run(args.now, args.now - args.familyRetentionMs, args.limit).changes;
    const grants =
      args.revokedGrantRetentionMs === undefined
        ? undefined
        : s.purgeRevokedGrants.run(args.now - args.revokedGrantRetentionMs, args.limit).changes;
    const sessions =
      args.sessionRetentionMs === undefined
        ? undefined
        : s.purgeSessions.run(args.now - args.sessionRetentionMs, args.limit).changes;
    return withRetention(
      { codes, accessTokens, refreshTokens, webhookEvents },
      { families, grants, sessions },
      args.limit,
    );
  },
};

export type WriteSteps = typeof writeSteps;
export type WriteStepName = keyof WriteSteps;
export type StepArgs<K extends WriteStepName> = Parameters<WriteSteps[K]>[1];
export type StepResult<K extends WriteStepName> = ReturnType<WriteSteps[K]>;
