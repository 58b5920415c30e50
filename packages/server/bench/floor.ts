import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';

/**
 * The floor: the least a durable, rotating refresh can cost in Node with this design, for
 * `npm run bench -- --with-floor` to measure beside the ceiling and Renova in the same run. A
 * plain node:http server that authenticates the client by the SHA-256 of its secret, checks the
 * presented refresh token against the SHA-256 stored for it, draws and hashes a new pair, and
 * has a writer thread rotate it in SQLite (WAL, synchronous=FULL, one commit per batch, as
 * Renova's writer does: bench/floor-writer.cjs) before it answers Renova's eight fields.
 *
 * Everything else Renova does is left out on purpose: no framework, no audit trail, no replay
 * seal, no rate limits, no metrics, no request ids, no scope, grant or revocation checks, only
 * the parameters the load generator sends. So `Renova - floor` is what Renova's layering and
 * features cost per refresh, and `floor / ceiling` bounds what any implementation of this
 * pipeline reaches on the machine.
 *
 * `node --import tsx bench/floor.ts DB_PATH SELLERS CLIENT_ID CLIENT_SECRET [thread|inline]`. The
 * seeded refresh tokens are `TG-2{id as 15 hex digits}{32 zeros}-1` for ids 1..SELLERS
 * (bench/refresh.ts floorTokens). test/bench/floor.test.ts checks that it really rotates.
 */
const [path, sellerCount, clientId, clientSecret] = process.argv.slice(2) as [string, string, string, string];
const sha256 = (data: Buffer | string) => hash('sha256', data, 'buffer') as unknown as Buffer;
const clientSecretHash = sha256(clientSecret);
const ACCESS_SECONDS = 15_552_000;

const db = new Database(path);
db.pragma('journal_mode = WAL');
db.exec(`
  CREATE TABLE refresh_tokens (id INTEGER PRIMARY KEY, token_hash BLOB NOT NULL, issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, rotated_at INTEGER, successor_id INTEGER);
  CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
  CREATE TABLE access_tokens (id INTEGER PRIMARY KEY, token_hash BLOB NOT NULL, issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL);
  CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);
`);
const seed = db.prepare(
  'INSERT INTO refresh_tokens (id, token_hash, issued_at, expires_at) VALUES (?, ?, ?, ?)',
);
const zeros = Buffer.alloc(16);
db.transaction(() => {
  for (let id = 1; id <= Number(sellerCount); id++)
    seed.run(id, sha256(zeros), Date.now(), Date.now() + 1e12);
})();
db.close();

/**
 * The writer: a thread (Renova's design), or with `inline` the event loop itself, which then
 * blocks for each batch's statements and fsync but posts no message and wakes no thread.
 */
const inline = process.argv[6] === 'inline';
const writerScript = new URL('./floor-writer.cjs', import.meta.url);
const commitInline = inline
  ? (createRequire(import.meta.url)(fileURLToPath(writerScript)) as FloorWriterModule).openWriter(path)
  : undefined;
const writer = inline ? undefined : new Worker(writerScript, { workerData: { path } });
writer?.on('error', (error) => {
  process.stderr.write(`floor writer failed: ${error.stack}\n`);
  process.exit(1);
});

interface FloorWriterModule {
  openWriter(path: string): (steps: unknown[]) => number[];
}

interface Rotation {
  response: ServerResponse;
  refreshSecret: Buffer;
  accessSecret: Buffer;
  issuedAt: number;
}
/** Rotations waiting for the end of this loop turn, then batches the writer has not answered. */
let outbox: { steps: unknown[]; rotations: Rotation[] } | undefined;
const sent: Rotation[][] = [];

writer?.on('message', (answers: number[]) => settle(sent.shift() ?? [], answers));

function settle(rotations: Rotation[], answers: number[]): void {
  rotations.forEach((rotation, i) => {
    const refreshId = answers[2 * i] as number;
    const accessId = answers[2 * i + 1] as number;
    if (refreshId === 0) refuse(rotation.response, 'invalid_grant');
    else answer(rotation, refreshId, accessId);
  });
}

function hexPart(kind: string, id: number, secret: Buffer): string {
  return kind + id.toString(16).padStart(15, '0') + secret.toString('hex');
}

function answer(rotation: Rotation, refreshId: number, accessId: number): void {
  const d = new Date(rotation.issuedAt);
  const stamp =
    String(d.getUTCMonth() + 1).padStart(2, '0') +
    String(d.getUTCDate()).padStart(2, '0') +
    String(d.getUTCHours()).padStart(2, '0');
  const body = JSON.stringify({
    access_token: `APP_USR-${clientId}-${stamp}-${hexPart('3', accessId, rotation.accessSecret)}-1`,
    token_type: 'Bearer',
    expires_in: ACCESS_SECONDS,
    scope: 'offline_access read write',
    user_id: 1,
    refresh_token: `TG-${hexPart('2', refreshId, rotation.refreshSecret)}-1`,
    public_key: 'APP_USR-6c320ca9-0e25-4d0d-85e3-06bb5baee53e',
    live_mode: true,
  });
  rotation.response.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    pragma: 'no-cache',
  });
  rotation.response.end(body);
}

function refuse(response: ServerResponse, error: string): void {
  const body = JSON.stringify({ error });
  response.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(body);
}

function rotate(response: ServerResponse, presented: string): void {
  const hex = /^TG-([0-9a-f]{48})-1$/.exec(presented)?.[1];
  if (hex === undefined) {
    refuse(response, 'invalid_grant');
    return;
  }
  const id = Number.parseInt(hex.slice(1, 16), 16);
  const secrets = randomBytes(32);
  const rotation: Rotation = {
    response,
    accessSecret: secrets.subarray(0, 16),
    refreshSecret: secrets.subarray(16),
    issuedAt: Date.now(),
  };
  const steps = [
    id,
    sha256(Buffer.from(hex.slice(16), 'hex')).toString('latin1'),
    sha256(rotation.refreshSecret).toString('latin1'),
    sha256(rotation.accessSecret).toString('latin1'),
    rotation.issuedAt,
  ];
  if (outbox === undefined) {
    outbox = { steps: [], rotations: [] };
    setImmediate(() => {
      const batch = outbox as { steps: unknown[]; rotations: Rotation[] };
      outbox = undefined;
      if (commitInline) return settle(batch.rotations, commitInline(batch.steps));
      sent.push(batch.rotations);
      writer?.postMessage(batch.steps);
    });
  }
  outbox.steps.push(...steps);
  outbox.rotations.push(rotation);
}

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    let params: Record<string, unknown>;
    try {
      params = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      return refuse(response, 'invalid_request');
    }
    const secret = params.client_secret;
    if (
      params.client_id !== clientId ||
      typeof secret !== 'string' ||
      !timingSafeEqual(sha256(secret), clientSecretHash)
    ) {
      return refuse(response, 'invalid_client');
    }
    if (params.grant_type !== 'refresh_token' || typeof params.refresh_token !== 'string') {
      return refuse(response, 'unsupported_grant_type');
    }
    rotate(response, params.refresh_token);
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`floor listening on http://127.0.0.1:${port}\n`);
});
// Exits on the benchmark's SIGTERM through process.exit, so that --cpu-prof writes its profile.
process.on('SIGTERM', () => process.exit(0));
