import { auditEvent, auditWritesOmitted } from '../audit.ts';
import type {
  AccessTokenRecord,
  ApplicationGrantsPage,
  ApplicationPatch,
  ApplicationRecord,
  AuditContext,
  AuditEventRecord,
  AuditEventType,
  AuditQuery,
  AuditSubject,
  AuthorizationCodeRecord,
  ClientSecretRecord,
  CreateTestUserOutcome,
  ExchangeAuthorizationCode,
  ExchangeOutcome,
  GrantRecord,
  GrantType,
  GrantUse,
  ListedGrant,
  ListGrantsOfApplication,
  ListWebhookEvents,
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
  Page,
  PurgeExpired,
  PurgeResult,
  RefreshTokenRecord,
  RotatedGrant,
  RotateOutcome,
  RotateRefreshToken,
  SellerGrantRecord,
  StoragePort,
  TestUserRecord,
  UserRecord,
  WebhookAttempt,
  WebhookEventRecord,
  WebhookQueueStats,
} from '../contract.ts';
import { decideRotation } from '../rotation.ts';
import { ALL_GRANT_TYPES, searchedUserId, withRetention } from '../rows.ts';

interface GrantRow {
  id: number;
  clientId: string;
  userId: number;
  scope: string;
  publicKey: string;
  createdAt: number;
  updatedAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
}

interface CodeRow extends AuthorizationCodeRecord {
  grantId: number;
  usedAt: number | null;
  familyId: number | null;
}

interface FamilyRow {
  id: number;
  grantId: number;
  createdAt: number;
  scope: string;
  liveMode: boolean;
  revokedAt: number | null;
}

interface RefreshRow {
  id: number;
  hash: Buffer;
  familyId: number;
  issuedAt: number;
  expiresAt: number;
  rotatedAt: number | null;
  revokedAt: number | null;
  successorRefreshId: number | null;
  successorAccessId: number | null;
  replaySeal: Buffer | null;
}

interface AccessRow {
  id: number;
  hash: Buffer;
  /** null for client_credentials tokens. */
  familyId: number | null;
  clientId: string;
  userId: number;
  scope: string;
  liveMode: boolean;
  issuedAt: number;
  expiresAt: number;
  revokedAt: number | null;
  issuingSecretId: number | null;
}

/** An auto-incrementing table: ids start at 1 and are never reused, like SQLite's AUTOINCREMENT. */
class Table<Row extends { id: number }> {
  readonly rows = new Map<number, Row>();
  #next = 1;
  insert(row: Omit<Row, 'id'>): Row {
    const full = { ...row, id: this.#next++ } as Row;
    this.rows.set(full.id, full);
    return full;
  }
  get(id: number | null | undefined): Row | undefined {
    return id == null ? undefined : this.rows.get(id);
  }
  /** Deletes up to `limit` rows matching `expired`, oldest `order` first; returns how many. */
  purge(expired: (row: Row) => boolean, order: (row: Row) => number, limit: number): number {
    const doomed = [...this.rows.values()]
      .filter(expired)
      .sort((a, b) => order(a) - order(b))
      .slice(0, limit);
    for (const row of doomed) this.rows.delete(row.id);
    return doomed.length;
  }
}

/** A deep copy that keeps Buffers Buffers (structuredClone makes them Uint8Arrays): no caller shares our rows. */
function copy<T>(value: T): T {
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  if (Array.isArray(value)) return value.map(copy) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, field]) => [key, copy(field)])) as T;
  }
  return value;
}

/**
 * The storage port in process memory, for unit tests and trying Renova without a database. It
 * keeps the contract's promises within one process: every method runs to completion without an
 * `await` between its reads and writes, so each is atomic under any concurrency of callers, and
 * a method that throws has written nothing (its checks all come before its first write). Nothing
 * survives the process: never use it to serve real sellers.
 */
export class MemoryStorage implements StoragePort {
  readonly #users = new Map<number, UserRecord>();
  /** Test users' descriptions (users.test_description). */
  readonly #testDescriptions = new Map<number, string>();
  /** Deleted applications: kept so that their client ids stay taken (migration 5). */
  readonly #deleted = new Set<string>();
  #nextUserId = 1;
  readonly #applications = new Map<string, Omit<ApplicationRecord, 'secrets'>>();
  readonly #secrets = new Map<string, ClientSecretRecord[]>();
  #nextSecretId = 1;
  readonly #grants = new Table<GrantRow>();
  readonly #codes = new Table<CodeRow>();
  readonly #families = new Table<FamilyRow>();
  readonly #refresh = new Table<RefreshRow>();
  readonly #access = new Table<AccessRow>();
  readonly #events = new Table<WebhookEventRecord>();
  readonly #sessions = new Map<string, { userId: number; expiresAt: number }>();
  readonly #audit = new Table<AuditEventRecord>();
  #closed = false;

  /** Appended by each method after its checks, with its change: both or neither, as elsewhere. */
  #record(
    type: AuditEventType,
    at: number | undefined,
    audit: AuditContext | undefined,
    subject: AuditSubject,
    detail?: string,
  ): void {
    if (auditWritesOmitted()) return;
    this.#audit.insert(auditEvent(type, at, audit, subject, detail));
  }

  #open(): void {
    if (this.#closed) throw new Error('MemoryStorage is closed');
  }

  async migrate(): Promise<void> {}

  async ping(): Promise<void> {
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async createUser(user: NewUser, audit?: AuditContext): Promise<UserRecord | null> {
    this.#open();
    const email = user.email.toLowerCase();
    for (const existing of this.#users.values()) if (existing.email.toLowerCase() === email) return null;
    const record: UserRecord = { ...user, id: this.#nextUserId++, testOfClientId: null };
    this.#users.set(record.id, record);
    this.#record('user.created', user.createdAt, audit, { userId: record.id });
    return copy(record);
  }

  async findUserById(id: number): Promise<UserRecord | null> {
    this.#open();
    const user = this.#users.get(id);
    return user ? copy(user) : null;
  }

  async findUserByEmail(email: string): Promise<UserRecord | null> {
    this.#open();
    const wanted = email.toLowerCase();
    for (const user of this.#users.values()) if (user.email.toLowerCase() === wanted) return copy(user);
    return null;
  }

  async listUsers(page: Page<number>): Promise<UserRecord[]> {
    this.#open();
    const after = page.after ?? 0;
    return [...this.#users.values()]
      .filter((user) => user.id > after)
      .sort((a, b) => a.id - b.id)
      .slice(0, page.limit)
      .map(copy);
  }

  async updatePasswordHash(
    userId: number,
    previousHash: string,
    newHash: string,
    audit?: AuditContext,
  ): Promise<boolean> {
    this.#open();
    // Conditional on the old hash: a concurrent password change wins over a rehash.
    const user = this.#users.get(userId);
    if (!user || user.passwordHash !== previousHash) return false;
    user.passwordHash = newHash;
    this.#record('seller.password_rehashed', undefined, audit, { userId });
    return true;
  }

  async createApplication(app: NewApplication, audit?: AuditContext): Promise<void> {
    this.#open();
    if (this.#applications.has(app.clientId) || this.#deleted.has(app.clientId))
      throw new Error(`application ${app.clientId} exists`);
    const { secretHash, ...rest } = copy(app);
    this.#applications.set(app.clientId, {
      ...rest,
      description: rest.description ?? '',
      logoUrl: rest.logoUrl ?? null,
      grantTypes: rest.grantTypes ?? [...ALL_GRANT_TYPES],
    });
    this.#secrets.set(app.clientId, [
      { id: this.#nextSecretId++, hash: secretHash, createdAt: app.createdAt, expiresAt: null },
    ]);
    this.#record('application.created', app.createdAt, audit, {
      userId: app.ownerUserId,
      clientId: app.clientId,
    });
  }

  async findApplication(clientId: string): Promise<ApplicationRecord | null> {
    this.#open();
    const app = this.#applications.get(clientId);
    if (!app) return null;
    return copy({ ...app, secrets: this.#secrets.get(clientId) ?? [] });
  }

  async listApplications(page: Page<string>): Promise<ApplicationRecord[]> {
    this.#open();
    const after = page.after ?? '';
    const ids = [...this.#applications.keys()]
      .filter((clientId) => clientId > after)
      .sort()
      .slice(0, page.limit);
    const found = await Promise.all(ids.map((clientId) => this.findApplication(clientId)));
    return found.filter((app): app is ApplicationRecord => app !== null);
  }

  async listApplicationsByOwner(ownerUserId: number): Promise<ApplicationRecord[]> {
    const owned = [...this.#applications.values()]
      .filter((app) => app.ownerUserId === ownerUserId)
      .sort((a, b) => a.createdAt - b.createdAt);
    const found = await Promise.all(owned.map((app) => this.findApplication(app.clientId)));
    return found.filter((app): app is ApplicationRecord => app !== null);
  }

  async rotateClientSecret(
    clientId: string,
    hash: Buffer,
    overlapUntil: number,
    now: number,
    audit?: AuditContext,
  ): Promise<boolean> {
    this.#open();
    const secrets = this.#secrets.get(clientId);
    if (!secrets || !this.#applications.has(clientId)) return false;
    for (const secret of secrets) {
      if (secret.expiresAt === null || secret.expiresAt > overlapUntil) secret.expiresAt = overlapUntil;
    }
    secrets.push({ id: this.#nextSecretId++, hash: Buffer.from(hash), createdAt: now, expiresAt: null });
    this.#record('client_secret.rotated', now, audit, { clientId });
    return true;
  }

  async updateApplicationGrantTypes(
    clientId: string,
    grantTypes: GrantType[],
    audit?: AuditContext,
  ): Promise<boolean> {
    this.#open();
    const app = this.#applications.get(clientId);
    if (!app) return false;
    app.grantTypes = [...grantTypes];
    this.#record('application.changed', undefined, audit, { clientId }, 'grant_types');
    return true;
  }

  async replaceWebhookSecret(clientId: string, sealed: Buffer, audit?: AuditContext): Promise<boolean> {
    this.#open();
    const app = this.#applications.get(clientId);
    if (!app) return false;
    app.webhookSecretSealed = Buffer.from(sealed);
    this.#record('webhook_secret.rotated', undefined, audit, { clientId });
    return true;
  }

  async updateApplication(
    clientId: string,
    patch: ApplicationPatch,
    audit?: AuditContext,
  ): Promise<ApplicationRecord | null> {
    this.#open();
    const app = this.#applications.get(clientId);
    if (!app) return null;
    const defined = Object.fromEntries(
      Object.entries(copy(patch)).filter(([, value]) => value !== undefined),
    );
    Object.assign(app, defined);
    this.#record('application.changed', undefined, audit, { clientId }, Object.keys(patch).sort().join(','));
    return this.findApplication(clientId);
  }

  async deleteApplication(clientId: string, now: number, audit?: AuditContext): Promise<boolean> {
    this.#open();
    if (!this.#applications.delete(clientId)) return false;
    this.#record('application.deleted', now, audit, { clientId });
    this.#deleted.add(clientId);
    for (const grant of this.#grants.rows.values()) {
      if (grant.clientId !== clientId) continue;
      if (grant.revokedAt === null) grant.revokedAt = now;
      for (const family of this.#families.rows.values())
        if (family.grantId === grant.id && family.revokedAt === null) family.revokedAt = now;
      for (const code of this.#codes.rows.values())
        if (code.grantId === grant.id && code.usedAt === null) code.usedAt = now;
    }
    for (const token of this.#access.rows.values())
      if (token.clientId === clientId && token.familyId === null && token.revokedAt === null)
        token.revokedAt = now;
    for (const secret of this.#secrets.get(clientId) ?? [])
      if (secret.expiresAt === null || secret.expiresAt > now) secret.expiresAt = now;
    for (const event of this.#events.rows.values()) {
      if (event.clientId === clientId && event.status === 'pending') {
        event.status = 'dead';
        event.leaseUntil = null;
        event.lastError = 'the application was deleted';
      }
    }
    return true;
  }

  async listGrantsOfApplication(args: ListGrantsOfApplication): Promise<ApplicationGrantsPage> {
    this.#open();
    const searchId = args.search === undefined ? null : searchedUserId(args.search);
    // Lower-cased like SQL's lower() on both engines; startsWith matches %, _ and \ literally.
    const prefix = args.search?.toLowerCase();
    const matching = [...this.#grants.rows.values()]
      .filter((grant) => grant.clientId === args.clientId && grant.revokedAt === null)
      .flatMap((grant) => {
        const user = this.#users.get(grant.userId);
        if (!user) return [];
        if (
          prefix !== undefined &&
          grant.userId !== searchId &&
          !user.nickname.toLowerCase().startsWith(prefix)
        )
          return [];
        return [{ grant, user }];
      })
      .sort((a, b) => b.grant.id - a.grant.id);
    const totals = {
      real: matching.filter((m) => m.user.testOfClientId === null).length,
      test: matching.filter((m) => m.user.testOfClientId !== null).length,
    };
    const selected = matching.filter(
      (m) =>
        m.grant.id < (args.cursor ?? Number.MAX_SAFE_INTEGER) &&
        (args.testUsers === undefined || (m.user.testOfClientId !== null) === args.testUsers),
    );
    const page = selected.slice(0, args.limit);
    return {
      items: page.map(({ grant, user }) => ({
        userId: grant.userId,
        nickname: user.nickname,
        isTestUser: user.testOfClientId !== null,
        scope: grant.scope,
        createdAt: grant.createdAt,
        updatedAt: grant.updatedAt,
        lastUsedAt: grant.lastUsedAt,
      })),
      nextCursor: selected.length > args.limit ? (page[page.length - 1]?.grant.id ?? null) : null,
      totals,
    };
  }

  async touchGrantsLastUsed(uses: GrantUse[], coarseMs: number): Promise<void> {
    this.#open();
    for (const use of uses) {
      const grant = this.#grantOf(use.clientId, use.userId);
      if (grant && (grant.lastUsedAt === null || grant.lastUsedAt <= use.at - coarseMs))
        grant.lastUsedAt = use.at;
    }
  }

  async createTestUser(args: NewTestUser, audit?: AuditContext): Promise<CreateTestUserOutcome> {
    this.#open();
    if (!this.#applications.has(args.clientId)) return { outcome: 'unknown_application' };
    const count = [...this.#users.values()].filter((u) => u.testOfClientId === args.clientId).length;
    if (count >= args.limit) return { outcome: 'limit_reached', count };
    const email = args.user.email.toLowerCase();
    for (const existing of this.#users.values())
      if (existing.email.toLowerCase() === email) return { outcome: 'email_taken' };
    const record: UserRecord = { ...copy(args.user), id: this.#nextUserId++, testOfClientId: args.clientId };
    this.#users.set(record.id, record);
    this.#testDescriptions.set(record.id, args.description);
    this.#record(
      'user.created',
      args.user.createdAt,
      audit,
      { userId: record.id, clientId: args.clientId },
      'test_user',
    );
    return { outcome: 'created', user: copy(record) };
  }

  async listTestUsers(clientId: string): Promise<TestUserRecord[]> {
    this.#open();
    return [...this.#users.values()]
      .filter((u) => u.testOfClientId === clientId)
      .sort((a, b) => a.id - b.id)
      .map((u) => ({
        id: u.id,
        email: u.email,
        nickname: u.nickname,
        siteId: u.siteId,
        description: this.#testDescriptions.get(u.id) ?? '',
        createdAt: u.createdAt,
      }));
  }

  async enqueueTestWebhookEvent(event: NewWebhookEvent): Promise<number | null> {
    this.#open();
    if (!this.#applications.has(event.clientId)) return null;
    return this.#appendEvent({ ...event, test: true });
  }

  #grantOf(clientId: string, userId: number): GrantRow | undefined {
    for (const grant of this.#grants.rows.values()) {
      if (grant.clientId === clientId && grant.userId === userId) return grant;
    }
    return undefined;
  }

  #appendEvent(event: NewWebhookEvent): number {
    return this.#events.insert({
      ...event,
      test: event.test ?? false,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: event.createdAt,
      leaseUntil: null,
      lastAttemptAt: null,
      lastStatus: null,
      lastError: null,
      deliveredAt: null,
    }).id;
  }

  async recordConsent(
    code: NewAuthorizationCode,
    onNewGrant?: NewWebhookEvent,
    audit?: AuditContext,
  ): Promise<{ codeId: number; grantCreated: boolean }> {
    this.#open();
    let grant = this.#grantOf(code.clientId, code.userId);
    const grantCreated = grant === undefined || grant.revokedAt !== null;
    if (!grant) {
      grant = this.#grants.insert({
        clientId: code.clientId,
        userId: code.userId,
        scope: code.scope,
        publicKey: code.publicKey,
        createdAt: code.createdAt,
        updatedAt: code.createdAt,
        revokedAt: null,
        lastUsedAt: null,
      });
    } else {
      if (grant.revokedAt !== null) grant.createdAt = code.createdAt;
      grant.scope = code.scope;
      grant.updatedAt = code.createdAt;
      grant.revokedAt = null;
    }
    const row = this.#codes.insert({
      hash: Buffer.from(code.hash),
      grantId: grant.id,
      clientId: code.clientId,
      userId: code.userId,
      redirectUri: code.redirectUri,
      scope: code.scope,
      codeChallenge: code.codeChallenge,
      codeChallengeMethod: code.codeChallengeMethod,
      expiresAt: code.expiresAt,
      usedAt: null,
      familyId: null,
    });
    if (grantCreated && onNewGrant) this.#appendEvent(onNewGrant);
    this.#record('consent.granted', code.createdAt, audit, { userId: code.userId, clientId: code.clientId });
    return { codeId: row.id, grantCreated };
  }

  async findAuthorizationCode(id: number): Promise<AuthorizationCodeRecord | null> {
    this.#open();
    const row = this.#codes.get(id);
    if (!row) return null;
    const { grantId: _grant, usedAt: _used, familyId: _family, ...record } = row;
    return copy(record);
  }

  #insertPair(
    familyId: number,
    clientId: string,
    userId: number,
    liveMode: boolean,
    access: NewAccessToken,
    refresh: NewRefreshToken,
  ): { accessTokenId: number; refreshTokenId: number } {
    const accessRow = this.#access.insert({
      hash: Buffer.from(access.hash),
      familyId,
      clientId,
      userId,
      scope: access.scope,
      liveMode,
      issuedAt: access.issuedAt,
      expiresAt: access.expiresAt,
      revokedAt: null,
      issuingSecretId: null,
    });
    const refreshRow = this.#refresh.insert({
      hash: Buffer.from(refresh.hash),
      familyId,
      issuedAt: refresh.issuedAt,
      expiresAt: refresh.expiresAt,
      rotatedAt: null,
      revokedAt: null,
      successorRefreshId: null,
      successorAccessId: null,
      replaySeal: null,
    });
    return { accessTokenId: accessRow.id, refreshTokenId: refreshRow.id };
  }

  #revokeFamily(familyId: number | null, now: number): void {
    const family = this.#families.get(familyId);
    if (family && family.revokedAt === null) family.revokedAt = now;
  }

  async exchangeAuthorizationCode(args: ExchangeAuthorizationCode): Promise<ExchangeOutcome> {
    this.#open();
    const code = this.#codes.get(args.codeId);
    // Used with no family: revokeGrant killed it, or its exchange found the grant revoked; nothing
    // was issued from it, so nothing is revoked either.
    if (code && code.usedAt !== null && code.familyId === null) return { outcome: 'grant_revoked' };
    if (!code || code.usedAt !== null) {
      // RFC 6749 §4.1.2: a code used twice revokes what it issued.
      this.#revokeFamily(code?.familyId ?? null, args.now);
      if (code?.familyId != null) {
        this.#record('code.reused', args.now, args.audit, {
          userId: code.userId,
          clientId: code.clientId,
          familyId: code.familyId,
        });
      }
      return { outcome: 'code_reused' };
    }
    code.usedAt = args.now;
    const subject = { userId: code.userId, clientId: code.clientId };
    const grant = this.#grants.get(code.grantId);
    if (!grant || grant.revokedAt !== null) {
      this.#record('code.grant_revoked', args.now, args.audit, subject);
      return { outcome: 'grant_revoked' };
    }
    const family = this.#families.insert({
      grantId: grant.id,
      createdAt: args.now,
      scope: code.scope,
      liveMode: args.liveMode,
      revokedAt: null,
    });
    code.familyId = family.id;
    const pair = this.#insertPair(
      family.id,
      code.clientId,
      code.userId,
      args.liveMode,
      args.access,
      args.refresh,
    );
    this.#record('code.exchanged', args.now, args.audit, { ...subject, familyId: family.id });
    return { outcome: 'issued', familyId: family.id, ...pair, publicKey: grant.publicKey };
  }

  async findRefreshToken(id: number): Promise<RefreshTokenRecord | null> {
    this.#open();
    const row = this.#refresh.get(id);
    const family = this.#families.get(row?.familyId);
    const grant = this.#grants.get(family?.grantId);
    if (!row || !family || !grant) return null;
    return copy({
      id: row.id,
      hash: row.hash,
      familyId: family.id,
      clientId: grant.clientId,
      userId: grant.userId,
      scope: family.scope,
      liveMode: family.liveMode,
      publicKey: grant.publicKey,
      issuedAt: row.issuedAt,
      expiresAt: row.expiresAt,
      rotatedAt: row.rotatedAt,
      revoked: row.revokedAt !== null || family.revokedAt !== null,
    });
  }

  async rotateRefreshToken(args: RotateRefreshToken): Promise<RotateOutcome> {
    this.#open();
    const row = this.#refresh.get(args.refreshTokenId);
    const family = this.#families.get(row?.familyId);
    const grant = this.#grants.get(family?.grantId);
    const successor = this.#refresh.get(row?.successorRefreshId);
    const successorAccess = this.#access.get(row?.successorAccessId);
    const decision = decideRotation(
      row &&
        family &&
        grant && {
          hash: row.hash,
          clientId: grant.clientId,
          revoked: row.revokedAt !== null || family.revokedAt !== null,
          expiresAt: row.expiresAt,
          grantScope: family.scope,
          rotatedAt: row.rotatedAt,
          // A successor that cannot be answered again (gone, or no seal) is not replayable.
          successor:
            successor && successorAccess && row.replaySeal
              ? { rotated: successor.rotatedAt !== null, revoked: successor.revokedAt !== null }
              : undefined,
        },
      args,
    );
    if (decision.action === 'refuse') return decision.refusal;
    // decideRotation refuses an unknown token, so all three rows are there from here on.
    if (!row || !family || !grant) throw new Error('unreachable: rotation decided without its rows');
    const rotated: RotatedGrant = {
      userId: grant.userId,
      liveMode: family.liveMode,
      publicKey: grant.publicKey,
    };
    const subject = { userId: grant.userId, clientId: grant.clientId, familyId: family.id };

    if (decision.action === 'rotate') {
      const access = { ...args.access, scope: decision.accessScope };
      const pair = this.#insertPair(
        family.id,
        grant.clientId,
        grant.userId,
        family.liveMode,
        access,
        args.refresh,
      );
      row.rotatedAt = args.now;
      row.successorRefreshId = pair.refreshTokenId;
      row.successorAccessId = pair.accessTokenId;
      row.replaySeal = Buffer.from(args.replaySeal);
      this.#record('refresh.rotated', args.now, args.audit, subject);
      return {
        outcome: 'rotated',
        ...pair,
        ...rotated,
        access: { scope: access.scope, issuedAt: access.issuedAt, expiresAt: access.expiresAt },
      };
    }
    if (decision.action === 'replay' && successor && successorAccess && row.replaySeal) {
      this.#record('refresh.replayed', args.now, args.audit, subject);
      return {
        outcome: 'replayed',
        replaySeal: Buffer.from(row.replaySeal),
        ...rotated,
        accessTokenId: successorAccess.id,
        refreshTokenId: successor.id,
        access: {
          scope: successorAccess.scope,
          issuedAt: successorAccess.issuedAt,
          expiresAt: successorAccess.expiresAt,
        },
      };
    }
    this.#revokeFamily(family.id, args.now);
    this.#record('refresh.reused', args.now, args.audit, subject);
    return { outcome: 'reused', familyId: family.id };
  }

  async issueClientCredentialsToken(
    token: NewClientCredentialsToken,
    audit?: AuditContext,
  ): Promise<{ accessTokenId: number }> {
    this.#open();
    const row = this.#access.insert({
      ...copy(token),
      familyId: null,
      revokedAt: null,
      issuingSecretId: token.issuingSecretId ?? null,
    });
    this.#record('client_credentials.issued', token.issuedAt, audit, {
      userId: token.userId,
      clientId: token.clientId,
    });
    return { accessTokenId: row.id };
  }

  async findAccessToken(id: number): Promise<AccessTokenRecord | null> {
    this.#open();
    const row = this.#access.get(id);
    if (!row) return null;
    const family = this.#families.get(row.familyId);
    return copy({
      id: row.id,
      hash: row.hash,
      clientId: row.clientId,
      userId: row.userId,
      scope: row.scope,
      liveMode: row.liveMode,
      kind: row.familyId === null ? 'client_credentials' : 'user',
      issuedAt: row.issuedAt,
      expiresAt: row.expiresAt,
      revoked: row.revokedAt !== null || (family?.revokedAt ?? null) !== null,
      issuingSecretId: row.issuingSecretId,
      familyId: row.familyId,
    });
  }

  async revokeAccessToken(id: number, now: number, audit?: AuditContext): Promise<void> {
    this.#open();
    const row = this.#access.get(id);
    if (!row || row.revokedAt !== null) return;
    row.revokedAt = now;
    this.#record('token.revoked', now, audit, {
      userId: row.userId,
      clientId: row.clientId,
      familyId: row.familyId,
    });
  }

  async revokeFamily(familyId: number, now: number, audit?: AuditContext): Promise<void> {
    this.#open();
    const family = this.#families.get(familyId);
    const grant = this.#grants.get(family?.grantId);
    if (!family || !grant || family.revokedAt !== null) return;
    this.#revokeFamily(familyId, now);
    this.#record('family.revoked', now, audit, { userId: grant.userId, clientId: grant.clientId, familyId });
  }

  async revokeGrant(
    clientId: string,
    userId: number,
    now: number,
    event?: NewWebhookEvent,
    audit?: AuditContext,
  ): Promise<boolean> {
    this.#open();
    const grant = this.#grantOf(clientId, userId);
    if (!grant || grant.revokedAt !== null) return false;
    grant.revokedAt = now;
    for (const family of this.#families.rows.values()) {
      if (family.grantId === grant.id && family.revokedAt === null) family.revokedAt = now;
    }
    for (const code of this.#codes.rows.values()) {
      if (code.grantId === grant.id && code.usedAt === null) code.usedAt = now;
    }
    if (event) this.#appendEvent(event);
    this.#record('grant.revoked', now, audit, { userId, clientId });
    return true;
  }

  async findGrant(clientId: string, userId: number): Promise<GrantRecord | null> {
    this.#open();
    const grant = this.#grantOf(clientId, userId);
    if (!grant) return null;
    const { id: _id, publicKey: _key, ...record } = grant;
    return copy(record);
  }

  async listGrants(
    filter: { clientId?: string | undefined; userId?: number | undefined } & Page<number>,
  ): Promise<ListedGrant[]> {
    this.#open();
    const after = filter.after ?? 0;
    return [...this.#grants.rows.values()]
      .filter(
        (grant) =>
          grant.id > after &&
          (filter.clientId === undefined || grant.clientId === filter.clientId) &&
          (filter.userId === undefined || grant.userId === filter.userId),
      )
      .sort((a, b) => a.id - b.id)
      .slice(0, filter.limit)
      .map(({ publicKey: _key, ...grant }) => copy(grant));
  }

  async listActiveGrantsOfUser(userId: number): Promise<SellerGrantRecord[]> {
    this.#open();
    return [...this.#grants.rows.values()]
      .filter((grant) => grant.userId === userId && grant.revokedAt === null)
      .sort((a, b) => b.updatedAt - a.updatedAt || b.id - a.id)
      .flatMap((grant) => {
        const app = this.#applications.get(grant.clientId);
        return app
          ? [
              {
                clientId: grant.clientId,
                applicationName: app.name,
                scope: grant.scope,
                createdAt: grant.createdAt,
                updatedAt: grant.updatedAt,
                lastUsedAt: grant.lastUsedAt,
              },
            ]
          : [];
      });
  }

  async createSellerSession(session: NewSellerSession, audit?: AuditContext): Promise<void> {
    this.#open();
    for (const [key, existing] of this.#sessions) {
      if (existing.expiresAt <= session.createdAt) this.#sessions.delete(key);
    }
    this.#sessions.set(session.hash.toString('hex'), {
      userId: session.userId,
      expiresAt: session.expiresAt,
    });
    this.#record('seller.signed_in', session.createdAt, audit, { userId: session.userId });
  }

  async findSellerSession(hash: Buffer, now: number): Promise<{ userId: number; expiresAt: number } | null> {
    this.#open();
    const session = this.#sessions.get(hash.toString('hex'));
    return session && session.expiresAt > now ? { ...session } : null;
  }

  async deleteSellerSession(hash: Buffer, audit?: AuditContext): Promise<void> {
    this.#open();
    const key = hash.toString('hex');
    const session = this.#sessions.get(key);
    if (!session) return;
    this.#sessions.delete(key);
    this.#record('seller.signed_out', undefined, audit, { userId: session.userId });
  }

  async claimDueWebhookEvents(args: {
    now: number;
    leaseMs: number;
    limit: number;
  }): Promise<WebhookEventRecord[]> {
    this.#open();
    const due = [...this.#events.rows.values()]
      .filter(
        (event) =>
          event.status === 'pending' &&
          event.nextAttemptAt <= args.now &&
          (event.leaseUntil === null || event.leaseUntil <= args.now),
      )
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id)
      .slice(0, args.limit);
    for (const event of due) event.leaseUntil = args.now + args.leaseMs;
    return copy(due);
  }

  async recordWebhookAttempt(attempt: WebhookAttempt): Promise<boolean> {
    this.#open();
    const event = this.#events.get(attempt.id);
    if (event?.status !== 'pending') return false;
    event.attempts += 1;
    event.lastAttemptAt = attempt.at;
    event.lastStatus = attempt.httpStatus;
    event.lastError = attempt.error;
    event.leaseUntil = null;
    event.status = attempt.outcome === 'retry' ? 'pending' : attempt.outcome;
    if (attempt.outcome === 'retry') event.nextAttemptAt = attempt.nextAttemptAt ?? attempt.at;
    if (attempt.outcome === 'delivered') event.deliveredAt = attempt.at;
    return true;
  }

  async webhookQueueStats(): Promise<WebhookQueueStats> {
    this.#open();
    let pending = 0;
    let dead = 0;
    let oldest: number | null = null;
    for (const event of this.#events.rows.values()) {
      if (event.status === 'dead') dead += 1;
      if (event.status !== 'pending') continue;
      pending += 1;
      if (oldest === null || event.createdAt < oldest) oldest = event.createdAt;
    }
    return { pending, oldestPendingCreatedAt: oldest, dead };
  }

  async listWebhookEvents(args: ListWebhookEvents): Promise<WebhookEventRecord[]> {
    this.#open();
    return copy(
      [...this.#events.rows.values()]
        .filter(
          (event) =>
            (args.clientId === undefined || event.clientId === args.clientId) &&
            (args.status === undefined || event.status === args.status) &&
            (args.before === undefined || event.id < args.before),
        )
        .sort((a, b) => b.id - a.id)
        .slice(0, args.limit),
    );
  }

  async retryWebhookEvent(
    id: number,
    now: number,
    clientId?: string,
    audit?: AuditContext,
  ): Promise<boolean> {
    this.#open();
    const event = this.#events.get(id);
    if (!event || (clientId !== undefined && event.clientId !== clientId)) return false;
    if (event.status !== 'pending' && event.status !== 'dead') return false;
    event.status = 'pending';
    event.nextAttemptAt = now;
    event.leaseUntil = null;
    this.#record(
      'webhook.retried',
      now,
      audit,
      { userId: event.userId, clientId: event.clientId },
      `event ${id}`,
    );
    return true;
  }

  async appendAuditEvent(event: NewAuditEvent): Promise<void> {
    this.#open();
    if (!auditWritesOmitted()) this.#audit.insert(copy(event));
  }

  async listAuditEvents(query: AuditQuery): Promise<AuditEventRecord[]> {
    this.#open();
    return copy(
      [...this.#audit.rows.values()]
        .filter(
          (e) =>
            (query.userId === undefined || e.userId === query.userId) &&
            (query.clientId === undefined || e.clientId === query.clientId) &&
            (query.type === undefined || e.type === query.type) &&
            (query.since === undefined || e.at >= query.since) &&
            (query.beforeId === undefined || e.id < query.beforeId),
        )
        .sort((a, b) => b.id - a.id)
        .slice(0, query.limit),
    );
  }

  async purgeAuditEvents(args: { before: number; limit: number }): Promise<number> {
    this.#open();
    return this.#audit.purge(
      (e) => e.at < args.before,
      (e) => e.at,
      args.limit,
    );
  }

  async purgeExpired(args: PurgeExpired): Promise<PurgeResult> {
    this.#open();
    const byExpiry = (row: { expiresAt: number }) => row.expiresAt;
    const codes = this.#codes.purge((c) => c.expiresAt < args.now - args.codeGraceMs, byExpiry, args.limit);
    const accessTokens = this.#access.purge((a) => a.expiresAt < args.now, byExpiry, args.limit);
    const refreshTokens = this.#refresh.purge((r) => r.expiresAt < args.now, byExpiry, args.limit);
    const retention = args.webhookRetentionMs;
    const webhookEvents =
      retention === undefined
        ? 0
        : this.#events.purge(
            (e) => e.status !== 'pending' && e.createdAt < args.now - retention,
            (e) => e.id,
            args.limit,
          );
    const familyMs = args.familyRetentionMs;
    const families =
      familyMs === undefined
        ? undefined
        : this.#families.purge(
            (f) =>
              f.createdAt < args.now - familyMs &&
              ![...this.#refresh.rows.values()].some((r) => r.familyId === f.id) &&
              ![...this.#access.rows.values()].some((a) => a.familyId === f.id) &&
              ![...this.#codes.rows.values()].some((c) => c.familyId === f.id),
            (f) => f.id,
            args.limit,
          );
    const grantMs = args.revokedGrantRetentionMs;
    const grants =
      grantMs === undefined
        ? undefined
        : this.#grants.purge(
            (g) =>
              g.revokedAt !== null &&
              g.revokedAt < args.now - grantMs &&
              ![...this.#families.rows.values()].some((f) => f.grantId === g.id) &&
              ![...this.#codes.rows.values()].some((c) => c.grantId === g.id),
            (g) => g.revokedAt ?? 0,
            args.limit,
          );
    const sessionMs = args.sessionRetentionMs;
    let sessions: number | undefined;
    if (sessionMs !== undefined) {
      const doomed = [...this.#sessions.entries()]
        .filter(([, session]) => session.expiresAt < args.now - sessionMs)
        .sort((a, b) => a[1].expiresAt - b[1].expiresAt)
        .slice(0, args.limit);
      for (const [key] of doomed) this.#sessions.delete(key);
      sessions = doomed.length;
    }
    return withRetention(
      { codes, accessTokens, refreshTokens, webhookEvents },
      { families, grants, sessions },
      args.limit,
    );
  }
}
