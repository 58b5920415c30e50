/**
 * Envelope sealing of seller tokens at rest (issue 14 item 2).
 *
 * A leaked database backup must not be every seller's account, so the keeper never hands a token
 * to the store in plaintext when it has a key ring. Each token string is encrypted with
 * AES-256-GCM under a random data key; the data key is itself wrapped by a key-encrypting key
 * from the ring (a local 32-byte key, or the integrator's KMS through async wrap/unwrap
 * callbacks) and travels inside the sealed value, with the id of the key that wrapped it:
 *
 *     rnv1:<key id>:<wrapped data key>:<iv>:<ciphertext ‖ tag>      (base64url parts)
 *
 * The key id lets old rows stay readable after a new key becomes current; `rotateKey()` re-seals
 * them. The additional authenticated data binds each value to the application, the seller and the
 * field, so a sealed blob copied onto another seller's row, another application's store or from
 * the refresh to the access column does not open. The seller id itself is not sealed, so lookups
 * by seller stay indexed.
 *
 * A data key is generated once per key id and reused for many values (one KMS wrap, not one per
 * write), then replaced after {@link DATA_KEY_MAX_USES} values to stay far below the 2^32
 * random-nonce limit of GCM (NIST SP 800-38D §8.3). Unwrapped data keys are cached, so reads cost
 * one KMS call per data key, not per row.
 *
 * @module
 */

import type * as NodeCrypto from 'node:crypto';
import { TokenSealingError } from './errors.ts';

// Loaded on first use, like the store drivers: importing the package in a browser (for `OAuth`
// and PKCE) must not pull in a `node:` module. Only a keeper with keys ever needs it.
let nodeCrypto: typeof NodeCrypto | undefined;
async function loadCrypto(): Promise<typeof NodeCrypto> {
  nodeCrypto ??= await import('node:crypto');
  return nodeCrypto;
}
const crypto = (): typeof NodeCrypto => nodeCrypto as typeof NodeCrypto;

/** A key-encrypting key held by the integrator's configuration: 32 bytes, or their base64/base64url. */
export interface LocalSealingKey {
  /** The key id written into every value it seals: 1–64 of `A-Z a-z 0-9 . _ -`. Never reuse an id for other key material. */
  id: string;
  /** 32 bytes of key material (for example `crypto.randomBytes(32)`, kept in a secret manager), or their base64. */
  key: Uint8Array | string;
}

/** A key-encrypting key held by a KMS: the keeper asks it to wrap and unwrap data keys. */
export interface KmsSealingKey {
  /** The key id written into every value it seals (same rules as {@link LocalSealingKey.id}). */
  id: string;
  /** Encrypts a 32-byte data key (e.g. AWS KMS `Encrypt`, GCP KMS `encrypt`, Vault transit). */
  wrapDataKey(dataKey: Uint8Array, context: { keyId: string }): Promise<Uint8Array>;
  /** Decrypts what {@link KmsSealingKey.wrapDataKey} returned. */
  unwrapDataKey(wrapped: Uint8Array, context: { keyId: string }): Promise<Uint8Array>;
}

/** One key of the ring. */
export type SealingKey = LocalSealingKey | KmsSealingKey;

/** The `sealing` option of `TokenKeeper`. */
export interface TokenSealingOptions {
  /** Every key that may have sealed a stored row; old keys stay here until `rotateKey()` has re-sealed their rows. */
  keys: SealingKey[];
  /** The key that seals new writes. Default: the first of `keys`. */
  currentKeyId?: string;
  /**
   * Accept plaintext rows written before sealing was turned on (and let `rotateKey()` seal them).
   * Default `false`: a plaintext row is an error, because anyone who can write the store could
   * otherwise plant a token that sealing would have refused. Turn it on for the migration only.
   */
  acceptUnsealed?: boolean;
}

/** Which token of a row a sealed value holds (part of the authenticated data). */
export type SealedField = 'access' | 'refresh';

/** How many values one data key seals before a fresh one is generated. */
export const DATA_KEY_MAX_USES = 1_000_000;
const PREFIX = 'rnv1:';
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const UNWRAP_CACHE_MAX = 1024;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const B64U = /^[A-Za-z0-9_-]*$/;

function keyMaterial(key: LocalSealingKey): Buffer {
  let bytes: Buffer;
  if (typeof key.key === 'string') {
    const s = key.key.trim();
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(s)) {
      throw new TypeError(
        `sealing key "${key.id}": the key string is not base64 (give 32 random bytes, base64-encoded)`,
      );
    }
    bytes = Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  } else if (key.key instanceof Uint8Array) {
    bytes = Buffer.from(key.key);
  } else {
    throw new TypeError(
      `sealing key "${key.id}": key must be 32 bytes (a Uint8Array/Buffer) or their base64`,
    );
  }
  if (bytes.length !== 32) {
    throw new TypeError(
      `sealing key "${key.id}": AES-256 needs exactly 32 bytes of key material, got ${bytes.length} (generate one with crypto.randomBytes(32))`,
    );
  }
  return bytes;
}

function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = crypto().randomBytes(IV_BYTES);
  const cipher = crypto().createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]);
}

/** @returns the plaintext, or `null` when the tag does not verify */
function gcmOpen(key: Buffer, sealed: Buffer, aad: Buffer): Buffer | null {
  if (sealed.length < IV_BYTES + TAG_BYTES) return null;
  const decipher = crypto().createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch {
    return null;
  }
}

interface Kek {
  id: string;
  wrap(dataKey: Buffer): Promise<Buffer>;
  /** @returns the data key, or `null` when this key does not open it */
  unwrap(wrapped: Buffer): Promise<Buffer | null>;
}

function toKek(key: SealingKey): Kek {
  const id = key.id;
  if ('key' in key) {
    const material = keyMaterial(key);
    const aad = Buffer.from(`renova-client/data-key/v1\nkey=${id}`);
    return {
      id,
      wrap: async (dataKey) => gcmSeal(material, dataKey, aad),
      unwrap: async (wrapped) => gcmOpen(material, wrapped, aad),
    };
  }
  if (typeof key.wrapDataKey !== 'function' || typeof key.unwrapDataKey !== 'function') {
    throw new TypeError(
      `sealing key "${id}": give either key (32 bytes) or both wrapDataKey and unwrapDataKey (a KMS)`,
    );
  }
  return {
    id,
    async wrap(dataKey) {
      let out: unknown;
      try {
        out = await key.wrapDataKey(new Uint8Array(dataKey), { keyId: id });
      } catch (error) {
        throw new TokenSealingError(
          'kms_error',
          `the KMS wrapDataKey of key "${id}" failed: ${(error as Error)?.message}`,
          {
            keyId: id,
            cause: error,
          },
        );
      }
      if (!(out instanceof Uint8Array) || out.length === 0) {
        throw new TokenSealingError(
          'kms_error',
          `the KMS wrapDataKey of key "${id}" must resolve to a non-empty Uint8Array`,
          {
            keyId: id,
          },
        );
      }
      return Buffer.from(out);
    },
    async unwrap(wrapped) {
      let out: unknown;
      try {
        out = await key.unwrapDataKey(new Uint8Array(wrapped), { keyId: id });
      } catch (error) {
        throw new TokenSealingError(
          'kms_error',
          `the KMS unwrapDataKey of key "${id}" failed: ${(error as Error)?.message}`,
          { keyId: id, cause: error },
        );
      }
      if (!(out instanceof Uint8Array) || out.length !== 32) {
        throw new TokenSealingError(
          'kms_error',
          `the KMS unwrapDataKey of key "${id}" must resolve to the 32-byte data key`,
          { keyId: id },
        );
      }
      return Buffer.from(out);
    },
  };
}

interface DataKey {
  key: Buffer;
  wrapped: Buffer;
  uses: number;
}

/** What {@link TokenSealer.inspect} finds in a stored string. */
export type SealState = { sealed: false } | { sealed: true; keyId: string };

/**
 * Seals and unseals token strings for one application. Without keys it only checks: a sealed value
 * read by a keeper that has no keys is an error, never a token sent to the server (which would
 * answer `invalid_grant` and cost the seller a re-authorization).
 */
export class TokenSealer {
  readonly #keks = new Map<string, Kek>();
  readonly #current: Kek | undefined;
  readonly #acceptUnsealed: boolean;
  readonly #clientId: string;
  #dataKey: Promise<DataKey> | undefined;
  readonly #unwrapped = new Map<string, Promise<Buffer>>();

  /**
   * @param options - the key ring, or `undefined` for a keeper without sealing
   * @param clientId - the application id, bound into every sealed value
   */
  constructor(options: TokenSealingOptions | undefined, clientId: string) {
    this.#clientId = clientId;
    this.#acceptUnsealed = options?.acceptUnsealed ?? false;
    if (options === undefined) return;
    if (!Array.isArray(options.keys) || options.keys.length === 0) {
      throw new TypeError(
        'sealing.keys must list at least one key ({ id, key } or a KMS { id, wrapDataKey, unwrapDataKey })',
      );
    }
    for (const k of options.keys) {
      if (typeof k?.id !== 'string' || !KEY_ID.test(k.id)) {
        throw new TypeError(
          `sealing key id ${JSON.stringify(k?.id)} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -`,
        );
      }
      if (this.#keks.has(k.id)) throw new TypeError(`sealing key id "${k.id}" appears twice in the key ring`);
      this.#keks.set(k.id, toKek(k));
    }
    const currentId = options.currentKeyId ?? (options.keys[0] as SealingKey).id;
    this.#current = this.#keks.get(currentId);
    if (this.#current === undefined) {
      throw new TypeError(`sealing.currentKeyId "${currentId}" is not one of the key ids in sealing.keys`);
    }
  }

  /** Whether new writes are sealed. */
  get enabled(): boolean {
    return this.#current !== undefined;
  }

  /** The key id new writes are sealed with, or `undefined` without sealing. */
  get currentKeyId(): string | undefined {
    return this.#current?.id;
  }

  /** Whether plaintext rows are accepted (migration). */
  get acceptUnsealed(): boolean {
    return this.#acceptUnsealed;
  }

  /** Tells whether a stored string is sealed, and with which key id (without decrypting). */
  inspect(stored: string): SealState {
    if (!stored.startsWith(PREFIX)) return { sealed: false };
    const keyId = stored.slice(PREFIX.length).split(':', 1)[0] as string;
    return { sealed: true, keyId };
  }

  #aad(userId: number, field: SealedField, keyId: string): Buffer {
    return Buffer.from(
      `renova-client/token/v1\nclient=${this.#clientId}\nuser=${userId}\nfield=${field}\nkey=${keyId}`,
    );
  }

  async #currentDataKey(kek: Kek): Promise<DataKey> {
    for (;;) {
      this.#dataKey ??= this.#newDataKey(kek);
      const pending = this.#dataKey;
      const dk = await pending;
      if (dk.uses < DATA_KEY_MAX_USES) {
        dk.uses++;
        return dk;
      }
      if (this.#dataKey === pending) this.#dataKey = undefined;
    }
  }

  #newDataKey(kek: Kek): Promise<DataKey> {
    const pending = (async () => {
      const key = crypto().randomBytes(32);
      const wrapped = await kek.wrap(key);
      this.#unwrapped.set(`${kek.id}:${b64u(wrapped)}`, Promise.resolve(key));
      return { key, wrapped, uses: 0 };
    })();
    // A failed KMS call must not poison every later write.
    pending.catch(() => {
      if (this.#dataKey === pending) this.#dataKey = undefined;
    });
    return pending;
  }

  /** Seals `plaintext` as the `field` token of seller `userId` (returns it unchanged without sealing). */
  async seal(userId: number, field: SealedField, plaintext: string): Promise<string> {
    const kek = this.#current;
    if (kek === undefined) return plaintext;
    await loadCrypto();
    const dk = await this.#currentDataKey(kek);
    const body = gcmSeal(dk.key, Buffer.from(plaintext, 'utf8'), this.#aad(userId, field, kek.id));
    return `${PREFIX}${kek.id}:${b64u(dk.wrapped)}:${b64u(body)}`;
  }

  /** Seals a possibly-null token. */
  async sealNullable(userId: number, field: SealedField, plaintext: string | null): Promise<string | null> {
    return plaintext === null ? null : this.seal(userId, field, plaintext);
  }

  async #unwrap(kek: Kek, wrappedB64: string, userId: number): Promise<Buffer> {
    const cacheKey = `${kek.id}:${wrappedB64}`;
    let p = this.#unwrapped.get(cacheKey);
    if (p === undefined) {
      p = (async () => {
        const key = await kek.unwrap(Buffer.from(wrappedB64, 'base64url'));
        if (key === null) {
          throw new TokenSealingError(
            'unseal_failed',
            `the token of seller ${userId} was sealed under key id "${kek.id}", but the key given with that id does not open it: the key ring holds different key material for "${kek.id}" (restore the original key), or the row was altered`,
            { userId, keyId: kek.id },
          );
        }
        return key;
      })();
      if (this.#unwrapped.size >= UNWRAP_CACHE_MAX) {
        this.#unwrapped.delete(this.#unwrapped.keys().next().value as string);
      }
      this.#unwrapped.set(cacheKey, p);
      p.catch(() => {
        if (this.#unwrapped.get(cacheKey) === p) this.#unwrapped.delete(cacheKey);
      });
    }
    return p;
  }

  /** Opens a stored string written by {@link TokenSealer.seal} (or a plaintext one, if accepted). */
  async unseal(userId: number, field: SealedField, stored: string): Promise<string> {
    const state = this.inspect(stored);
    if (!state.sealed) {
      if (this.#current === undefined || this.#acceptUnsealed) return stored;
      throw new TokenSealingError(
        'unsealed_token',
        `the stored ${field} token of seller ${userId} is not sealed, but this keeper seals tokens: if it was written before sealing was turned on, set sealing.acceptUnsealed and run keeper.rotateKey() once to seal old rows; otherwise the row was written by something else and must not be trusted`,
        { userId },
      );
    }
    const { keyId } = state;
    if (this.#current === undefined) {
      throw new TokenSealingError(
        'sealing_key_missing',
        `the stored token of seller ${userId} is sealed with key id "${keyId}", but this keeper has no sealing keys: pass sealing: { keys: [{ id: "${keyId}", key }] } to the TokenKeeper`,
        { userId, keyId },
      );
    }
    const kek = this.#keks.get(keyId);
    if (kek === undefined) {
      throw new TokenSealingError(
        'unknown_sealing_key',
        `the token of seller ${userId} was sealed with key id "${keyId}", which is not in the key ring (${[...this.#keks.keys()].map((k) => `"${k}"`).join(', ')}): add that key to sealing.keys`,
        { userId, keyId },
      );
    }
    const parts = stored.slice(PREFIX.length).split(':');
    const [, wrapped, body] = parts;
    if (parts.length !== 3 || !wrapped || !body || !B64U.test(wrapped) || !B64U.test(body)) {
      throw new TokenSealingError(
        'unseal_failed',
        `the sealed ${field} token of seller ${userId} (key id "${keyId}") is malformed: the row was altered or truncated`,
        { userId, keyId },
      );
    }
    await loadCrypto();
    const dataKey = await this.#unwrap(kek, wrapped, userId);
    const plaintext = gcmOpen(dataKey, Buffer.from(body, 'base64url'), this.#aad(userId, field, keyId));
    if (plaintext === null) {
      throw new TokenSealingError(
        'unseal_failed',
        `the sealed ${field} token of seller ${userId} does not open: it was sealed for another seller, another application or another field, or it was altered`,
        { userId, keyId },
      );
    }
    return plaintext.toString('utf8');
  }

  /** Opens a possibly-null token. */
  async unsealNullable(userId: number, field: SealedField, stored: string | null): Promise<string | null> {
    return stored === null ? null : this.unseal(userId, field, stored);
  }
}
