import type { AuditContext, StoragePort, UserRecord } from '../storage/contract.ts';
import { InvalidRequestError } from './errors.ts';
import { PasswordHasher } from './passwords.ts';
import type { Clock } from './ports.ts';

/** Site ids of the markets Mercado Pago serves, with their country. */
export const SITES: Readonly<Record<string, string>> = {
  MLA: 'AR',
  MLB: 'BR',
  MLM: 'MX',
  MLC: 'CL',
  MCO: 'CO',
  MPE: 'PE',
  MLU: 'UY',
};

export interface CreateUserInput {
  email: string;
  password?: string | undefined;
  nickname?: string | undefined;
  siteId?: string | undefined;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Users (sellers and application owners): what the admin API and the CLI share. Every input is
 * validated here, so both front ends give the same messages.
 */
export class Accounts {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #passwords: PasswordHasher;

  constructor(deps: {
    storage: StoragePort;
    clock: Clock;
    /** Hashes new users' passwords (the OWASP scrypt parameters unless a test injects cheaper ones). */
    passwords?: PasswordHasher;
  }) {
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    this.#passwords = deps.passwords ?? new PasswordHasher();
  }

  /** The user with this login email (compared case-insensitively), or null. */
  findByEmail(email: string): Promise<UserRecord | null> {
    return this.#storage.findUserByEmail(email.trim());
  }

  async createUser(input: CreateUserInput, audit?: AuditContext): Promise<UserRecord> {
    const email = input.email.trim();
    if (!EMAIL.test(email)) throw new InvalidRequestError(`email "${input.email}" is not a valid address`);
    const siteId = (input.siteId ?? 'MLA').toUpperCase();
    if (!(siteId in SITES)) {
      throw new InvalidRequestError(
        `site_id "${input.siteId}" is unknown; use one of ${Object.keys(SITES).join(', ')}`,
      );
    }
    if (input.password !== undefined && input.password.length < 8) {
      throw new InvalidRequestError('password must be at least 8 characters');
    }
    const taken = () => new InvalidRequestError(`a user with email ${email} already exists`);
    // Checked first to spare a password hash; the insert itself is the guard against a race.
    if (await this.#storage.findUserByEmail(email)) throw taken();
    const nickname = input.nickname?.trim() || email.split('@')[0]?.toUpperCase() || 'SELLER';
    const user = await this.#storage.createUser(
      {
        email,
        nickname,
        siteId,
        passwordHash: input.password === undefined ? null : await this.#passwords.hash(input.password),
        createdAt: this.#clock.now(),
      },
      audit,
    );
    if (!user) throw taken();
    return user;
  }
}
