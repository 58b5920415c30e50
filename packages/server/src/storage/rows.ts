import type { GrantType, UserRecord, WebhookEventRecord, WebhookStatus } from './contract.ts';

/** A row as both drivers return it: snake_case columns; times as epoch-ms numbers. */
export type Row = Record<string, unknown>;

/** Row mappers shared by the SQLite and PostgreSQL adapters, whose tables have the same columns. */
export const toWebhookEvent = (r: Row): WebhookEventRecord => ({
  id: r.id as number,
  clientId: r.client_id as string,
  userId: r.user_id as number,
  action: r.action as WebhookEventRecord['action'],
  url: r.url as string,
  createdAt: r.created_at as number,
  status: r.status as WebhookStatus,
  attempts: r.attempts as number,
  nextAttemptAt: r.next_attempt_at as number,
  leaseUntil: (r.lease_until as number | null) ?? null,
  lastAttemptAt: (r.last_attempt_at as number | null) ?? null,
  lastStatus: (r.last_status as number | null) ?? null,
  lastError: (r.last_error as string | null) ?? null,
  deliveredAt: (r.delivered_at as number | null) ?? null,
});

export const toUser = (r: Row): UserRecord => ({
  id: r.id as number,
  email: r.email as string,
  nickname: r.nickname as string,
  siteId: r.site_id as string,
  passwordHash: (r.password_hash as string | null) ?? null,
  createdAt: r.created_at as number,
});

/** Every grant type, in the order the column stores and responses list them. */
export const ALL_GRANT_TYPES: readonly GrantType[] = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
];

/** `grant_types` column (space-separated) → the list, in canonical order. */
export const toGrantTypes = (column: unknown): GrantType[] => {
  const stored = new Set(String(column ?? '').split(' '));
  return ALL_GRANT_TYPES.filter((g) => stored.has(g));
};
