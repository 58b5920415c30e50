import type { StoragePort, TestUserRecord } from '../storage/contract.ts';
import { SITES } from './accounts.ts';
import { InvalidRequestError, NotFoundError } from './errors.ts';
import { isClientId } from './identifiers.ts';
import type { PasswordHasher } from './passwords.ts';
import type { Clock, RandomSource } from './ports.ts';

/** Mercado Pago's answer to `POST /users/test_user`; the password is shown this once. */
export interface CreatedTestUser {
  id: number;
  nickname: string;
  password: string;
  site_status: 'active';
  email: string;
  site_id: string;
}

/** Longest test user description. */
export const TEST_USER_DESCRIPTION_MAX = 255;

/** The application has as many test users as it may have. */
export class TestUserLimitError extends InvalidRequestError {
  readonly limit: number;
  constructor(limit: number) {
    super(
      limit === 0
        ? 'test users are turned off on this server (RENOVA_TEST_USERS_PER_APPLICATION=0)'
        : `this application already has ${limit} test users, the most it may have; reuse one of them (the developer portal lists them)`,
    );
    this.limit = limit;
  }
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Test users (Mercado Pago's `POST /users/test_user`): sandbox sellers an application creates for
 * itself, who sign in on the consent page like any seller. They are marked with the application
 * that created them, so that counts and lists never mix them with real sellers, and capped per
 * application (RENOVA_TEST_USERS_PER_APPLICATION) inside the storage step that creates them.
 */
export class TestUsers {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #passwords: PasswordHasher;
  readonly #limit: number;

  constructor(deps: {
    storage: StoragePort;
    clock: Clock;
    random: RandomSource;
    passwords: PasswordHasher;
    /** Most test users per application; 0 turns the feature off. */
    limit: number;
  }) {
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#passwords = deps.passwords;
    this.#limit = deps.limit;
  }

  get limit(): number {
    return this.#limit;
  }

  /**
   * Creates a test user of the application. `siteId` is one of Mercado Pago's sites (MLA, MLB,
   * …); the password is random (≥ 95 bits), stored only as its scrypt hash, and returned this once.
   */
  async create(
    clientId: string,
    input: { siteId: unknown; description?: unknown },
  ): Promise<CreatedTestUser> {
    const sites = Object.keys(SITES).join(', ');
    if (typeof input.siteId !== 'string' || input.siteId === '') {
      throw new InvalidRequestError(`site_id is required: one of ${sites}`);
    }
    if (!(input.siteId in SITES)) {
      const shown = input.siteId.length > 10 || CONTROL.test(input.siteId) ? '' : ` "${input.siteId}"`;
      throw new InvalidRequestError(`site_id${shown} is unknown; use one of ${sites}`);
    }
    const siteId = input.siteId;
    const description = input.description ?? '';
    if (typeof description !== 'string') throw new InvalidRequestError('description must be a string');
    if (description.length > TEST_USER_DESCRIPTION_MAX || CONTROL.test(description)) {
      throw new InvalidRequestError(
        `description must be at most ${TEST_USER_DESCRIPTION_MAX} characters, without control characters`,
      );
    }
    await this.#requireApplication(clientId);
    if (this.#limit === 0) throw new TestUserLimitError(0);
    // A cheap early answer that spares a password hash; the storage step is the real guard.
    if ((await this.#storage.listTestUsers(clientId)).length >= this.#limit) {
      throw new TestUserLimitError(this.#limit);
    }
    const password = this.#randomString(16);
    const passwordHash = await this.#passwords.hash(password);
    // Random names can collide (1 in 10^12 per pair): try again with new ones a few times.
    for (let attempt = 0; attempt < 3; attempt++) {
      const number = this.#randomDigits(12);
      const outcome = await this.#storage.createTestUser({
        clientId,
        description: description.trim(),
        limit: this.#limit,
        user: {
          // Mercado Pago's test users look like this: TESTUSER… at testuser.com.
          email: `test_user_${number}@testuser.com`,
          nickname: `TESTUSER${number}`,
          siteId,
          passwordHash,
          createdAt: this.#clock.now(),
        },
      });
      switch (outcome.outcome) {
        case 'created':
          return {
            id: outcome.user.id,
            nickname: outcome.user.nickname,
            password,
            site_status: 'active',
            email: outcome.user.email,
            site_id: outcome.user.siteId,
          };
        case 'limit_reached':
          throw new TestUserLimitError(this.#limit);
        case 'unknown_application':
          throw new NotFoundError(`application ${clientId} does not exist`);
        case 'email_taken':
          continue;
      }
    }
    throw new InvalidRequestError('could not pick a free test user name; try again');
  }

  /** The application's test users, oldest first (never their passwords). */
  async list(clientId: string): Promise<TestUserRecord[]> {
    await this.#requireApplication(clientId);
    return this.#storage.listTestUsers(clientId);
  }

  async #requireApplication(clientId: string): Promise<void> {
    if (!isClientId(clientId) || !(await this.#storage.findApplication(clientId))) {
      throw new NotFoundError(
        isClientId(clientId) ? `application ${clientId} does not exist` : 'client_id must be 16 digits',
      );
    }
  }

  /** Uniform over the alphabet: bytes ≥ 248 are rejected so that 62 divides the range. */
  #randomString(length: number): string {
    let out = '';
    while (out.length < length) {
      for (const byte of this.#random.bytes(length * 2)) {
        if (byte < 248 && out.length < length) out += ALPHANUMERIC[byte % 62];
      }
    }
    return out;
  }

  #randomDigits(length: number): string {
    let out = '';
    while (out.length < length) {
      for (const byte of this.#random.bytes(length * 2)) {
        if (byte < 250 && out.length < length) out += String(byte % 10);
      }
    }
    return out.replace(/^0/, '1');
  }
}
