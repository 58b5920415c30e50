import type Database from 'better-sqlite3';
import {
  type AccessTokenRecord,
  type ApplicationGrantsPage,
  type ApplicationPatch,
  type ApplicationRecord,
  type AuditContext,
  type AuditEventRecord,
  type AuditQuery,
  type AuthorizationCodeRecord,
  type ClientSecretRecord,
  type CreateTestUserOutcome,
  type ExchangeAuthorizationCode,
  type ExchangeOutcome,
  type GrantRecord,
  type GrantType,
  type GrantUse,
  type ListedGrant,
  type ListGrantsOfApplication,
  type ListWebhookEvents,
  type NewApplication,
  type NewAuditEvent,
  type NewAuthorizationCode,
  type NewClientCredentialsToken,
  type NewSellerSession,
  type NewTestUser,
  type NewUser,
  type NewWebhookEvent,
  type Page,
  type PurgeExpired,
  type PurgeResult,
  type RefreshTokenRecord,
  type RotateOutcome,
  type RotateRefreshToken,
  type SellerGrantRecord,
  type StoragePort,
  StorageUnavailableError,
  type TestUserRecord,
  type UserRecord,
  type WebhookAttempt,
  type WebhookEventRecord,
  type WebhookQueueStats,
  type WriterStats,
} from '../contract.ts';
import {
  type AccessTokenRow,
  type ApplicationGrantRow,
  type ApplicationRow,
  type AuthorizationCodeRow,
  type ClientSecretRow,
  type GrantRow,
  likePrefix,
  type RefreshTokenRow,
  type SellerGrantRow,
  type SellerSessionRow,
  searchedUserId,
  type TestUserRow,
  toAccessToken,
  toApplication,
  toApplicationGrant,
  toAuthorizationCode,
  toClientSecret,
  toGrant,
  toListedGrant,
  toRefreshToken,
  toSellerGrant,
  toSellerSession,
  toTestUser,
  toUser,
  toWebhookEvent,
  type UserRow,
  type WebhookEventRow,
} from '../rows.ts';
import { listAudit } from './audit.ts';
import { openConnection } from './connection.ts';
import { COMMIT_STATS } from './group-commit.ts';
import { SQLITE_MIGRATIONS } from './migrations.ts';
import { prepareStatements, type Statements } from './statements.ts';
import type { StepArgs, StepResult, WriteStepName } from './write-steps.ts';
import { InlineWriter, WorkerWriter, type Writer, type WriterStatus } from './writer.ts';

export interface SqliteStorageOptions {
  /** File path, or ':memory:' for tests that need no durability. */
  path: string;
  /**
   * `worker` (default for files): writes and their fsync run in a worker thread. `inline`: on the
   * calling thread, as short-lived CLI commands and ':memory:' databases need.
   */
  writer?: 'worker' | 'inline';
  /** The writer thread's script, for tests of a writer that cannot start (see WorkerWriter). */
  writerScript?: URL;
  /** How often in a row a dead writer thread is replaced before the storage gives up. Default 3. */
  maxWriterRestarts?: number;
}

/** SQLite error codes that mean "the storage is busy or broken", not "the request is wrong". */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|CORRUPT|NOTADB|PROTOCOL)/;

/**
 * The adapter's error classification: SQLITE_BUSY / SQLITE_LOCKED (still locked after the busy
 * timeout), SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR and the like become 503
 * `temporarily_unavailable` (docs/api.md §4.3, through StorageUnavailableError); anything else
 * propagates as is.
 */
export function toStorageError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.test(code)) {
    return new StorageUnavailableError('the token store is busy or unavailable; retry shortly', {
      cause: error,
      detail: `${code}: ${(error as Error).message}`,
    });
  }
  return error;
}

function unavailable(error: unknown): never {
  throw toStorageError(error);
}

/**
 * The embedded SQLite adapter: WAL, `synchronous=FULL`, writes group-committed by a writer (see
 * writer.ts and group-commit.ts). Reads run on this thread's own connection and see only committed
 * rows; every single-use decision is re-taken inside the write step.
 */
export class SqliteStorage implements StoragePort {
  readonly db: Database.Database;
  readonly #path: string;
  readonly #writerKind: 'worker' | 'inline';
  #writer: Writer | undefined;
  #statements: Statements | undefined;
  readonly #options: SqliteStorageOptions;
  readonly #writerListeners = new Set<(status: WriterStatus) => void>();

  constructor(options: SqliteStorageOptions) {
    this.#options = options;
    this.#path = options.path;
    this.#writerKind = options.path === ':memory:' ? 'inline' : (options.writer ?? 'worker');
    this.db = openConnection(options.path);
  }

  async migrate(): Promise<void> {
    const db = this.db;
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    // BEGIN IMMEDIATE serializes concurrent starters on one file: the second waits, then sees the
    // versions the first applied.
    db.transaction(() => {
      const applied = new Set(
        (db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map(
          (r) => r.version,
        ),
      );
      for (const migration of SQLITE_MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        db.exec(migration.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
          migration.version,
          migration.name,
          Date.now(),
        );
      }
    }).immediate();
    this.#statements = prepareStatements(db);
    this.#writer =
      this.#writerKind === 'worker'
        ? new WorkerWriter(this.#path, {
            script: this.#options.writerScript,
            maxRestarts: this.#options.maxWriterRestarts,
            onStatus: (status) => {
              for (const listener of this.#writerListeners) listener(status);
            },
          })
        : new InlineWriter(db);
    // A writer that cannot start (a missing module, an unwritable file) fails the start-up with its
    // reason, instead of a server that answers every write with 503 while it says it is ready.
    try {
      await this.#writer.probe();
    } catch (error) {
      throw new Error(`the SQLite writer cannot write to ${this.#path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /**
   * Tells `listener` when the writer thread stops unexpectedly, runs again, or cannot be restarted
   * (`failed`: every write is refused from then on; `renova serve` exits non-zero). Returns a
   * function that removes the listener.
   */
  watchWriter(listener: (status: WriterStatus) => void): () => void {
    this.#writerListeners.add(listener);
    return () => this.#writerListeners.delete(listener);
  }

  /** The writer thread when writes run in one: for diagnostics and for tests that stop it. */
  get writerThread() {
    return this.#writer instanceof WorkerWriter ? this.#writer.thread : undefined;
  }

  private get s(): Statements {
    if (!this.#statements) throw new Error('SqliteStorage.migrate() must run before use');
    return this.#statements;
  }

  /** A group-committed write step; storage failures become StorageUnavailableError. */
  #write<K extends WriteStepName>(name: K, args: StepArgs<K>): Promise<StepResult<K>> {
    if (!this.#writer) throw new Error('SqliteStorage.migrate() must run before use');
    return this.#writer.run(name, args).catch(unavailable);
  }

  /** A direct read; storage failures become StorageUnavailableError. */
  #read<T>(query: () => T): Promise<T> {
    try {
      return Promise.resolve(query());
    } catch (error) {
      return Promise.reject(error).catch(unavailable);
    }
  }

  /** Readiness: a read on this thread, and an empty write transaction in the writer. */
  async ping(): Promise<void> {
    await this.#read(() => this.s.ping.get());
    if (!this.#writer) throw new Error('SqliteStorage.migrate() must run before use');
    await this.#writer.probe().catch((error: unknown) => {
      throw new StorageUnavailableError(
        `the SQLite database cannot be written: ${(error as Error).message}`,
        {
          cause: error,
          detail: (error as { code?: string }).code,
        },
      );
    });
  }

  async close(): Promise<void> {
    await this.#writer?.close();
    if (this.db.open) this.db.close();
  }

  createUser(user: NewUser, audit?: AuditContext): Promise<UserRecord | null> {
    return this.#write('createUser', { ...user, audit });
  }

  findUserById(id: number): Promise<UserRecord | null> {
    return this.#read(() => {
      const row = this.s.userById.get(id) as UserRow | undefined;
      return row ? toUser(row) : null;
    });
  }

  findUserByEmail(email: string): Promise<UserRecord | null> {
    return this.#read(() => {
      const row = this.s.userByEmail.get(email) as UserRow | undefined;
      return row ? toUser(row) : null;
    });
  }

  listUsers(page: Page<number>): Promise<UserRecord[]> {
    return this.#read(() => (this.s.usersAfter.all(page.after ?? 0, page.limit) as UserRow[]).map(toUser));
  }

  updatePasswordHash(
    userId: number,
    previousHash: string,
    newHash: string,
    audit?: AuditContext,
  ): Promise<boolean> {
    return this.#write('updatePasswordHash', { userId, previousHash, newHash, audit });
  }

  createApplication(app: NewApplication, audit?: AuditContext): Promise<void> {
    return this.#write('createApplication', { ...app, audit });
  }

  findApplication(clientId: string): Promise<ApplicationRecord | null> {
    return this.#read(() => {
      const row = this.s.applicationById.get(clientId) as ApplicationRow | undefined;
      if (!row) return null;
      return toApplication(row, (this.s.secretsOf.all(clientId) as ClientSecretRow[]).map(toClientSecret));
    });
  }

  /** Two queries, whatever the number of applications: the owner's applications, then all their secrets. */
  listApplicationsByOwner(ownerUserId: number): Promise<ApplicationRecord[]> {
    return this.#read(() => {
      const apps = this.s.applicationsByOwner.all(ownerUserId) as ApplicationRow[];
      const secrets = new Map<string, ClientSecretRecord[]>(apps.map((a) => [a.client_id, []]));
      for (const secret of this.s.secretsOfOwner.all(ownerUserId) as Required<ClientSecretRow>[])
        secrets.get(secret.client_id)?.push(toClientSecret(secret));
      return apps.map((app) => toApplication(app, secrets.get(app.client_id) ?? []));
    });
  }

  /** Two queries per page, as listApplicationsByOwner: the applications, then all their secrets. */
  listApplications(page: Page<string>): Promise<ApplicationRecord[]> {
    return this.#read(() => {
      const after = page.after ?? '';
      const apps = this.s.applicationsAfter.all(after, page.limit) as ApplicationRow[];
      const secrets = new Map<string, ClientSecretRecord[]>(apps.map((a) => [a.client_id, []]));
      for (const secret of this.s.secretsOfApplicationsAfter.all(
        after,
        page.limit,
      ) as Required<ClientSecretRow>[])
        secrets.get(secret.client_id)?.push(toClientSecret(secret));
      return apps.map((app) => toApplication(app, secrets.get(app.client_id) ?? []));
    });
  }

  rotateClientSecret(
    clientId: string,
    hash: Buffer,
    overlapUntil: number,
    now: number,
    audit?: AuditContext,
  ): Promise<boolean> {
    return this.#write('rotateClientSecret', { clientId, hash, overlapUntil, now, audit });
  }

  updateApplicationGrantTypes(
    clientId: string,
    grantTypes: GrantType[],
    audit?: AuditContext,
  ): Promise<boolean> {
    return this.#write('updateApplicationGrantTypes', { clientId, grantTypes, audit });
  }

  replaceWebhookSecret(clientId: string, sealed: Buffer, audit?: AuditContext): Promise<boolean> {
    return this.#write('replaceWebhookSecret', { clientId, sealed, audit });
  }

  async updateApplication(
    clientId: string,
    patch: ApplicationPatch,
    audit?: AuditContext,
  ): Promise<ApplicationRecord | null> {
    if (!(await this.#write('updateApplication', { clientId, patch, audit }))) return null;
    return this.findApplication(clientId);
  }

  deleteApplication(clientId: string, now: number, audit?: AuditContext): Promise<boolean> {
    return this.#write('deleteApplication', { clientId, now, audit });
  }

  /** Two reads in one read transaction, so the page and the totals agree. */
  listGrantsOfApplication(args: ListGrantsOfApplication): Promise<ApplicationGrantsPage> {
    return this.#read(() =>
      this.db.transaction(() => {
        const filter = {
          clientId: args.clientId,
          pattern: args.search === undefined ? null : likePrefix(args.search),
          searchId: args.search === undefined ? null : searchedUserId(args.search),
        };
        const rows = this.s.grantsOfApplication.all({
          ...filter,
          cursor: args.cursor ?? Number.MAX_SAFE_INTEGER,
          testUsers: args.testUsers === undefined ? null : args.testUsers ? 1 : 0,
          limit: args.limit + 1,
        }) as ApplicationGrantRow[];
        const totals = this.s.grantTotalsOfApplication.get(filter) as { real: number; test: number };
        const page = rows.slice(0, args.limit);
        return {
          items: page.map(toApplicationGrant),
          nextCursor: rows.length > args.limit ? (page[page.length - 1]?.id ?? null) : null,
          totals: { real: totals.real, test: totals.test },
        };
      })(),
    );
  }

  touchGrantsLastUsed(uses: GrantUse[], coarseMs: number): Promise<void> {
    if (uses.length === 0) return Promise.resolve();
    return this.#write('touchGrantsLastUsed', { uses, coarseMs });
  }

  createTestUser(args: NewTestUser, audit?: AuditContext): Promise<CreateTestUserOutcome> {
    return this.#write('createTestUser', { ...args, audit });
  }

  listTestUsers(clientId: string): Promise<TestUserRecord[]> {
    return this.#read(() => (this.s.testUsersOf.all(clientId) as TestUserRow[]).map(toTestUser));
  }

  enqueueTestWebhookEvent(event: NewWebhookEvent): Promise<number | null> {
    return this.#write('enqueueTestWebhookEvent', event);
  }

  recordConsent(
    code: NewAuthorizationCode,
    onNewGrant?: NewWebhookEvent,
    audit?: AuditContext,
  ): Promise<{ codeId: number; grantCreated: boolean }> {
    return this.#write('recordConsent', { code, onNewGrant, audit });
  }

  findAuthorizationCode(id: number): Promise<AuthorizationCodeRecord | null> {
    return this.#read(() => {
      const row = this.s.codeById.get(id) as AuthorizationCodeRow | undefined;
      return row ? toAuthorizationCode(row) : null;
    });
  }

  exchangeAuthorizationCode(args: ExchangeAuthorizationCode): Promise<ExchangeOutcome> {
    return this.#write('exchangeAuthorizationCode', args);
  }

  findRefreshToken(id: number): Promise<RefreshTokenRecord | null> {
    return this.#read(() => {
      const row = this.s.refreshById.get(id) as RefreshTokenRow | undefined;
      return row ? toRefreshToken(row) : null;
    });
  }

  rotateRefreshToken(args: RotateRefreshToken): Promise<RotateOutcome> {
    return this.#write('rotateRefreshToken', args);
  }

  issueClientCredentialsToken(
    token: NewClientCredentialsToken,
    audit?: AuditContext,
  ): Promise<{ accessTokenId: number }> {
    return this.#write('issueClientCredentialsToken', { ...token, audit });
  }

  findAccessToken(id: number): Promise<AccessTokenRecord | null> {
    return this.#read(() => {
      const row = this.s.accessById.get(id) as AccessTokenRow | undefined;
      return row ? toAccessToken(row) : null;
    });
  }

  revokeAccessToken(id: number, now: number, audit?: AuditContext): Promise<void> {
    return this.#write('revokeAccessToken', { id, now, audit });
  }

  revokeFamily(familyId: number, now: number, audit?: AuditContext): Promise<void> {
    return this.#write('revokeFamily', { familyId, now, audit });
  }

  revokeGrant(
    clientId: string,
    userId: number,
    now: number,
    event?: NewWebhookEvent,
    audit?: AuditContext,
  ): Promise<boolean> {
    return this.#write('revokeGrant', { clientId, userId, now, event, audit });
  }

  listGrants(
    filter: { clientId?: string | undefined; userId?: number | undefined } & Page<number>,
  ): Promise<ListedGrant[]> {
    return this.#read(() => {
      const after = filter.after ?? 0;
      const s = this.s;
      const rows = (
        filter.clientId !== undefined && filter.userId !== undefined
          ? [s.grantOf.get(filter.clientId, filter.userId)].filter(
              (row) => row !== undefined && (row as GrantRow).id > after,
            )
          : filter.clientId !== undefined
            ? s.grantsOfClientAfter.all(filter.clientId, after, filter.limit)
            : filter.userId !== undefined
              ? s.grantsOfUserAfter.all(filter.userId, after, filter.limit)
              : s.grantsAfter.all(after, filter.limit)
      ) as GrantRow[];
      return rows.slice(0, filter.limit).map(toListedGrant);
    });
  }

  listActiveGrantsOfUser(userId: number): Promise<SellerGrantRecord[]> {
    return this.#read(() => (this.s.activeGrantsOfUser.all(userId) as SellerGrantRow[]).map(toSellerGrant));
  }

  createSellerSession(session: NewSellerSession, audit?: AuditContext): Promise<void> {
    return this.#write('createSellerSession', { ...session, audit });
  }

  findSellerSession(hash: Buffer, now: number): Promise<{ userId: number; expiresAt: number } | null> {
    return this.#read(() => {
      const row = this.s.sessionByHash.get(hash, now) as SellerSessionRow | undefined;
      return row ? toSellerSession(row) : null;
    });
  }

  deleteSellerSession(hash: Buffer, audit?: AuditContext): Promise<void> {
    return this.#write('deleteSellerSession', { hash, audit });
  }

  claimDueWebhookEvents(args: {
    now: number;
    leaseMs: number;
    limit: number;
  }): Promise<WebhookEventRecord[]> {
    return this.#write('claimDueWebhookEvents', args);
  }

  recordWebhookAttempt(attempt: WebhookAttempt): Promise<boolean> {
    return this.#write('recordWebhookAttempt', attempt);
  }

  webhookQueueStats(): Promise<WebhookQueueStats> {
    return this.#read(() => {
      const row = this.s.webhookQueueStats.get() as { pending: number; oldest: number | null; dead: number };
      return { pending: row.pending, oldestPendingCreatedAt: row.oldest, dead: row.dead };
    });
  }

  /**
   * The group commit's statistics, read on a metrics scrape (StoragePort.writerStats). Reading
   * resets the maxima, so each scrape sees those of its own interval.
   */
  writerStats(): WriterStats | undefined {
    const writer = this.#writer;
    if (!writer) return undefined;
    const s = writer.stats;
    const stats = {
      batches: s[COMMIT_STATS.batches] ?? 0,
      writes: s[COMMIT_STATS.writes] ?? 0,
      waitSeconds: s[COMMIT_STATS.waitSeconds] ?? 0,
      maxBatch: s[COMMIT_STATS.maxBatch] ?? 0,
      maxWaitSeconds: s[COMMIT_STATS.maxWaitSeconds] ?? 0,
      queueDepth: writer.queueDepth,
    };
    s[COMMIT_STATS.maxBatch] = 0;
    s[COMMIT_STATS.maxWaitSeconds] = 0;
    return stats;
  }

  listWebhookEvents(args: ListWebhookEvents): Promise<WebhookEventRecord[]> {
    const params = {
      status: args.status ?? null,
      before: args.before ?? Number.MAX_SAFE_INTEGER,
      limit: args.limit,
    };
    return this.#read(() =>
      (
        (args.clientId === undefined
          ? this.s.webhookEvents.all(params)
          : this.s.webhookEventsOfClient.all({ ...params, clientId: args.clientId })) as WebhookEventRow[]
      ).map(toWebhookEvent),
    );
  }

  retryWebhookEvent(id: number, now: number, clientId?: string, audit?: AuditContext): Promise<boolean> {
    return this.#write('retryWebhookEvent', { id, now, clientId, audit });
  }

  appendAuditEvent(event: NewAuditEvent): Promise<void> {
    return this.#write('appendAuditEvent', event);
  }

  listAuditEvents(query: AuditQuery): Promise<AuditEventRecord[]> {
    return this.#read(() => listAudit(this.db, query));
  }

  /** One bounded DELETE through the writer, like purgeExpired. */
  purgeAuditEvents(args: { before: number; limit: number }): Promise<number> {
    return this.#write('purgeAuditEvents', args);
  }

  /** Through the writer like every write: never holds the write lock across an await. */
  purgeExpired(args: PurgeExpired): Promise<PurgeResult> {
    return this.#write('purgeExpired', args);
  }

  findGrant(clientId: string, userId: number): Promise<GrantRecord | null> {
    return this.#read(() => {
      const row = this.s.grantOf.get(clientId, userId) as GrantRow | undefined;
      return row ? toGrant(row) : null;
    });
  }
}
