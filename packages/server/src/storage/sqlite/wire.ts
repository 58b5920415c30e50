import type {
  AuditContext,
  ExchangeOutcome,
  NewClientCredentialsToken,
  RotateOutcome,
  RotateRefreshToken,
} from '../contract.ts';
import type { StepArgs, StepResult, WriteStepName } from './write-steps.ts';

/**
 * Flat encodings of the token endpoint's three write steps for the messages to and from the
 * SQLite writer thread (writer.ts). postMessage's structured clone pays per object and, above all,
 * per Buffer: each becomes an ArrayBuffer copied out and allocated again on the other side. A
 * refresh's arguments (five objects, four 32-byte Buffers) and its answer cost ~8 µs to clone and
 * ~1.5 µs as one array of numbers and latin1 strings (a string of bytes 0-255 holds a Buffer
 * exactly and is copied as one flat string). Every other step keeps the structured clone.
 *
 * Each codec lists every field of its type: a field added to the contract and not here would be
 * lost on the way, which test/storage/sqlite-wire.test.ts catches by comparing round trips of
 * fully filled values.
 */
type Wire = unknown[];

interface Codec<A, R> {
  encodeArgs(args: A): Wire;
  decodeArgs(wire: Wire): A;
  encodeResult(result: R): Wire;
  decodeResult(wire: Wire): R;
}

const bytes = (buffer: Buffer): string => buffer.toString('latin1');
const buffer = (text: unknown): Buffer => Buffer.from(text as string, 'latin1');

/** An optional AuditContext as six slots: present or not, then its fields (`at` may be absent: null). */
function encodeAudit(audit: AuditContext | undefined): Wire {
  if (audit === undefined) return [0, null, null, null, null, null];
  return [1, audit.actor, audit.actorId, audit.requestId, audit.remoteAddress, audit.at ?? null];
}

function decodeAudit(wire: Wire, at: number): AuditContext | undefined {
  if (wire[at] === 0) return undefined;
  const audit: AuditContext = {
    actor: wire[at + 1] as AuditContext['actor'],
    actorId: wire[at + 2] as string | null,
    requestId: wire[at + 3] as string | null,
    remoteAddress: wire[at + 4] as string | null,
  };
  if (wire[at + 5] !== null) audit.at = wire[at + 5] as number;
  return audit;
}

/** Sets `audit` only when there is one: `{ audit: undefined }` and `{}` are told apart by tests. */
function withAudit<T extends object>(
  value: T,
  audit: AuditContext | undefined,
): T & { audit?: AuditContext } {
  if (audit !== undefined) (value as T & { audit?: AuditContext }).audit = audit;
  return value;
}

type Rotated = Extract<RotateOutcome, { outcome: 'rotated' | 'replayed' }>;

const rotateRefreshToken: Codec<RotateRefreshToken, RotateOutcome> = {
  encodeArgs: (a) => [
    a.refreshTokenId,
    bytes(a.presentedHash),
    a.clientId,
    a.requestedScope,
    a.now,
    a.graceMs,
    bytes(a.access.hash),
    a.access.issuedAt,
    a.access.expiresAt,
    bytes(a.refresh.hash),
    a.refresh.issuedAt,
    a.refresh.expiresAt,
    bytes(a.replaySeal),
    ...encodeAudit(a.audit),
  ],
  decodeArgs: (w) =>
    withAudit(
      {
        refreshTokenId: w[0] as number,
        presentedHash: buffer(w[1]),
        clientId: w[2] as string,
        requestedScope: w[3] as string | null,
        now: w[4] as number,
        graceMs: w[5] as number,
        access: { hash: buffer(w[6]), issuedAt: w[7] as number, expiresAt: w[8] as number },
        refresh: { hash: buffer(w[9]), issuedAt: w[10] as number, expiresAt: w[11] as number },
        replaySeal: buffer(w[12]),
      },
      decodeAudit(w, 13),
    ),
  encodeResult: (r) => {
    switch (r.outcome) {
      case 'rotated':
      case 'replayed':
        return [
          r.outcome,
          r.accessTokenId,
          r.refreshTokenId,
          r.access.scope,
          r.access.issuedAt,
          r.access.expiresAt,
          r.userId,
          r.liveMode,
          r.publicKey,
          r.outcome === 'replayed' ? bytes(r.replaySeal) : null,
        ];
      case 'reused':
        return [r.outcome, r.familyId];
      case 'invalid':
        return [r.outcome, r.reason];
      case 'scope_not_granted':
        return [r.outcome, r.grantScope];
      default:
        return [r.outcome];
    }
  },
  decodeResult: (w) => {
    const outcome = w[0] as RotateOutcome['outcome'];
    switch (outcome) {
      case 'rotated':
      case 'replayed': {
        const pair: Omit<Rotated, 'outcome'> = {
          accessTokenId: w[1] as number,
          refreshTokenId: w[2] as number,
          access: { scope: w[3] as string, issuedAt: w[4] as number, expiresAt: w[5] as number },
          userId: w[6] as number,
          liveMode: w[7] as boolean,
          publicKey: w[8] as string,
        };
        return outcome === 'rotated' ? { outcome, ...pair } : { outcome, ...pair, replaySeal: buffer(w[9]) };
      }
      case 'reused':
        return { outcome, familyId: w[1] as number };
      case 'invalid':
        return { outcome, reason: w[1] as Extract<RotateOutcome, { outcome: 'invalid' }>['reason'] };
      case 'scope_not_granted':
        return { outcome, grantScope: w[1] as string };
      default:
        return { outcome } as RotateOutcome;
    }
  },
};

type ExchangeArgs = StepArgs<'exchangeAuthorizationCode'>;

const exchangeAuthorizationCode: Codec<ExchangeArgs, ExchangeOutcome> = {
  encodeArgs: (a) => [
    a.codeId,
    a.now,
    a.liveMode,
    bytes(a.access.hash),
    a.access.scope,
    a.access.issuedAt,
    a.access.expiresAt,
    bytes(a.refresh.hash),
    a.refresh.issuedAt,
    a.refresh.expiresAt,
    ...encodeAudit(a.audit),
  ],
  decodeArgs: (w) =>
    withAudit(
      {
        codeId: w[0] as number,
        now: w[1] as number,
        liveMode: w[2] as boolean,
        access: {
          hash: buffer(w[3]),
          scope: w[4] as string,
          issuedAt: w[5] as number,
          expiresAt: w[6] as number,
        },
        refresh: { hash: buffer(w[7]), issuedAt: w[8] as number, expiresAt: w[9] as number },
      },
      decodeAudit(w, 10),
    ),
  encodeResult: (r) =>
    r.outcome === 'issued'
      ? [r.outcome, r.familyId, r.accessTokenId, r.refreshTokenId, r.publicKey]
      : [r.outcome],
  decodeResult: (w) =>
    w[0] === 'issued'
      ? {
          outcome: 'issued',
          familyId: w[1] as number,
          accessTokenId: w[2] as number,
          refreshTokenId: w[3] as number,
          publicKey: w[4] as string,
        }
      : { outcome: w[0] as 'code_reused' | 'grant_revoked' },
};

type ClientTokenArgs = NewClientCredentialsToken & { audit?: AuditContext };

const issueClientCredentialsToken: Codec<ClientTokenArgs, { accessTokenId: number }> = {
  encodeArgs: (a) => [
    bytes(a.hash),
    a.scope,
    a.issuedAt,
    a.expiresAt,
    a.clientId,
    a.userId,
    a.liveMode,
    // Omitted (undefined, which a structured clone keeps in an array), null or an id.
    a.issuingSecretId,
    ...encodeAudit(a.audit),
  ],
  decodeArgs: (w) => {
    const token: ClientTokenArgs = {
      hash: buffer(w[0]),
      scope: w[1] as string,
      issuedAt: w[2] as number,
      expiresAt: w[3] as number,
      clientId: w[4] as string,
      userId: w[5] as number,
      liveMode: w[6] as boolean,
    };
    if (w[7] !== undefined) token.issuingSecretId = w[7] as number | null;
    return withAudit(token, decodeAudit(w, 8));
  },
  encodeResult: (r) => [r.accessTokenId],
  decodeResult: (w) => ({ accessTokenId: w[0] as number }),
};

const codecs: { [K in WriteStepName]?: Codec<StepArgs<K>, StepResult<K>> } = {
  rotateRefreshToken,
  exchangeAuthorizationCode,
  issueClientCredentialsToken,
};

/** A step's flat codec, as the writer and its thread use it (values untyped on the wire). */
export type WireCodec = Codec<unknown, unknown>;

/** The step's codec when its messages travel flat (its args and result are then arrays), else undefined. */
export function wireCodec(name: string): WireCodec | undefined {
  return Object.hasOwn(codecs, name) ? (codecs[name as WriteStepName] as unknown as WireCodec) : undefined;
}
