import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import type { RandomSource } from './ports.ts';

/**
 * Secrets that Renova must be able to read back (webhook secrets) are stored sealed with
 * AES-256-GCM under a key derived by HKDF-SHA-256 from the server key. `purpose` separates keys per
 * use and is bound as associated data, so a sealed value cannot be moved to another column.
 */
export class Sealer {
  readonly #serverKey: Buffer;
  readonly #random: RandomSource;

  constructor(serverKey: Buffer, random: RandomSource) {
    if (serverKey.length < 32) throw new Error('the server key must be at least 32 bytes');
    this.#serverKey = serverKey;
    this.#random = random;
  }

  #key(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#serverKey, 'renova/seal/v1', purpose, 32));
  }

  /** A 32-byte key for `purpose`, derived from the server key (e.g. the CSRF token key). */
  deriveKey(purpose: string): Buffer {
    return this.#key(`key:${purpose}`);
  }

  seal(purpose: string, plaintext: string): Buffer {
    const iv = this.#random.bytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key(purpose), iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]);
  }

  open(purpose: string, sealed: Buffer): string {
    const decipher = createDecipheriv('aes-256-gcm', this.#key(purpose), sealed.subarray(0, 12));
    decipher.setAAD(Buffer.from(purpose));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([
      decipher.update(sealed.subarray(12, sealed.length - 16)),
      decipher.final(),
    ]).toString('utf8');
  }
}
