// `npm run test:dist` (the last step of `npm test`): the packages as an integrator gets them, away
// from this checkout. It packs both workspaces, lints the tarballs (publint, Are The Types Wrong),
// installs them into empty projects in a temporary directory, and there
//   a. imports @renova/client from plain Node ESM, and asks each store for its missing driver;
//   b. type-checks a strict TypeScript consumer against the published declarations;
//   c. runs the installed `renova` binary FROM THAT DIRECTORY: --version, migrate, user and app
//      creation and a consent through the CLI, then serve, and completes code exchange, refresh
//      and client_credentials against it with the installed client, then a TokenKeeper on the
//      SQLite writer thread and a KeeperThread, both from the installed dist/.
// The server project is installed with the commands the Dockerfile's runtime stage runs.
// Third-party packages come from the npm cache when they are there (--prefer-offline); the one
// native addon is reused from this checkout when it is the same version (see below). About a minute.
import { execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'renova-dist-'));
const started = Date.now();
const npmInstall = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];
let failures = 0;
let passes = 0;

function step(name) {
  process.stdout.write(`test:dist: ${name} (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
}
function sh(command, args, cwd, env = {}) {
  return execFileSync(command, args, {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}
function check(name, condition, detail = '') {
  if (condition) passes += 1;
  else failures += 1;
  process.stdout.write(
    `${condition ? 'ok' : 'not ok'} - ${name}${condition || !detail ? '' : `: ${detail}`}\n`,
  );
}
function project(name, files) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

let server;
try {
  // 1. Pack (prepack builds each workspace) and lint what was packed.
  step('packing @renova/server and @renova/client');
  const packed = JSON.parse(
    sh(
      'npm',
      [
        'pack',
        '--workspace',
        '@renova/server',
        '--workspace',
        '@renova/client',
        '--pack-destination',
        work,
        '--json',
      ],
      repo,
    ),
  );
  const tarball = (name) => join(work, packed.find((p) => p.name === name).filename);
  for (const p of packed) {
    const files = p.files.map((f) => f.path);
    check(
      `${p.name} tarball has no tests, benchmarks or fixtures`,
      !files.some((f) => /(^|\/)(test|tests|bench|fixtures)\//.test(f) || /\.test\.[jt]s$/.test(f)),
      files.filter((f) => /test|bench|fixture/.test(f)).join(', '),
    );
    check(
      `${p.name} tarball has dist/index.js and dist/index.d.ts`,
      files.includes('dist/index.js') && files.includes('dist/index.d.ts'),
    );
  }
  for (const [name, dir] of [
    ['@renova/server', 'packages/server'],
    ['@renova/client', 'packages/client'],
  ]) {
    step(`publint and attw on ${name}`);
    sh(process.execPath, [join(repo, 'node_modules/publint/src/cli.js'), '--strict', dir], repo);
    check(`publint --strict passes for ${name}`, true);
    sh(
      process.execPath,
      [
        join(repo, 'node_modules/@arethetypeswrong/cli/dist/index.js'),
        tarball(name),
        '--profile',
        'esm-only',
      ],
      repo,
    );
    check(`attw --profile esm-only passes for ${name}`, true);
  }

  // 2. The client alone, without any store driver.
  step('installing @renova/client alone in an empty project');
  const clientProject = project('client-only', {
    'package.json': JSON.stringify({ name: 'integrator', private: true, type: 'module' }),
    'check.mjs': `
import * as client from '@renova/client';
const out = { exports: Object.keys(client).sort(), missing: {} };
const stores = {
  SqliteTokenStore: new client.SqliteTokenStore({ path: 'tokens.db' }),
  PostgresTokenStore: new client.PostgresTokenStore({ connectionString: 'postgres://127.0.0.1:1/x' }),
  RedisTokenStore: new client.RedisTokenStore({ url: 'redis://127.0.0.1:1' }),
};
for (const [name, store] of Object.entries(stores)) {
  try { await store.get(1); out.missing[name] = 'no error'; }
  catch (error) { out.missing[name] = { message: error.message, store: error instanceof client.StoreError }; }
}
const memory = new client.MemoryTokenStore();
out.memory = await memory.get(1);
out.pkce = client.createPkcePair().code_challenge_method ?? Object.keys(client.createPkcePair());
console.log(JSON.stringify(out));
`,
    'consumer.ts': `
import {
  MemoryTokenStore, OAuth, type OAuthResponse, PostgresTokenStore, RedisTokenStore, SqliteTokenStore,
  type TokenStore, TokenKeeper, createPkcePair, ReauthorizationRequiredError,
} from '@renova/client';

const oauth = new OAuth({ baseUrl: 'http://127.0.0.1:8080', timeout: 10_000 });
const stores: TokenStore[] = [
  new MemoryTokenStore(),
  new SqliteTokenStore({ path: 'tokens.db' }),
  new PostgresTokenStore({ connectionString: 'postgres://localhost/db' }),
  new RedisTokenStore({ url: 'redis://localhost' }),
];
const keeper = new TokenKeeper({ oauth, clientId: '1', clientSecret: 's', store: stores[0] as TokenStore });
export async function onboard(code: string): Promise<string> {
  const answer: OAuthResponse = await oauth.create({ body: { client_id: '1', client_secret: 's', code, redirect_uri: 'https://x' } });
  await keeper.save(answer.user_id as number, answer);
  const pair = createPkcePair();
  const url: string = oauth.getAuthorizationURL({ options: { client_id: '1', redirect_uri: 'https://x', state: pair.code_verifier } });
  try { return await keeper.getAccessToken(1); } catch (error) {
    if (error instanceof ReauthorizationRequiredError) return url;
    throw error;
  }
}
// @ts-expect-error: the declarations are precise, not any
const wrong: number = new OAuth({});
void wrong;
`,
    'tsconfig.json': JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        // What `tsc --init` writes: the drivers' own types (pg, ioredis) are absent without them.
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
      },
      files: ['consumer.ts'],
    }),
  });
  sh('npm', [...npmInstall, tarball('@renova/client'), 'typescript@~5.9', '@types/node@^20'], clientProject);
  const result = JSON.parse(sh(process.execPath, ['check.mjs'], clientProject));
  check(
    '@renova/client imports from plain Node ESM',
    result.exports.includes('TokenKeeper') && result.exports.includes('OAuth'),
  );
  check(
    'every store class is importable from the package root',
    ['MemoryTokenStore', 'PostgresTokenStore', 'RedisTokenStore', 'SqliteTokenStore'].every((s) =>
      result.exports.includes(s),
    ),
  );
  for (const [store, driver, range] of [
    ['SqliteTokenStore', 'better-sqlite3', '^12'],
    ['PostgresTokenStore', 'pg', '^8'],
    ['RedisTokenStore', 'ioredis', '^5'],
  ]) {
    const expected = `${store} needs the optional dependency ${driver}: npm install ${driver}@${range}`;
    check(
      `${store} names its missing driver on first use`,
      result.missing[store]?.message === expected && result.missing[store]?.store === true,
      JSON.stringify(result.missing[store]),
    );
  }
  check('the memory store needs no driver', result.memory === null);
  step('type-checking a strict TypeScript consumer');
  try {
    sh(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], clientProject);
    check('a strict TypeScript consumer type-checks against the declarations', true);
  } catch (error) {
    check('a strict TypeScript consumer type-checks against the declarations', false, String(error.stdout));
  }

  // 3. The server, installed as the Dockerfile's runtime stage does, run from its own directory.
  step('installing @renova/server (and the client) in an empty project, as the Dockerfile does');
  const serverProject = project('server', {
    'package.json': JSON.stringify({ name: 'operator', private: true, type: 'module' }),
  });
  sh(
    'npm',
    [...npmInstall, '--omit=dev', '--ignore-scripts', tarball('@renova/server'), tarball('@renova/client')],
    serverProject,
  );
  // better-sqlite3 is the one dependency with an install step: it compiles SQLite (two to three
  // minutes on two cores; the Dockerfile's build stage does it). The same version, compiled by this
  // checkout's `npm ci`, is reused; any other version is compiled here for real.
  const sqliteVersion = (dir) =>
    JSON.parse(readFileSync(join(dir, 'node_modules/better-sqlite3/package.json'), 'utf8')).version;
  const addon = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
  if (sqliteVersion(serverProject) === sqliteVersion(repo) && existsSync(join(repo, addon))) {
    mkdirSync(join(serverProject, addon, '..'), { recursive: true });
    copyFileSync(join(repo, addon), join(serverProject, addon));
  } else {
    sh('npm', ['rebuild', 'better-sqlite3'], serverProject);
  }
  const installed = JSON.parse(sh('npm', ['ls', '--all', '--json', '--omit=dev'], serverProject));
  const tree = JSON.stringify(installed);
  check('no tsx and no esbuild are installed with the server', !/"(tsx|esbuild)"/.test(tree));
  writeFileSync(
    join(serverProject, 'embed.mjs'),
    `import * as server from '@renova/server';
console.log(JSON.stringify(Object.keys(server).sort()));`,
  );
  const serverExports = JSON.parse(sh(process.execPath, ['embed.mjs'], serverProject));
  const entryPoint = [
    'buildApp',
    'createServer',
    'createServices',
    'startServer',
    'openStorage',
    'SqliteStorage',
  ];
  const entryTypes = ['PostgresStorage', 'OAuthError', 'TemporarilyUnavailableError', 'toErrorReply'];
  check(
    '@renova/server has a public entry point for embedding',
    [...entryPoint, ...entryTypes].every((name) => serverExports.includes(name)),
    serverExports.join(', '),
  );
  const renova = join(serverProject, 'node_modules/.bin/renova');
  const version = sh(renova, ['--version'], serverProject).trim();
  check(
    'renova --version prints the package version',
    version === packed.find((p) => p.name === '@renova/server').version,
    version,
  );
  const env = { RENOVA_DB: './data/renova.db', RENOVA_ADMIN_TOKEN: 'test-dist-admin-token-0123456789abcdef' };
  step('migrate, user create, app create, authorize from the other directory');
  check('renova migrate', /migrations applied/.test(sh(renova, ['migrate'], serverProject, env)));
  const owner = JSON.parse(
    sh(renova, ['user', 'create', '--email', 'owner@dist.test', '--json'], serverProject, env),
  );
  const seller = JSON.parse(
    sh(renova, ['user', 'create', '--email', 'seller@dist.test', '--json'], serverProject, env),
  );
  const app = JSON.parse(
    sh(
      renova,
      [
        'app',
        'create',
        '--name',
        'Dist',
        '--owner',
        String(owner.id),
        '--redirect-uri',
        'https://dist.test/cb',
        '--json',
      ],
      serverProject,
      env,
    ),
  );
  const consent = JSON.parse(
    sh(
      renova,
      ['authorize', '--client-id', app.client_id, '--user-id', String(seller.id), '--json'],
      serverProject,
      env,
    ),
  );

  step('renova serve from the other directory');
  server = spawn(renova, ['serve', '--port', '0'], {
    cwd: serverProject,
    env: { ...process.env, ...env, RENOVA_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stdout.on('data', (d) => {
    output += d;
  });
  server.stderr.on('data', (d) => {
    output += d;
  });
  const url = await new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`renova serve did not start:\n${output}`)), 20_000);
    server.stdout.on('data', () => {
      const match = /renova listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        done(match[1]);
      }
    });
    server.once('exit', (code) => fail(new Error(`renova serve exited with ${code}:\n${output}`)));
  });
  const ready = await fetch(`${url}/readyz`);
  check('/readyz is 200 from the installed server', ready.status === 200, await ready.text());

  step('code exchange, refresh and client_credentials with the installed client');
  writeFileSync(
    join(serverProject, 'flow.mjs'),
    `
import { OAuth } from '@renova/client';
const [url, clientId, clientSecret, code, redirectUri] = process.argv.slice(2);
const oauth = new OAuth({ baseUrl: url, timeout: 10_000 });
const tokens = await oauth.create({ body: { client_id: clientId, client_secret: clientSecret, code, redirect_uri: redirectUri } });
const refreshed = await oauth.refresh({ body: { client_id: clientId, client_secret: clientSecret, refresh_token: tokens.refresh_token } });
const own = await oauth.clientCredentials({ body: { client_id: clientId, client_secret: clientSecret } });
const me = await fetch(url + '/users/me', { headers: { authorization: 'Bearer ' + refreshed.access_token } });
console.log(JSON.stringify({ tokens, refreshed, own, me: me.status }));
`,
  );
  const answers = JSON.parse(
    sh(
      process.execPath,
      ['flow.mjs', url, app.client_id, app.client_secret, consent.code, consent.redirect_uri],
      serverProject,
    ),
  );
  check(
    'authorization code exchanged',
    /^APP_USR-/.test(answers.tokens.access_token) && /^TG-/.test(answers.tokens.refresh_token),
  );
  check(
    'refresh token rotated',
    /^TG-/.test(answers.refreshed.refresh_token) &&
      answers.refreshed.refresh_token !== answers.tokens.refresh_token,
  );
  check(
    'client_credentials token issued',
    /^APP_USR-/.test(answers.own.access_token) && !answers.own.refresh_token,
  );
  check('the refreshed access token works', answers.me === 200);

  step('TokenKeeper on SqliteTokenStore (writer thread from dist/) with the installed client');
  writeFileSync(
    join(serverProject, 'keeper.mjs'),
    `
import { OAuth, SqliteTokenStore, TokenKeeper } from '@renova/client';
const [url, clientId, clientSecret, answer] = process.argv.slice(2);
const tokens = JSON.parse(answer);
const store = new SqliteTokenStore({ path: 'keeper.db' });
const keeper = new TokenKeeper({ oauth: new OAuth({ baseUrl: url, timeout: 10_000 }), clientId, clientSecret, store });
await keeper.save(tokens.user_id, tokens);
const rotated = await keeper.refresh(tokens.user_id);
// A second connection on the calling thread: the writer thread's COMMIT is on disk.
const check = new SqliteTokenStore({ path: 'keeper.db', writerThread: false });
const stored = await check.get(tokens.user_id);
await check.close();
console.log(JSON.stringify({ old: tokens.refresh_token, rotated: rotated.refreshToken, stored: stored?.refreshToken, version: stored?.version }));
// No close() of the keeper's store on purpose: an idle writer thread must not keep the process alive.
`,
  );
  const kept = JSON.parse(
    execFileSync(
      process.execPath,
      ['keeper.mjs', url, app.client_id, app.client_secret, JSON.stringify(answers.refreshed)],
      { cwd: serverProject, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'inherit'] },
    ),
  );
  check(
    'the installed keeper rotates through the SQLite writer thread and the rotation is on disk',
    /^TG-/.test(kept.rotated) &&
      kept.rotated !== kept.old &&
      kept.stored === kept.rotated &&
      kept.version === 2,
    JSON.stringify(kept),
  );
  step('KeeperThread (worker from dist/) rotates a due seller with the installed client');
  writeFileSync(
    join(serverProject, 'thread-keeper.mjs'),
    `
import { OAuth, SqliteTokenStore, TokenKeeper } from '@renova/client';
export function createKeeper({ url, clientId, clientSecret }) {
  const store = new SqliteTokenStore({ path: 'keeper.db' });
  const keeper = new TokenKeeper({ oauth: new OAuth({ baseUrl: url, timeout: 10_000 }), clientId, clientSecret, store,
    scheduler: { intervalMs: 50, concurrency: 4, ratePerSecond: 100, perTurn: 8 } });
  return { keeper, close: () => store.close() };
}
`,
  );
  writeFileSync(
    join(serverProject, 'thread.mjs'),
    `
import { KeeperThread, SqliteTokenStore } from '@renova/client';
const [url, clientId, clientSecret, userId] = process.argv.slice(2);
const store = new SqliteTokenStore({ path: 'keeper.db', writerThread: false });
const before = await store.get(Number(userId));
// Due now: the thread's scheduler claims it on its first look.
const due = await store.put({ ...before, refreshAt: Date.now() - 1_000 });
const thread = new KeeperThread(new URL('./thread-keeper.mjs', import.meta.url), { data: { url, clientId, clientSecret } });
const rotated = new Promise((resolve) => thread.on('rotated', (e) => resolve(e)));
await thread.start();
const event = await rotated;
await thread.stop();
const after = await store.get(Number(userId));
await store.close();
console.log(JSON.stringify({ old: due.refreshToken, dueVersion: due.version, event: { userId: event.userId, source: event.source },
  stored: after.refreshToken, version: after.version, running: thread.running }));
`,
  );
  const threaded = JSON.parse(
    execFileSync(
      process.execPath,
      ['thread.mjs', url, app.client_id, app.client_secret, String(answers.refreshed.user_id)],
      { cwd: serverProject, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'inherit'] },
    ),
  );
  check(
    'the installed KeeperThread rotates in its worker, relays the event, stops, and the process exits',
    threaded.event.userId === answers.refreshed.user_id &&
      threaded.event.source === 'refresh' &&
      /^TG-/.test(threaded.stored) &&
      threaded.stored !== threaded.old &&
      threaded.version === threaded.dueVersion + 1 &&
      threaded.running === false,
    JSON.stringify(threaded),
  );
  const stopped = new Promise((done) => server.once('exit', (code) => done(code)));
  server.kill('SIGTERM');
  check('renova serve exits 0 on SIGTERM', (await stopped) === 0, output);
  server = undefined;
} catch (error) {
  failures += 1;
  process.stdout.write(`not ok - test:dist stopped: ${error.stack ?? error}\n`);
  if (error.stdout) process.stdout.write(String(error.stdout));
} finally {
  server?.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(
  `test:dist: ${((Date.now() - started) / 1000).toFixed(0)} s\n${passes} passed, ${failures} failed\n`,
);
process.exitCode = failures === 0 ? 0 : 1;
