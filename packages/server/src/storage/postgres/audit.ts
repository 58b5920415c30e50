import type pg from 'pg';
import { auditWritesOmitted } from '../audit.ts';
import type {
  AuditQuery,
  ExchangeAuthorizationCode,
  NewAuditEvent,
  NewClientCredentialsToken,
  RotateRefreshToken,
} from '../contract.ts';
import { rotateRefresh } from './queries.ts';

/** The audit trail's statements (the counterpart of sqlite/audit.ts). */

const COLUMNS =
  'at, type, actor, actor_id, user_id, client_id, family_id, request_id, remote_address, detail';
const values = (e: NewAuditEvent) => [
  e.at,
  e.type,
  e.actor,
  e.actorId,
  e.userId,
  e.clientId,
  e.familyId,
  e.requestId,
  e.remoteAddress,
  e.detail,
];

/** Run inside the transaction of the change it records (adapter.ts): both commit or neither. */
export const insertAuditEvent = (event: NewAuditEvent): pg.QueryConfig => ({
  name: 'insert_audit_event',
  text: `INSERT INTO audit_events (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
  values: values(event),
});

/**
 * The refresh step and its event in ONE statement, so the hot path pays no extra round trip: the
 * CTE materializes renova_rotate_refresh's row once (a volatile function is never inlined), the
 * INSERT reads it, and both writes are the same statement's, committed together. Refused
 * presentations (invalid, revoked, ...) changed nothing and record nothing.
 */
export const rotateRefreshAudited = (
  args: RotateRefreshToken,
  event: Omit<NewAuditEvent, 'type' | 'userId' | 'familyId'>,
): pg.QueryConfig => {
  const rotation = rotateRefresh(args);
  if (auditWritesOmitted()) return rotation;
  const base = rotation.values ?? [];
  const n = base.length;
  const p = (i: number) => `$${n + i}`;
  return {
    name: 'rotate_refresh_audited',
    text: `WITH r AS (${rotation.text}),
       e AS (
         INSERT INTO audit_events (${COLUMNS})
         SELECT ${p(1)}::bigint, 'refresh.' || r.outcome, ${p(2)}, ${p(3)}, r.grant_user, ${p(4)}, r.family_id,
                ${p(5)}, ${p(6)}, NULL
         FROM r WHERE r.outcome IN ('rotated', 'replayed', 'reused'))
     SELECT * FROM r`,
    values: [
      ...base,
      event.at,
      event.actor,
      event.actorId,
      event.clientId,
      event.requestId,
      event.remoteAddress,
    ],
  };
};

/** One refresh of a batch and the context of its audit event (see rotateRefreshBatchAudited). */
export interface BatchedRotation {
  args: RotateRefreshToken;
  event: Omit<NewAuditEvent, 'type' | 'userId' | 'familyId'>;
}

/**
 * Several refreshes in ONE statement, hence one transaction and one WAL flush (adapter.ts
 * group-commits the rotations asked for in one loop turn). A commit of its own cost each refresh
 * more of PostgreSQL's CPU than the rotation itself (docs/performance.md): ~310 µs of backend CPU
 * per refresh alone, ~90 µs in statements of 16. Each element is the 13-argument
 * renova_rotate_refresh, called in array order (the caller sorts by token id, so concurrent batches
 * take their row locks in one order), with its audit event as in rotateRefreshAudited; each answer
 * row carries `ord`, the element's 1-based position. Every argument travels as an array
 * parameter, so the statement text is the same for every batch size and is prepared once.
 */
export const rotateRefreshBatchAudited = (batch: readonly BatchedRotation[]): pg.QueryConfig => {
  const column = <T>(pick: (r: BatchedRotation) => T) => batch.map(pick);
  const rotations = [
    column((r) => r.args.refreshTokenId),
    column((r) => r.args.presentedHash),
    column((r) => r.args.clientId),
    column((r) => r.args.requestedScope),
    column((r) => r.args.now),
    column((r) => r.args.graceMs),
    column((r) => r.args.access.hash),
    column((r) => r.args.access.issuedAt),
    column((r) => r.args.access.expiresAt),
    column((r) => r.args.refresh.hash),
    column((r) => r.args.refresh.issuedAt),
    column((r) => r.args.refresh.expiresAt),
    column((r) => r.args.replaySeal),
  ];
  const calls = `SELECT a.ord, x.* FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::text[],
           $5::bigint[], $6::bigint[], $7::bytea[], $8::bigint[], $9::bigint[], $10::bytea[],
           $11::bigint[], $12::bigint[], $13::bytea[])
         WITH ORDINALITY AS a(id, presented, client_id, scope, now, grace, a_hash, a_issued,
           a_expires, r_hash, r_issued, r_expires, seal, ord)
         CROSS JOIN LATERAL renova_rotate_refresh(a.id, a.presented, a.client_id, a.scope, a.now,
           a.grace, a.a_hash, a.a_issued, a.a_expires, a.r_hash, a.r_issued, a.r_expires, a.seal) x`;
  if (auditWritesOmitted()) {
    return { name: 'rotate_refresh_batch', text: `${calls} ORDER BY a.ord`, values: rotations };
  }
  return {
    name: 'rotate_refresh_batch_audited',
    text: `WITH r AS (${calls}),
       ev AS (
         SELECT * FROM unnest($14::bigint[], $15::text[], $16::text[], $17::text[], $18::text[],
           $19::text[]) WITH ORDINALITY AS ev(at, actor, actor_id, client_id, request_id,
           remote_address, ord)),
       e AS (
         INSERT INTO audit_events (${COLUMNS})
         SELECT ev.at, 'refresh.' || r.outcome, ev.actor, ev.actor_id, r.grant_user, ev.client_id,
                r.family_id, ev.request_id, ev.remote_address, NULL
         FROM r JOIN ev ON ev.ord = r.ord WHERE r.outcome IN ('rotated', 'replayed', 'reused'))
     SELECT * FROM r ORDER BY r.ord`,
    values: [
      ...rotations,
      column((r) => r.event.at),
      column((r) => r.event.actor),
      column((r) => r.event.actorId),
      column((r) => r.event.clientId),
      column((r) => r.event.requestId),
      column((r) => r.event.remoteAddress),
    ],
  };
};

/** A code exchange and who asked for it (its event's type and subject come from the function). */
export interface CodeExchange {
  args: ExchangeAuthorizationCode;
  event: Pick<NewAuditEvent, 'actor' | 'actorId' | 'requestId' | 'remoteAddress'>;
}

/** renova_exchange_code's arguments, in its order (migration 9), from one exchange. */
const exchangeArguments = ({ args, event }: CodeExchange) => [
  args.codeId,
  args.now,
  args.liveMode,
  args.access.hash,
  args.access.scope,
  args.access.issuedAt,
  args.access.expiresAt,
  args.refresh.hash,
  args.refresh.issuedAt,
  args.refresh.expiresAt,
  !auditWritesOmitted(),
  event.actor,
  event.actorId,
  event.requestId,
  event.remoteAddress,
];

/** One code exchange (RFC 6749 §4.1.3) and its audit event, in one round trip. */
export const exchangeCode = (exchange: CodeExchange): pg.QueryConfig => ({
  name: 'exchange_code',
  text: 'SELECT * FROM renova_exchange_code($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)',
  values: exchangeArguments(exchange),
});

/**
 * Several code exchanges in ONE statement (one commit), like rotateRefreshBatchAudited: every
 * argument an array, renova_exchange_code called in array order (the caller sorts by code id),
 * each answer row with `ord`, the element's 1-based position.
 */
export const exchangeCodes = (batch: readonly CodeExchange[]): pg.QueryConfig => {
  const rows = batch.map(exchangeArguments);
  const column = (i: number) => rows.map((row) => row[i]);
  return {
    name: 'exchange_codes',
    text: `SELECT a.ord, x.* FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::bytea[],
             $5::text[], $6::bigint[], $7::bigint[], $8::bytea[], $9::bigint[], $10::bigint[],
             $11::boolean[], $12::text[], $13::text[], $14::text[], $15::text[])
           WITH ORDINALITY AS a(code, now, live, a_hash, a_scope, a_issued, a_expires, r_hash,
             r_issued, r_expires, audit, actor, actor_id, request_id, remote, ord)
           CROSS JOIN LATERAL renova_exchange_code(a.code, a.now, a.live, a.a_hash, a.a_scope,
             a.a_issued, a.a_expires, a.r_hash, a.r_issued, a.r_expires, a.audit, a.actor,
             a.actor_id, a.request_id, a.remote) x
         ORDER BY a.ord`,
    values: Array.from({ length: 15 }, (_, i) => column(i)),
  };
};

/** One client_credentials token of a batch and its audit event (see insertClientTokensAudited). */
export interface BatchedClientToken {
  token: NewClientCredentialsToken;
  event: NewAuditEvent;
}

/**
 * Several client_credentials tokens and their events in ONE statement (one commit), like
 * rotateRefreshBatchAudited. INSERT … RETURNING promises no order, so each answer row is matched
 * to its element through the token's hash (32 random bytes, distinct per token) and carries `ord`,
 * the element's 1-based position.
 */
export const insertClientTokensAudited = (batch: readonly BatchedClientToken[]): pg.QueryConfig => {
  const column = <T>(pick: (b: BatchedClientToken) => T) => batch.map(pick);
  const tokens = [
    column((b) => b.token.hash),
    column((b) => b.token.clientId),
    column((b) => b.token.userId),
    column((b) => b.token.scope),
    column((b) => b.token.liveMode),
    column((b) => b.token.issuedAt),
    column((b) => b.token.expiresAt),
    column((b) => b.token.issuingSecretId ?? null),
  ];
  const insert = `WITH v AS (
         SELECT * FROM unnest($1::bytea[], $2::text[], $3::bigint[], $4::text[], $5::boolean[],
           $6::bigint[], $7::bigint[], $8::bigint[])
         WITH ORDINALITY AS v(hash, client_id, user_id, scope, live_mode, issued_at, expires_at,
           secret_id, ord)),
       c AS (
         INSERT INTO access_tokens (token_hash, family_id, client_id, user_id, scope, live_mode,
           issued_at, expires_at, issuing_secret_id)
         SELECT hash, NULL, client_id, user_id, scope, live_mode, issued_at, expires_at, secret_id
         FROM v ORDER BY ord
         RETURNING id, token_hash)`;
  const answer = 'SELECT v.ord, c.id FROM c JOIN v ON v.hash = c.token_hash ORDER BY v.ord';
  if (auditWritesOmitted()) {
    return { name: 'insert_cc_tokens', text: `${insert} ${answer}`, values: tokens };
  }
  const events = [
    column((b) => b.event.at),
    column((b) => b.event.type),
    column((b) => b.event.actor),
    column((b) => b.event.actorId),
    column((b) => b.event.userId),
    column((b) => b.event.clientId),
    column((b) => b.event.familyId),
    column((b) => b.event.requestId),
    column((b) => b.event.remoteAddress),
    column((b) => b.event.detail),
  ];
  return {
    name: 'insert_cc_tokens_audited',
    text: `${insert},
       e AS (
         INSERT INTO audit_events (${COLUMNS})
         SELECT * FROM unnest($9::bigint[], $10::text[], $11::text[], $12::text[], $13::bigint[],
           $14::text[], $15::bigint[], $16::text[], $17::text[], $18::text[]))
     ${answer}`,
    values: [...tokens, ...events],
  };
};

/**
 * `query` (an INSERT or UPDATE … RETURNING) and its event in one statement: one event per row the
 * statement changed, none when it changed nothing. For the token endpoint's client_credentials
 * issue, so that it pays no extra round trip either.
 */
export function withAuditEvent(query: pg.QueryConfig, event: NewAuditEvent): pg.QueryConfig {
  if (auditWritesOmitted()) return query;
  const base = query.values ?? [];
  const placeholders = values(event).map((_, i) => `$${base.length + i + 1}`);
  return {
    name: `${query.name}_audited`,
    text: `WITH c AS (${query.text}),
       e AS (INSERT INTO audit_events (${COLUMNS}) SELECT ${placeholders.join(', ')} FROM c)
     SELECT * FROM c`,
    values: [...base, ...values(event)],
  };
}

const FILTERS = [
  ['userId', 'user_id'],
  ['clientId', 'client_id'],
  ['type', 'type'],
  ['since', 'at', '>='],
  ['beforeId', 'id', '<'],
] as const;

/** Newest first; only the filters given, as plain comparisons the partial indexes serve. */
export function listAuditEvents(query: AuditQuery): pg.QueryConfig {
  const present = FILTERS.filter(([field]) => query[field] !== undefined);
  const where = present.map(([, column, op], i) => `${column} ${op ?? '='} $${i + 2}`);
  return {
    name: `list_audit_${present.map(([field]) => field).join('_') || 'all'}`,
    text: `SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $1`,
    values: [query.limit, ...present.map(([field]) => query[field])],
  };
}

/** Oldest first; SKIP LOCKED like the other purges, so instances purging at once split the work. */
export const purgeAuditEvents = (before: number, limit: number): pg.QueryConfig => ({
  name: 'purge_audit_events',
  text: `DELETE FROM audit_events WHERE id IN (
       SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
  values: [before, limit],
});

/** The revocations, sign-out and retry with the subject their event names (adapter.ts). */
export const revokeAccessReturning = (id: number, now: number): pg.QueryConfig => ({
  name: 'revoke_access_returning',
  text: `UPDATE access_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL
     RETURNING client_id, user_id, family_id`,
  values: [now, id],
});
export const revokeFamilyReturning = (familyId: number, now: number): pg.QueryConfig => ({
  name: 'revoke_family_returning',
  text: `UPDATE token_families f SET revoked_at = $1 FROM grants g
     WHERE f.id = $2 AND f.revoked_at IS NULL AND g.id = f.grant_id RETURNING g.client_id, g.user_id`,
  values: [now, familyId],
});
export const deleteSessionReturning = (hash: Buffer): pg.QueryConfig => ({
  name: 'delete_session_returning',
  text: 'DELETE FROM seller_sessions WHERE id_hash = $1 RETURNING user_id',
  values: [hash],
});
export const retryWebhookEventReturning = (id: number, now: number, clientId?: string): pg.QueryConfig => ({
  name: 'retry_webhook_event_returning',
  text: `UPDATE webhook_events SET status = 'pending', next_attempt_at = $1, lease_until = NULL
     WHERE id = $2 AND ($3::text IS NULL OR client_id = $3::text) AND status IN ('pending', 'dead')
     RETURNING client_id, user_id`,
  values: [now, id, clientId ?? null],
});
