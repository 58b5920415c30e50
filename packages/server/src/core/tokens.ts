import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import { isClientId } from './identifiers.ts';
import type { RandomSource } from './ports.ts';

/**
 * Token formats (docs/api.md §2) and how Renova keeps them at rest.
 *
 * Every code and token carries, inside its `{hex}` part, a non-secret *selector* (a one-digit kind
 * and the row id, so lookups walk an increasing integer key) and a 128-bit secret *validator*. Only
 * SHA-256(validator) is stored; it is compared in constant time. A database dump therefore holds no
 * usable token, and inserts append to the B-tree instead of scattering (docs/design.md "No plaintext at rest").
 */

export type TokenKind = 'code' | 'refresh' | 'access';

const KIND_DIGIT: Record<TokenKind, string> = { code: '1', refresh: '2', access: '3' };
const SELECTOR_ID_HEX = 15;
const VALIDATOR_BYTES = 16;
const HEX_LENGTH = 1 + SELECTOR_ID_HEX + VALIDATOR_BYTES * 2;
const HEX_RE = /^[0-9a-f]+$/;
const DECIMAL_RE = /^[1-9][0-9]{0,15}$/;

/** A freshly drawn secret half of a token, before the storage assigns the row id. */
export interface Validator {
  secret: Buffer;
  hash: Buffer;
}

export function newValidator(random: RandomSource): Validator {
  const secret = random.bytes(VALIDATOR_BYTES);
  return { secret, hash: sha256(secret) };
}

export function sha256(data: Buffer | string): Buffer {
  // The one-shot crypto.hash (Node ≥ 20.12) skips the Hash object: ~0.4 µs of the ~1.1 per call.
  return hash('sha256', data, 'buffer');
}

/** Constant-time comparison of two SHA-256 digests (or any equal-length buffers). */
export function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function hexPart(kind: TokenKind, id: number, secret: Buffer): string {
  return KIND_DIGIT[kind] + id.toString(16).padStart(SELECTOR_ID_HEX, '0') + secret.toString('hex');
}

/** The parsed, still unverified, parts of a presented token. */
export interface ParsedToken {
  kind: TokenKind;
  id: number;
  secret: Buffer;
  userId: number;
}

function parseHexPart(kind: TokenKind, hex: string | undefined): { id: number; secret: Buffer } | null {
  if (hex === undefined || hex.length !== HEX_LENGTH || !HEX_RE.test(hex)) return null;
  if (hex[0] !== KIND_DIGIT[kind]) return null;
  const id = Number.parseInt(hex.slice(1, 1 + SELECTOR_ID_HEX), 16);
  if (!Number.isSafeInteger(id) || id <= 0) return null;
  return { id, secret: Buffer.from(hex.slice(1 + SELECTOR_ID_HEX), 'hex') };
}

function parseUserId(text: string | undefined): number | null {
  if (text === undefined || !DECIMAL_RE.test(text)) return null;
  const userId = Number(text);
  return Number.isSafeInteger(userId) ? userId : null;
}

/** `TG-{hex}-{user_id}`: authorization codes and refresh tokens. */
export function formatGrantToken(
  kind: 'code' | 'refresh',
  id: number,
  secret: Buffer,
  userId: number,
): string {
  return `TG-${hexPart(kind, id, secret)}-${userId}`;
}

export function parseGrantToken(kind: 'code' | 'refresh', token: string): ParsedToken | null {
  const parts = token.split('-');
  if (parts.length !== 3 || parts[0] !== 'TG') return null;
  const hex = parseHexPart(kind, parts[1]);
  const userId = parseUserId(parts[2]);
  return hex && userId !== null ? { kind, ...hex, userId } : null;
}

/** `APP_USR-{client_id}-{MMddHH}-{hex}-{user_id}` (`TEST-` in test mode); MMddHH is the UTC issue time. */
export function formatAccessToken(args: {
  liveMode: boolean;
  clientId: string;
  issuedAt: number;
  id: number;
  secret: Buffer;
  userId: number;
}): string {
  const d = new Date(args.issuedAt);
  const stamp =
    String(d.getUTCMonth() + 1).padStart(2, '0') +
    String(d.getUTCDate()).padStart(2, '0') +
    String(d.getUTCHours()).padStart(2, '0');
  const prefix = args.liveMode ? 'APP_USR' : 'TEST';
  return `${prefix}-${args.clientId}-${stamp}-${hexPart('access', args.id, args.secret)}-${args.userId}`;
}

export interface ParsedAccessToken extends ParsedToken {
  clientId: string;
  liveMode: boolean;
}

export function parseAccessToken(token: string): ParsedAccessToken | null {
  const parts = token.split('-');
  if (parts.length !== 5) return null;
  const [prefix, clientId, stamp, hex, user] = parts;
  if (prefix !== 'APP_USR' && prefix !== 'TEST') return null;
  if (clientId === undefined || !isClientId(clientId) || stamp === undefined || !/^[0-9]{6}$/.test(stamp))
    return null;
  const parsed = parseHexPart('access', hex);
  const userId = parseUserId(user);
  if (!parsed || userId === null) return null;
  return { kind: 'access', ...parsed, userId, clientId, liveMode: prefix === 'APP_USR' };
}

/** True when the string has the shape of an access token (used to tell docs/api.md §4.2 auth form 3). */
export function looksLikeAccessToken(value: string): boolean {
  return value.startsWith('APP_USR-') || value.startsWith('TEST-');
}

/** `client_id`: 16 decimal digits, the first not zero. */
export function newClientId(random: RandomSource): string {
  const digits = random.bytes(16);
  let id = String(1 + ((digits[0] ?? 0) % 9));
  for (let i = 1; i < 16; i++) id += String((digits[i] ?? 0) % 10);
  return id;
}

const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * `client_secret`: 32 characters of [A-Za-z0-9], ~190 bits. Rejection sampling keeps every
 * character uniform (248 = 4 * 62 is the largest multiple of 62 below 256).
 */
export function newClientSecret(random: RandomSource): string {
  let secret = '';
  while (secret.length < 32) {
    for (const byte of random.bytes(48)) {
      if (byte < 248 && secret.length < 32) secret += SECRET_ALPHABET[byte % 62];
    }
  }
  return secret;
}

/**
 * The replay seal (docs/api.md §4.2 replay window). When a refresh token is rotated, the secret halves
 * of the new pair are stored encrypted under a key only the holder of the presented refresh token
 * can derive: presenting it again opens the first answer; a database dump alone reveals nothing.
 *
 * The cipher is a one-time pad from a PRF: seal = (accessSecret ‖ refreshSecret) XOR
 * HMAC-SHA-256(presentedSecret, "renova/replay/v2 refresh:<id>"). The key is the token's 128-bit
 * uniformly random secret (only its SHA-256 is stored), and each (secret, id) pair seals exactly one
 * payload: the rotation that stores it is the token's single successful one. So the pad is never
 * reused, and the seal is as strong as HMAC-SHA-256 is a PRF. No authentication tag is kept: a seal
 * altered by someone with write access to the database opens to secrets whose hashes match no row,
 * so the replayed tokens are simply refused; such an attacker could as well rewrite token hashes.
 * (AES-256-GCM with an HKDF key, the first version, cost ~24 µs per refresh in profiles, this ~4 µs.)
 */
export interface ReplayPayload {
  accessSecret: Buffer;
  refreshSecret: Buffer;
}

function replayPad(presentedSecret: Buffer, refreshId: number): Buffer {
  return createHmac('sha256', presentedSecret).update(`renova/replay/v2 refresh:${refreshId}`).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  // Buffer.alloc, not allocUnsafe: a slice of the shared 8 KiB pool would be copied whole, pool
  // and all, when the seal is posted to the SQLite writer thread (postMessage clones the backing
  // ArrayBuffer of a view).
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

export function sealReplay(presentedSecret: Buffer, refreshId: number, payload: ReplayPayload): Buffer {
  return xor(
    Buffer.concat([payload.accessSecret, payload.refreshSecret]),
    replayPad(presentedSecret, refreshId),
  );
}

export function openReplay(presentedSecret: Buffer, refreshId: number, sealed: Buffer): ReplayPayload | null {
  if (sealed.length !== VALIDATOR_BYTES * 2) return null;
  const plain = xor(sealed, replayPad(presentedSecret, refreshId));
  return { accessSecret: plain.subarray(0, VALIDATOR_BYTES), refreshSecret: plain.subarray(VALIDATOR_BYTES) };
}
