import { timingSafeEqual } from 'node:crypto';
import type {
  ExchangeOutcome,
  GrantType,
  NewAccessToken,
  NewApplication,
  NewAuthorizationCode,
  NewClientCredentialsToken,
  NewRefreshToken,
  NewSellerSession,
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
import { ALL_GRANT_TYPES, type Row, toUser, toWebhookEvent } from '../rows.ts';
import type { Statements } from './statements.ts';

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
    s.insertRefresh.run(refresh.hash, familyId, refresh.issuedAt, refresh.expiresAt).lastInsertRowid,
  );
  return { accessTokenId, refreshTokenId };
}

/**
 * The presented secret's digest against the stored one, in constant time, as core compared them
 * when it made this check. Both are SHA-256 digests, so an early exit would only tell how many
 * leading digest bytes matched, which does not help anyone choose a secret (the PostgreSQL
 * function therefore uses plain `=`); here constant time costs nothing, so it stays.
 */
function sameHash(stored: Uint8Array, presented: Uint8Array): boolean {
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}

/** Scopes are stored and passed in canonical form (core/scopes.ts): space-separated names. */
function scopeNames(scope: string): string[] {
  return scope.split(' ').filter((name) => name.length > 0);
}

/**
 * Every write the SQLite adapter makes, one function per storage-port step. Each runs
 * synchronously inside the writer's transaction (see group-commit.ts), so its reads and conditional
 * writes are atomic with respect to every other step. Arguments and results are plain data so the
 * steps can run in the writer thread.
 */
export const writeSteps = {
  createUser(s: Statements, user: NewUser): UserRecord | null {
    // A conditional insert: two concurrent sign-ups with one email leave one row and one null.
    const row = s.insertUser.get(user.email, user.nickname, user.siteId, user.passwordHash, user.createdAt);
    return row ? toUser(row as Row) : null;
  },

  updatePasswordHash(
    s: Statements,
    args: { userId: number; previousHash: string; newHash: string },
  ): boolean {
    // Conditional on the old hash: a concurrent password change wins over a rehash.
    return s.updatePasswordHash.run(args.newHash, args.userId, args.previousHash).changes === 1;
  },

  createApplication(s: Statements, app: NewApplication): void {
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
    );
    s.insertSecret.run(app.clientId, app.secretHash, app.createdAt);
  },

  updateApplicationGrantTypes(s: Statements, args: { clientId: string; grantTypes: GrantType[] }): boolean {
    return s.updateGrantTypes.run(args.grantTypes.join(' '), args.clientId).changes === 1;
  },

  rotateClientSecret(
    s: Statements,
    args: { clientId: string; hash: Buffer; overlapUntil: number; now: number },
  ): boolean {
    if (!s.applicationById.get(args.clientId)) return false;
    s.endCurrentSecrets.run(args.overlapUntil, args.clientId, args.overlapUntil);
    s.insertSecret.run(args.clientId, args.hash, args.now);
    return true;
  },

  replaceWebhookSecret(s: Statements, args: { clientId: string; sealed: Buffer }): boolean {
    return s.replaceWebhookSecret.run(args.sealed, args.clientId).changes === 1;
  },

  recordConsent(
    s: Statements,
    { code, onNewGrant }: { code: NewAuthorizationCode; onNewGrant: NewWebhookEvent | undefined },
  ): { codeId: number; grantCreated: boolean } {
    const before = s.grantState.get(code.clientId, code.userId) as Row | undefined;
    const grantCreated = before === undefined || before.revoked_at != null;
    const grant = s.upsertGrant.get(
      code.clientId,
      code.userId,
      code.scope,
      code.publicKey,
      code.createdAt,
      code.createdAt,
    ) as Row;
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
    // The outbox row commits (or not) with the consent it reports (CONTRACT §4.6).
    if (grantCreated && onNewGrant) appendWebhookEvent(s, onNewGrant);
    return { codeId: Number(info.lastInsertRowid), grantCreated };
  },

  exchangeAuthorizationCode(
    s: Statements,
    args: {
      codeId: number;
      now: number;
      liveMode: boolean;
      access: NewAccessToken;
      refresh: NewRefreshToken;
    },
  ): ExchangeOutcome {
    // The single-use guard: one conditional write; exactly one caller sees a changed row.
    if (s.useCode.run(args.now, args.codeId).changes !== 1) {
      const used = s.codeFamily.get(args.codeId) as Row | undefined;
      // Used but with no family: revokeGrant killed it (or an earlier exchange found the grant
      // revoked). Nothing was issued from it, so there is nothing to revoke either.
      if (used && used.family_id == null) return { outcome: 'grant_revoked' };
      // RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization
      // server MUST deny the request and SHOULD revoke (when possible) all tokens previously issued
      // based on that authorization code."
      if (used?.family_id != null) s.revokeFamily.run(args.now, used.family_id);
      return { outcome: 'code_reused' };
    }
    const code = s.codeById.get(args.codeId) as Row;
    const grant = s.liveGrantById.get(code.grant_id) as Row | undefined;
    if (!grant) return { outcome: 'grant_revoked' };
    const familyId = Number(
      s.insertFamily.run(code.grant_id, code.scope, args.liveMode ? 1 : 0, args.now).lastInsertRowid,
    );
    s.setCodeFamily.run(familyId, args.codeId);
    const pair = insertPair(
      s,
      familyId,
      code.client_id as string,
      code.user_id as number,
      args.liveMode,
      args.access,
      args.refresh,
    );
    return { outcome: 'issued', familyId, ...pair, publicKey: grant.public_key as string };
  },

  rotateRefreshToken(s: Statements, args: RotateRefreshToken): RotateOutcome {
    const state = s.rotationState.get(args.refreshTokenId) as Row | undefined;
    // Preconditions, all before the first write, in the order core used to check them: a failed
    // one changes nothing. The secret comes first, so knowing a row id is not enough to trigger
    // reuse detection against somebody else's family.
    if (!state || !sameHash(state.token_hash as Uint8Array, args.presentedHash)) {
      return { outcome: 'invalid', reason: 'unknown' };
    }
    // RFC 6749 §6: "ensure that the refresh token was issued to the authenticated client".
    if (state.client_id !== args.clientId) return { outcome: 'invalid', reason: 'other_client' };
    if (state.revoked_at != null || state.family_revoked_at != null) return { outcome: 'revoked' };
    if ((state.expires_at as number) <= args.now) return { outcome: 'invalid', reason: 'expired' };
    const grantScope = state.scope as string;
    const granted = new Set(scopeNames(grantScope));
    if (!granted.has('offline_access')) return { outcome: 'not_refreshable' };
    // RFC 6749 §6: the requested scope "MUST NOT include any scope not originally granted by the
    // resource owner". Core has parsed it; here it is only set inclusion.
    if (args.requestedScope !== null && !scopeNames(args.requestedScope).every((n) => granted.has(n))) {
      return { outcome: 'scope_not_granted', grantScope };
    }
    const familyId = state.family_id as number;
    const grant: RotatedGrant = {
      userId: state.user_id as number,
      liveMode: state.live_mode === 1,
      publicKey: state.public_key as string,
    };

    if (state.rotated_at == null) {
      // RFC 6749 §6: the new access token may be narrowed; the new refresh token keeps the family
      // (grant) scope, which is where its scope lives.
      const access = { ...args.access, scope: args.requestedScope ?? grantScope };
      const pair = insertPair(
        s,
        familyId,
        state.client_id as string,
        grant.userId,
        grant.liveMode,
        access,
        args.refresh,
      );
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
      return {
        outcome: 'rotated',
        ...pair,
        ...grant,
        access: { scope: access.scope, issuedAt: access.issuedAt, expiresAt: access.expiresAt },
      };
    }

    // Already rotated. A replay is allowed only inside the window and only while the successor has
    // not been used itself (CONTRACT §4.2); anything else is reuse (RFC 9700 §4.14.2).
    const successor = s.successorState.get(state.successor_refresh_id) as Row | undefined;
    const insideWindow = args.graceMs > 0 && args.now - (state.rotated_at as number) <= args.graceMs;
    if (insideWindow && successor && successor.rotated_at == null && successor.revoked_at == null) {
      const access = s.accessIssue.get(state.successor_access_id) as Row;
      return {
        outcome: 'replayed',
        replaySeal: state.replay_seal as Buffer,
        ...grant,
        accessTokenId: state.successor_access_id as number,
        refreshTokenId: state.successor_refresh_id as number,
        access: {
          scope: access.scope as string,
          issuedAt: access.issued_at as number,
          expiresAt: access.expires_at as number,
        },
      };
    }
    s.revokeFamily.run(args.now, familyId);
    return { outcome: 'reused', familyId };
  },

  issueClientCredentialsToken(s: Statements, token: NewClientCredentialsToken): { accessTokenId: number } {
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

  revokeAccessToken(s: Statements, args: { id: number; now: number }): void {
    s.revokeAccess.run(args.now, args.id);
  },

  revokeFamily(s: Statements, args: { familyId: number; now: number }): void {
    s.revokeFamily.run(args.now, args.familyId);
  },

  revokeGrant(
    s: Statements,
    args: { clientId: string; userId: number; now: number; event: NewWebhookEvent | undefined },
  ): boolean {
    const grant = s.revokeGrant.get(args.now, args.clientId, args.userId) as Row | undefined;
    if (!grant) return false;
    s.revokeFamiliesOfGrant.run(args.now, grant.id);
    s.useCodesOfGrant.run(args.now, grant.id);
    if (args.event) appendWebhookEvent(s, args.event);
    return true;
  },

  createSellerSession(s: Statements, session: NewSellerSession): void {
    s.deleteExpiredSessions.run(session.createdAt);
    s.insertSession.run(session.hash, session.userId, session.createdAt, session.expiresAt);
  },

  deleteSellerSession(s: Statements, args: { hash: Buffer }): void {
    s.deleteSession.run(args.hash);
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
      }) as Row[]
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

  retryWebhookEvent(s: Statements, args: { id: number; now: number }): boolean {
    return s.retryWebhookEvent.run(args.now, args.id).changes === 1;
  },

  /**
   * Housekeeping as one write step like any other: one bounded DELETE per table, so the write lock
   * is held for a few thousand row deletions at most, between batches of requests.
   */
  purgeExpired(s: Statements, args: PurgeExpired): PurgeResult {
    const codes = s.purgeCodes.run(args.now - args.codeGraceMs, args.limit).changes;
    const accessTokens = s.purgeAccess.run(args.now, args.limit).changes;
    const refreshTokens = s.purgeRefresh.run(args.now, args.limit).changes;
    const webhookEvents =
      args.webhookRetentionMs === undefined
        ? 0
        : s.purgeWebhookEvents.run(args.now - args.webhookRetentionMs, args.limit).changes;
    return {
      codes,
      accessTokens,
      refreshTokens,
      webhookEvents,
      more: [codes, accessTokens, refreshTokens, webhookEvents].some((n) => n === args.limit),
    };
  },
};

export type WriteSteps = typeof writeSteps;
export type WriteStepName = keyof WriteSteps;
export type StepArgs<K extends WriteStepName> = Parameters<WriteSteps[K]>[1];
export type StepResult<K extends WriteStepName> = ReturnType<WriteSteps[K]>;
