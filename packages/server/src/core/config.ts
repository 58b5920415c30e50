/** Lifetimes and policy knobs (CONTRACT §3). All durations in seconds. */
export interface Lifetimes {
  accessTokenSeconds: number;
  refreshTokenSeconds: number;
  clientCredentialsTokenSeconds: number;
  authorizationCodeSeconds: number;
  /** Replay window after a rotation; 0 turns it off. */
  refreshGraceSeconds: number;
  clientSecretOverlapSeconds: number;
}

export const DEFAULT_LIFETIMES: Lifetimes = {
  accessTokenSeconds: 15_552_000,
  refreshTokenSeconds: 15_552_000,
  clientCredentialsTokenSeconds: 21_600,
  authorizationCodeSeconds: 600,
  refreshGraceSeconds: 60,
  clientSecretOverlapSeconds: 86_400,
};

/** Reads `RENOVA_*` overrides; a malformed value is an error, not a silent default. */
export function lifetimesFromEnv(env: NodeJS.ProcessEnv): Lifetimes {
  const read = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^[0-9]+$/.test(raw)) throw new Error(`${name} must be a whole number of seconds, got "${raw}"`);
    return Number(raw);
  };
  const d = DEFAULT_LIFETIMES;
  return {
    accessTokenSeconds: read('RENOVA_ACCESS_TOKEN_SECONDS', d.accessTokenSeconds),
    refreshTokenSeconds: read('RENOVA_REFRESH_TOKEN_SECONDS', d.refreshTokenSeconds),
    clientCredentialsTokenSeconds: read(
      'RENOVA_CLIENT_CREDENTIALS_TOKEN_SECONDS',
      d.clientCredentialsTokenSeconds,
    ),
    authorizationCodeSeconds: read('RENOVA_AUTHORIZATION_CODE_SECONDS', d.authorizationCodeSeconds),
    refreshGraceSeconds: read('RENOVA_REFRESH_GRACE_SECONDS', d.refreshGraceSeconds),
    clientSecretOverlapSeconds: read('RENOVA_CLIENT_SECRET_OVERLAP_SECONDS', d.clientSecretOverlapSeconds),
  };
}
