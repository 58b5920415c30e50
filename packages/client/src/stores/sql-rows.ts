/**
 * Row mapping shared by the SQL stores.
 *
 * @module
 */

import type { JournalEntry, StoredToken, TokenData, TokenStatus } from '../store.ts';

/** A `tokens` row as the SQL stores read it (column names are snake_case). */
export interface TokenRow {
  /** Seller. */
  user_id: number | string;
  /** Access token. */
  access_token: string;
  /** Refresh token. */
  refresh_token: string | null;
  /** Token type. */
  token_type: string;
  /** Scopes. */
  scope: string;
  /** Public key. */
  public_key: string | null;
  /** 0/1 or boolean. */
  live_mode: number | boolean;
  /** ms. */
  expires_at: number | string;
  /** ms or null. */
  refresh_at: number | string | null;
  /** CAS version. */
  version: number | string;
  /** Status. */
  status: string;
  /** Reason. */
  reason: string | null;
  /** ms. */
  updated_at: number | string;
}

/** A `journal` row. */
export interface JournalRow {
  /** Entry id. */
  id: string;
  /** Seller. */
  user_id: number | string;
  /** Version the refresh started from. */
  from_version: number | string;
  /** JSON of the {@link TokenData}. */
  token: string;
  /** ms. */
  received_at: number | string;
}

/** Converts a token row to a {@link StoredToken}. */
export function rowToToken(r: TokenRow): StoredToken {
  return {
    userId: Number(r.user_id),
    accessToken: r.access_token,
    refreshToken: r.refresh_token,
    tokenType: r.token_type,
    scope: r.scope,
    publicKey: r.public_key,
    liveMode: Boolean(r.live_mode),
    expiresAt: Number(r.expires_at),
    refreshAt: r.refresh_at === null ? null : Number(r.refresh_at),
    version: Number(r.version),
    status: r.status as TokenStatus,
    reason: r.reason,
    updatedAt: Number(r.updated_at),
  };
}

/** Converts a journal row to a {@link JournalEntry}. */
export function rowToJournal(r: JournalRow): JournalEntry {
  return {
    id: r.id,
    userId: Number(r.user_id),
    fromVersion: Number(r.from_version),
    token: JSON.parse(r.token) as TokenData,
    receivedAt: Number(r.received_at),
  };
}

/** Checks a table prefix is a plain SQL identifier fragment. */
export function checkPrefix(prefix: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix))
    throw new TypeError(`bad table prefix ${JSON.stringify(prefix)}`);
  return prefix;
}
