import { UnauthorizedClientError } from '../errors.ts';
import { booleanParam, stringParam } from '../params.ts';
import { formatScope, narrowScope, scopeSet } from '../scopes.ts';
import { publicKey } from '../token-response.ts';
import { formatAccessToken, newValidator } from '../tokens.ts';
import type { GrantHandler } from './grant.ts';

/** RFC 6749 §4.4: the application's own token; its user is the application's owner. */
export const clientCredentialsGrant: GrantHandler = {
  grantType: 'client_credentials',
  required: [],
  async handle({ storage, clock, random, lifetimes, audit }, client, params) {
    // docs/api.md §4.2 form 3 (an access token as client_secret) exists for the mercadopago Java SDK's
    // code and refresh calls. Letting it mint client_credentials tokens made one leaked bearer
    // token a credential forever: each token minted the next, past any secret rotation (security
    // review #3). RFC 6749 §4.4.2: the client_credentials grant needs real client authentication.
    if (client.scheme === 'access_token') {
      throw new UnauthorizedClientError(
        'an access token cannot be used as client_secret to obtain a client_credentials token; authenticate with client_id and the client secret',
      );
    }
    const { app } = client;
    const now = clock.now();
    const liveMode = !booleanParam(params, 'test_token');
    const requestedScope = stringParam(params, 'scope');
    // No refresh token comes with this grant (RFC 6749 §4.4.3), so offline_access means nothing here.
    const ceiling = formatScope([...scopeSet(app.scope)].filter((s) => s !== 'offline_access'));
    const scope =
      requestedScope === undefined
        ? ceiling
        : narrowScope(requestedScope, ceiling, "the application's scopes");
    const access = newValidator(random);
    const expiresAt = now + lifetimes.clientCredentialsTokenSeconds * 1000;
    const { accessTokenId } = await storage.issueClientCredentialsToken(
      {
        hash: access.hash,
        scope,
        issuedAt: now,
        expiresAt,
        clientId: app.clientId,
        userId: app.ownerUserId,
        liveMode,
        // The secret that authenticated this request: as a form-3 secret the token lives no longer
        // than that secret does (core/client-auth.ts).
        issuingSecretId: client.secretId,
      },
      audit,
    );
    return {
      outcome: 'issued',
      response: {
        access_token: formatAccessToken({
          liveMode,
          clientId: app.clientId,
          issuedAt: now,
          id: accessTokenId,
          secret: access.secret,
          userId: app.ownerUserId,
        }),
        token_type: 'Bearer',
        expires_in: lifetimes.clientCredentialsTokenSeconds,
        scope,
        user_id: app.ownerUserId,
        public_key: publicKey(app.ownerPublicKey, liveMode),
        live_mode: liveMode,
      },
    };
  },
};
