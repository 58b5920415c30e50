import { InvalidScopeError } from './errors.ts';

/** The scopes Renova knows, in the order responses list them (docs/api.md §3). */
export const ALL_SCOPES = ['offline_access', 'read', 'write'] as const;
export type Scope = (typeof ALL_SCOPES)[number];

const KNOWN = new Set<string>(ALL_SCOPES);

/** Canonical form: known scopes, deduplicated, in the order of docs/api.md §3, space-separated. */
export function formatScope(scopes: Iterable<string>): string {
  const set = new Set(scopes);
  return ALL_SCOPES.filter((s) => set.has(s)).join(' ');
}

export function scopeSet(scope: string): Set<string> {
  return new Set(scope.split(' ').filter((s) => s.length > 0));
}

/**
 * Parses a requested `scope` (RFC 6749 §3.3: space-delimited) and checks it is a subset of
 * `allowed`. Returns the canonical string. `what` names the ceiling in the error message.
 */
export function narrowScope(requested: string, allowed: string, what: string): string {
  const tokens = requested.split(/[ ,+]+/).filter((s) => s.length > 0);
  if (tokens.length === 0) {
    throw new InvalidScopeError(`scope is empty; send a space-separated subset of "${allowed}" or omit it`);
  }
  const unknown = tokens.filter((s) => !KNOWN.has(s));
  if (unknown.length > 0) {
    throw new InvalidScopeError(
      `unknown scope ${unknown.map((s) => `"${s}"`).join(', ')}; valid scopes are ${ALL_SCOPES.join(', ')}`,
    );
  }
  const ceiling = scopeSet(allowed);
  const outside = tokens.filter((s) => !ceiling.has(s));
  if (outside.length > 0) {
    throw new InvalidScopeError(
      `scope ${outside.map((s) => `"${s}"`).join(', ')} is outside ${what} ("${allowed}"); ask for a subset of it`,
    );
  }
  return formatScope(tokens);
}

export function hasScope(scope: string, wanted: Scope): boolean {
  return scopeSet(scope).has(wanted);
}
