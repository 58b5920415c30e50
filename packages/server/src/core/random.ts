import { randomBytes, randomUUID } from 'node:crypto';
import type { RandomSource } from './ports.ts';

/**
 * CSPRNG-backed randomness. Token minting asks for 16-32 bytes per call; `randomBytes` for such
 * sizes costs a syscall-free copy out of OpenSSL's DRBG, so no pooling is needed.
 */
export const cryptoRandom: RandomSource = {
  bytes: (length) => randomBytes(length),
  uuid: () => randomUUID(),
};
