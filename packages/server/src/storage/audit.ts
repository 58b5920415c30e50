import type {
  AuditActor,
  AuditContext,
  AuditEventRecord,
  AuditEventType,
  AuditSubject,
  NewAuditEvent,
} from './contract.ts';

/**
 * The audit trail's shared pieces: the event a step writes and the row mapper, the same for every
 * adapter (their `audit_events` tables have the same columns, migration 6).
 */

/**
 * The event a step appends for its change. `at` is the step's own `now` when it has one, else the
 * context's time, else the storage's clock; without a context the actor is `system`.
 */
export function auditEvent(
  type: AuditEventType,
  at: number | undefined,
  context: AuditContext | undefined,
  subject: AuditSubject,
  detail: string | null = null,
): NewAuditEvent {
  return {
    at: at ?? context?.at ?? Date.now(),
    type,
    actor: context?.actor ?? 'system',
    actorId: context?.actorId ?? null,
    userId: subject.userId ?? null,
    clientId: subject.clientId ?? null,
    familyId: subject.familyId ?? null,
    requestId: context?.requestId ?? null,
    remoteAddress: context?.remoteAddress ?? null,
    detail,
  };
}

export interface AuditEventRow {
  id: number;
  at: number;
  type: AuditEventType;
  actor: AuditActor;
  actor_id: string | null;
  user_id: number | null;
  client_id: string | null;
  family_id: number | null;
  request_id: string | null;
  remote_address: string | null;
  detail: string | null;
}

export const toAuditEvent = (r: AuditEventRow): AuditEventRecord => ({
  id: Number(r.id),
  at: Number(r.at),
  type: r.type,
  actor: r.actor,
  actorId: r.actor_id ?? null,
  userId: r.user_id == null ? null : Number(r.user_id),
  clientId: r.client_id ?? null,
  familyId: r.family_id == null ? null : Number(r.family_id),
  requestId: r.request_id ?? null,
  remoteAddress: r.remote_address ?? null,
  detail: r.detail ?? null,
});

/**
 * Benchmark-only composition switch (bench/serve.ts `--audit off`): the A/B measurement of the audit
 * insert's cost on the refresh path. Nothing in the product sets it (no configuration, no
 * environment variable): the audit trail is always on in production. The SQLite writer thread gets
 * it through its workerData.
 */
let auditWritesOmittedForBenchmark = false;

export function omitAuditWritesForBenchmark(omit: boolean): void {
  auditWritesOmittedForBenchmark = omit;
}

export function auditWritesOmitted(): boolean {
  return auditWritesOmittedForBenchmark;
}
