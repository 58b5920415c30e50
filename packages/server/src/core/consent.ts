import type { ApplicationRecord, AuditContext, StoragePort } from '../storage/contract.ts';
import { type Applications, checkMayRequestCode } from './applications.ts';
import { appendAuditEvent } from './audit.ts';
import type { Lifetimes } from './config.ts';
import { InvalidRequestError, NotFoundError } from './errors.ts';
import { isClientId } from './identifiers.ts';
import { type CodeChallengeMethod, checkPkceRequest } from './pkce.ts';
import type { Clock, RandomSource } from './ports.ts';
import { formatScope, narrowScope } from './scopes.ts';
import { formatGrantToken, newValidator } from './tokens.ts';
import { webhookEventFor } from './webhooks.ts';

export interface AuthorizeInput {
  clientId: string;
  userId: number;
  redirectUri?: string | undefined;
  scope?: string | undefined;
  codeChallenge?: string | undefined;
  codeChallengeMethod?: string | undefined;
}

/**
 * A seller's consent: recording it with an authorization code (the consent page and the operator
 * path), and revoking it. Both queue the application's mp-connect webhook in the same step.
 */
export class Consent {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #lifetimes: Lifetimes;
  readonly #applications: Applications;
  readonly #webhooksEnqueued: () => void;

  constructor(deps: {
    storage: StoragePort;
    clock: Clock;
    random: RandomSource;
    lifetimes: Lifetimes;
    applications: Applications;
    /** Called after a webhook event was committed to the outbox, to wake the dispatcher. */
    onWebhookEnqueued?: () => void;
  }) {
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#lifetimes = deps.lifetimes;
    this.#applications = deps.applications;
    this.#webhooksEnqueued = deps.onWebhookEnqueued ?? (() => {});
  }

  /**
   * Records the seller's consent and issues an authorization code exactly as the consent page does
   * (docs/api.md §4.5 `POST /admin/authorizations`).
   */
  async authorize(
    input: AuthorizeInput,
    audit?: AuditContext,
  ): Promise<{ code: string; redirectUri: string }> {
    const app = await this.#applications.require(input.clientId);
    checkMayRequestCode(app);
    if (!(await this.#storage.findUserById(input.userId))) {
      throw new InvalidRequestError(`user ${input.userId} does not exist`);
    }
    const redirectUri = input.redirectUri ?? app.redirectUris[0];
    if (redirectUri === undefined || !app.redirectUris.includes(redirectUri)) {
      throw new InvalidRequestError(
        `redirect_uri must be one registered for the application: ${app.redirectUris.join(', ')}`,
      );
    }
    const scope =
      input.scope === undefined ? app.scope : narrowScope(input.scope, app.scope, "the application's scopes");
    const pkce = checkPkceRequest(input.codeChallenge, input.codeChallengeMethod, app.pkceRequired);
    const code = await this.issueCode({ app, userId: input.userId, redirectUri, scope, ...pkce, audit });
    return { code, redirectUri };
  }

  /**
   * Shared by the consent page and the operator path: the grant is recorded with the code, and an
   * `application.authorized` webhook is queued in the same transaction when the grant is new or was
   * revoked (a re-consent of an active grant is not news to the application).
   */
  async issueCode(args: {
    app: ApplicationRecord;
    userId: number;
    redirectUri: string;
    scope: string;
    codeChallenge: string | null;
    codeChallengeMethod: CodeChallengeMethod | null;
    /** Who consented (the seller) or recorded the consent (the operator). */
    audit?: AuditContext | undefined;
  }): Promise<string> {
    const now = this.#clock.now();
    const validator = newValidator(this.#random);
    const event = webhookEventFor(args.app, args.userId, 'application.authorized', now);
    const { codeId, grantCreated } = await this.#storage.recordConsent(
      {
        hash: validator.hash,
        clientId: args.app.clientId,
        userId: args.userId,
        redirectUri: args.redirectUri,
        scope: formatScope(args.scope.split(' ')),
        codeChallenge: args.codeChallenge,
        codeChallengeMethod: args.codeChallengeMethod,
        createdAt: now,
        expiresAt: now + this.#lifetimes.authorizationCodeSeconds * 1000,
        publicKey: this.#random.uuid(),
      },
      event,
      args.audit,
    );
    if (grantCreated && event) this.#webhooksEnqueued();
    return formatGrantToken('code', codeId, validator.secret, args.userId);
  }

  /**
   * Revokes the seller's authorization and every token of it (the account page, the admin API and
   * the CLI), queueing `application.deauthorized` in the same transaction.
   */
  async revokeGrant(clientId: string, userId: number, audit?: AuditContext): Promise<void> {
    const app = isClientId(clientId) ? await this.#storage.findApplication(clientId) : null;
    const now = this.#clock.now();
    const event = app ? webhookEventFor(app, userId, 'application.deauthorized', now) : undefined;
    if (!app || !(await this.#storage.revokeGrant(clientId, userId, now, event, audit))) {
      throw new NotFoundError(`user ${userId} has no active authorization for application ${clientId}`);
    }
    if (event) this.#webhooksEnqueued();
  }

  /**
   * The seller refused on the consent page: nothing changes but the audit trail, in its own small
   * write (RFC 6749 §4.1.2.1 `access_denied` is then sent to the application).
   */
  deny(clientId: string, userId: number, audit: AuditContext): Promise<void> {
    return appendAuditEvent(this.#storage, this.#clock, 'consent.denied', audit, { userId, clientId });
  }
}
