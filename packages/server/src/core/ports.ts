/** Time and randomness come in through these ports so tests can control them. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export interface RandomSource {
  bytes(length: number): Buffer;
  uuid(): string;
}

export const systemClock: Clock = { now: () => Date.now() };
