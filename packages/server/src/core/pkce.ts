import { createHash } from 'node:crypto';
import { InvalidGrantError, InvalidRequestError } from './errors.ts';
import { sameDigest } from './tokens.ts';

/**
 * RFC 7636 §4.1 `code-verifier = 43*128unreserved` and §4.2 `code-challenge = 43*128unreserved`,
 * `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`: one charset and length for both values.
 */
export const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;

export type CodeChallengeMethod = 'S256' | 'plain';

/** The challenge an authorization request carries, as recorded with the code. */
export interface CodeChallenge {
  codeChallenge: string | null;
  codeChallengeMethod: CodeChallengeMethod | null;
}

/**
 * RFC 7636 §4.3: `code_challenge_method` defaults to `plain`. An application registered with PKCE
 * required refuses a request without a challenge (docs/api.md §4.1), and accepts only S256: RFC 9700
 * §2.1.1 "Authorization servers MUST support PKCE ... [and] SHOULD use S256" — `plain` protects
 * nothing against an attacker who can read the authorization request, so it is no PKCE at all for
 * an application that asked to require it (security review #4).
 */
export function checkPkceRequest(
  challenge: string | undefined,
  method: string | undefined,
  required: boolean,
): CodeChallenge {
  if (challenge === undefined) {
    if (method !== undefined)
      throw new InvalidRequestError('code_challenge_method was sent without code_challenge');
    if (required) {
      throw new InvalidRequestError(
        'this application requires PKCE: send code_challenge and code_challenge_method=S256',
      );
    }
    return { codeChallenge: null, codeChallengeMethod: null };
  }
  const normalized = method === undefined ? 'plain' : method === 's256' ? 'S256' : method;
  if (normalized !== 'S256' && normalized !== 'plain') {
    throw new InvalidRequestError('code_challenge_method must be S256 or plain');
  }
  if (required && normalized !== 'S256') {
    throw new InvalidRequestError(
      method === undefined
        ? 'this application requires PKCE with S256: send code_challenge_method=S256 (without it the method is plain, which this application refuses; RFC 9700 §2.1.1)'
        : 'this application requires PKCE with S256: code_challenge_method=plain is refused; send the BASE64URL(SHA-256(code_verifier)) challenge with code_challenge_method=S256 (RFC 9700 §2.1.1)',
    );
  }
  if (!PKCE_VALUE.test(challenge)) {
    throw new InvalidRequestError(
      'code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.2)',
    );
  }
  return { codeChallenge: challenge, codeChallengeMethod: normalized };
}

/** RFC 7636 §4.6, and RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt. */
export function verifyPkce(
  challenge: string | null,
  method: CodeChallengeMethod | null,
  verifier: string | undefined,
): void {
  if (challenge === null) {
    if (verifier !== undefined) {
      throw new InvalidGrantError(
        'code_verifier was sent but the authorization request carried no code_challenge; omit code_verifier or restart with PKCE',
      );
    }
    return;
  }
  if (verifier === undefined) {
    throw new InvalidGrantError(
      'code_verifier is required: the authorization request carried a code_challenge',
    );
  }
  if (!PKCE_VALUE.test(verifier)) {
    throw new InvalidRequestError(
      'code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1)',
    );
  }
  const computed = method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
  const a = Buffer.from(computed);
  const b = Buffer.from(challenge);
  if (a.length !== b.length || !sameDigest(a, b)) {
    throw new InvalidGrantError(
      'code_verifier does not match the code_challenge of the authorization request',
    );
  }
}
