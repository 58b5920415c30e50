import {
  AUDIT_EVENT_TYPES,
  type AuditContext,
  type AuditEventRecord,
  type AuditEventType,
  type AuditSubject,
  type StoragePort,
} from '../storage/contract.ts';
import { InvalidRequestError } from './errors.ts';
import { isClientId, isUserId } from './identifiers.ts';
import type { Clock } from './ports.ts';

/** The event types, for the HTTP layer's API description (it does not import storage). */
export { AUDIT_EVENT_TYPES };

/**
 * The audit trail (docs/api.md §4.5): who did what to which seller, application or token family.
 * Events are written by the storage step of the change they record (storage/contract.ts
 * AuditContext); core only passes who asked, and appends the few events that have no change of
 * their own (a refused sign-in, a denied consent). It never sees or writes a token, code, secret
 * or password: events carry identifiers only.
 */

/** Where a request came from, as the HTTP layer knows it; the CLI has neither. */
export interface RequestOrigin {
  requestId: string | null;
  remoteAddress: string | null;
}

const NO_ORIGIN: RequestOrigin = { requestId: null, remoteAddress: null };

export const asSeller = (userId: number, origin: RequestOrigin = NO_ORIGIN): AuditContext => ({
  actor: 'seller',
  actorId: String(userId),
  ...origin,
});

export const asApplication = (clientId: string, origin: RequestOrigin = NO_ORIGIN): AuditContext => ({
  actor: 'application',
  actorId: clientId,
  ...origin,
});

/** The operator, through the admin API (with its request's origin) or the CLI. */
export const asOperator = (via: 'admin-api' | 'cli', origin: RequestOrigin = NO_ORIGIN): AuditContext => ({
  actor: 'operator',
  actorId: via,
  ...origin,
});

/** What the listing accepts, as text from a query string or a command line, or already typed. */
export interface AuditListInput {
  userId?: string | number | undefined;
  clientId?: string | undefined;
  type?: string | undefined;
  /** A duration back from now (`90s`, `30m`, `24h`, `7d`) or an ISO 8601 time (`2026-12-01T10:00:00Z`). */
  since?: string | undefined;
  /** `nextCursor` of the previous page. */
  cursor?: string | undefined;
  limit?: string | number | undefined;
}

export interface AuditPage {
  events: AuditEventRecord[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 200;
/** `since` reaches back at most this far: beyond any retention (RENOVA_AUDIT_RETENTION_DAYS). */
const SINCE_MAX_DAYS = 36_500;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^([1-9][0-9]{0,7})([smhd])$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;
/** A cursor is the id of the last event of the previous page, in decimal. */
const CURSOR = /^[1-9][0-9]{0,15}$/;

const isEventType = (value: string): value is AuditEventType =>
  (AUDIT_EVENT_TYPES as readonly string[]).includes(value);

/** `since` as epoch ms; refuses negatives, junk, and spans beyond SINCE_MAX_DAYS, saying what works. */
export function parseSince(value: string, now: number): number {
  const duration = DURATION.exec(value);
  if (duration) {
    const ms = Number(duration[1]) * UNIT_MS[duration[2] as keyof typeof UNIT_MS];
    if (ms > SINCE_MAX_DAYS * UNIT_MS.d) {
      throw new InvalidRequestError(
        `since reaches back more than ${SINCE_MAX_DAYS} days; use a shorter duration`,
      );
    }
    return now - ms;
  }
  if (ISO_TIME.test(value)) {
    const at = Date.parse(value);
    if (Number.isFinite(at) && at >= now - SINCE_MAX_DAYS * UNIT_MS.d && at <= now + UNIT_MS.d) return at;
  }
  throw new InvalidRequestError(
    'since must be a duration back from now, a positive whole number followed by s, m, h or d (e.g. 24h), or an ISO 8601 time with a zone (e.g. 2026-12-01T10:00:00Z) within the last 100 years',
  );
}

export class AuditTrail {
  readonly #storage: StoragePort;
  readonly #clock: Clock;

  constructor(storage: StoragePort, clock: Clock) {
    this.#storage = storage;
    this.#clock = clock;
  }

  /**
   * One page of events, newest first (keyset on the event id, so pages stay stable while events are
   * appended). Each filter is validated here, for the admin API, the CLI, the seller's activity
   * page and the developer portal alike; a wrong one is refused with what would be right.
   */
  async list(input: AuditListInput): Promise<AuditPage> {
    const query: Parameters<StoragePort['listAuditEvents']>[0] = { limit: AUDIT_PAGE_DEFAULT };
    if (input.userId !== undefined) {
      if (!isUserId(input.userId)) throw new InvalidRequestError('user_id must be a positive integer');
      query.userId = Number(input.userId);
    }
    if (input.clientId !== undefined) {
      if (!isClientId(input.clientId)) throw new InvalidRequestError('client_id must be 16 digits');
      query.clientId = input.clientId;
    }
    if (input.type !== undefined) {
      if (!isEventType(input.type)) {
        throw new InvalidRequestError(`type must be one of: ${AUDIT_EVENT_TYPES.join(', ')}`);
      }
      query.type = input.type;
    }
    if (input.since !== undefined) query.since = parseSince(input.since, this.#clock.now());
    if (input.cursor !== undefined) {
      if (!CURSOR.test(input.cursor) || !Number.isSafeInteger(Number(input.cursor))) {
        throw new InvalidRequestError('cursor must be the next_cursor of a previous page, unchanged');
      }
      query.beforeId = Number(input.cursor);
    }
    if (input.limit !== undefined) {
      const limit = Number(input.limit);
      if (!/^[0-9]{1,4}$/.test(String(input.limit)) || limit < 1 || limit > AUDIT_PAGE_MAX) {
        throw new InvalidRequestError(`limit must be a whole number from 1 to ${AUDIT_PAGE_MAX}`);
      }
      query.limit = limit;
    }
    // One more than asked: whether an older page exists, without a second query.
    const found = await this.#storage.listAuditEvents({ ...query, limit: query.limit + 1 });
    const events = found.slice(0, query.limit);
    const last = events[events.length - 1];
    return { events, nextCursor: found.length > query.limit && last ? String(last.id) : null };
  }

  /**
   * An event with no storage change of its own, in its own small atomic write. Awaited by the
   * caller: if it cannot be stored, the request fails like any write would (no event goes missing
   * silently, so there is no separate failure counter).
   */
  record(type: AuditEventType, context: AuditContext, subject: AuditSubject, detail?: string): Promise<void> {
    return appendAuditEvent(this.#storage, this.#clock, type, context, subject, detail);
  }
}

/** See AuditTrail.record; for the core services that hold the storage port themselves. */
export function appendAuditEvent(
  storage: StoragePort,
  clock: Clock,
  type: AuditEventType,
  context: AuditContext,
  subject: AuditSubject,
  detail?: string,
): Promise<void> {
  return storage.appendAuditEvent({
    at: clock.now(),
    type,
    actor: context.actor,
    actorId: context.actorId,
    userId: subject.userId ?? null,
    clientId: subject.clientId ?? null,
    familyId: subject.familyId ?? null,
    requestId: context.requestId,
    remoteAddress: context.remoteAddress,
    detail: detail ?? null,
  });
}
