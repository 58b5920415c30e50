/** Lifetimes and policy knobs (docs/api.md §3). All durations in seconds. */
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
