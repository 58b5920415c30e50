#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { describeConfig, loadConfig, type RenovaConfig } from '../config.ts';
import { AUDIT_PAGE_MAX, asOperator } from '../core/audit.ts';
import { OAuthError } from '../core/errors.ts';
import { isClientId } from '../core/identifiers.ts';
import { MAX_PAGE } from '../core/inventory.ts';
import {
  backupSqlite,
  isPostgresUrl,
  openRuntime,
  openStorage,
  type Runtime,
  redactUrl,
  resolveDb,
  restoreSqlite,
  startServer,
} from '../runtime.ts';
import {
  applicationView,
  auditPageView,
  clientSecretView,
  createdApplicationView,
  type GrantView,
  grantView,
  inspectedTokenView,
  issuedCodeView,
  userView,
  webhookEventView,
  webhookSecretView,
} from '../views.ts';

/**
 * The `renova` CLI (docs/api.md §5). Each command parses its flags and calls the same services the
 * admin API calls; `--json` prints the same objects. Exit codes: 0 done, 1 the command failed (an
 * unknown id, a refused change, the storage away), 2 a usage error (an unknown command or flag, a
 * bad value); every error goes to stderr with what is wrong.
 */
const program = new Command('renova')
  .description('Renova: an OAuth 2.0 token service wire-compatible with Mercado Pago')
  // package.json is beside src/ and dist/ alike: the version of the package that is running.
  .version(
    (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
      .version,
  )
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ outputError: (text, write) => write(text) })
  // Commander's own usage errors throw instead of exiting 1, so that they exit 2 (see the end).
  // Set before any subcommand is declared: each copies its parent's settings when created.
  .exitOverride();

/** Exit code of a usage error (an unknown flag or a bad value), as opposed to 1 for a failure. */
const USAGE = 2;

/** The configuration, read from the environment once, when a command first needs it. */
let configuration: RenovaConfig | undefined;
const config = (): RenovaConfig => {
  configuration ??= loadConfig(process.env);
  return configuration;
};

const dbOption = () =>
  new Option(
    '--db <path-or-url>',
    'SQLite file or postgres:// URL (default: $RENOVA_DB, then ./data/renova.db)',
  );

function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^[1-9][0-9]{0,15}$/.test(value))
      throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return Number(value);
  };
}

function port(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || n > 65535) throw new InvalidArgumentError('port must be 0 to 65535.');
  return n;
}

function pageSize(value: string): number {
  const n = positiveInt('--limit')(value);
  if (n > MAX_PAGE) throw new InvalidArgumentError(`--limit must be at most ${MAX_PAGE}.`);
  return n;
}

function clientId(value: string): string {
  if (!isClientId(value)) throw new InvalidArgumentError('client id must be 16 digits.');
  return value;
}

/** `24h`, `30m`, `90s`, `2d` or plain seconds. */
export function duration(value: string): number {
  const match = /^([0-9]+)([smhd]?)$/.exec(value);
  if (!match) throw new InvalidArgumentError('use a duration like 24h, 30m, 90s, 2d or a number of seconds.');
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Every change a command makes is recorded in the audit trail as the operator's, through the CLI. */
const CLI = asOperator('cli');

/** `--grant-types authorization_code,refresh_token`: core/applications.ts checks the values. */
const commaList = (value: string): string[] =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);

const grantTypesOption = () =>
  new Option(
    '--grant-types <list>',
    'comma-separated grant types the application may use: authorization_code, refresh_token, client_credentials (default: all three)',
  ).argParser(commaList);

/** `--limit` and `--after` of the listings; when a page is full, the next starts after its last row. */
const limitOption = () =>
  new Option('--limit <n>', `rows per page, 1 to ${MAX_PAGE}`).argParser(pageSize).default(100);

/** The human form of a listing: a table, and how to get the next page when this one is full. */
function table(header: string[], rows: string[][], limit: number, nextAfter: string | undefined): string {
  if (rows.length === 0) return '(none)';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const lines = [header, ...rows].map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
  if (rows.length === limit && nextAfter !== undefined)
    lines.push(`(more may follow: repeat with --after ${nextAfter})`);
  return lines.join('\n');
}

/** The settings lines `app show` and `app update` both print, so the two read alike. */
function applicationSettingLines(a: ReturnType<typeof applicationView>): string[] {
  return [
    `  redirect_uris:    ${a.redirect_uris.join(' ')}`,
    `  scopes:           ${a.scopes.join(' ')}`,
    `  grant_types:      ${a.grant_types.join(' ')}`,
    `  pkce_required:    ${a.pkce_required}`,
    `  notification_url: ${a.notification_url ?? '(none)'}`,
  ];
}

/**
 * The token for `token inspect`: the argument, or stdin when it is `-` (an argument shows in
 * `ps` and in shell history). At most 1 KiB is read: tokens are ~100 characters.
 */
async function tokenArgument(value: string): Promise<string> {
  if (value !== '-') return value;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1024) throw new InvalidArgumentError('stdin holds more than 1 KiB: pass one token only.');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text.length === 0)
    throw new InvalidArgumentError(
      'stdin was empty: pipe the token in, e.g. `printenv TOKEN | renova token inspect -`.',
    );
  return text;
}

/** Opens the database named by --db, runs `work`, prints its result, closes. */
async function withRuntime<T>(
  options: { db?: string; json?: boolean },
  work: (runtime: Runtime) => Promise<T>,
  human: (result: T) => string,
): Promise<void> {
  const runtime = await openRuntime(resolveDb(options.db, config()), process.env);
  try {
    const result = await work(runtime);
    process.stdout.write(`${options.json ? JSON.stringify(result, null, 2) : human(result)}\n`);
  } finally {
    await runtime.close();
  }
}

program
  .command('serve')
  .description('run the HTTP server')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0 picks a free one)', port, 8080)
  .addOption(dbOption())
  .option('--issuer <url>', 'issuer URL announced in metadata and redirects (default: http://host:port)')
  .option('--demo', 'create (once) a demo seller and application and print how to try the flow')
  .option('--json', 'print the listening URLs as JSON ({url, admin_url})')
  .action(
    async (options: {
      host: string;
      port: number;
      db?: string;
      issuer?: string;
      demo?: boolean;
      json?: boolean;
    }) => {
      if (options.issuer !== undefined && !/^https?:\/\/[^/?#]+$/.test(options.issuer.replace(/\/$/, ''))) {
        throw new InvalidArgumentError('--issuer must be an http(s) URL without a path, query or fragment.');
      }
      const server = await startServer(
        {
          host: options.host,
          port: options.port,
          db: resolveDb(options.db, config()),
          issuer: options.issuer?.replace(/\/$/, ''),
          demo: options.demo ?? false,
          // Never a process that accepts traffic it cannot store: a supervisor (systemd, the
          // container runtime) restarts it. The reason is logged already; nothing is left to flush.
          onFatal: () => process.exit(1),
        },
        process.env,
      );
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ url: server.url, admin_url: server.adminUrl ?? null })}\n`);
      } else {
        process.stdout.write(`renova listening on ${server.url}\n`);
        if (server.adminUrl) process.stdout.write(`admin API listening on ${server.adminUrl}\n`);
      }
      if (server.demo) process.stdout.write(`${server.demo.lines.join('\n')}\n`);
      let closing = false;
      const shutdown = (signal: string) => {
        // A second signal does not cut the drain short: the deadline bounds it already.
        if (closing) return;
        closing = true;
        const deadlineMs = config().shutdownTimeoutSeconds * 1000;
        server.logger?.info({ signal, deadline_ms: deadlineMs }, 'shutting down: draining requests');
        server.close({ deadlineMs }).then(
          (result) => {
            if (result.cutRequests > 0 || result.cutConnections > 0)
              server.logger?.warn(result, 'shutdown deadline reached: remaining connections were cut');
            else server.logger?.info(result, 'shut down cleanly');
            process.exit(0);
          },
          (error: unknown) => {
            server.logger?.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));
    },
  );

program
  .command('migrate')
  .description('apply pending database migrations')
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(async (options: { db?: string; json?: boolean }) => {
    const db = resolveDb(options.db, config());
    // Only the schema: no server key is needed (several instances may run this at once; the
    // migration lock of each engine serializes them).
    const storage = await openStorage(db, config());
    await storage.close();
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ migrated: true, db: redactUrl(db) })}\n`
        : `migrations applied to ${redactUrl(db)}\n`,
    );
  });

const user = program.command('user').description('manage users (sellers and application owners)');
user
  .command('create')
  .description('create a user')
  .requiredOption('--email <email>', 'login email')
  .option('--password <password>', 'login password for the consent page (at least 8 characters)')
  .option('--nickname <nickname>', 'display name')
  .option('--site-id <site>', 'Mercado Pago site: MLA, MLB, MLM, MLC, MCO, MPE or MLU', 'MLA')
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(
    (options: {
      email: string;
      password?: string;
      nickname?: string;
      siteId: string;
      db?: string;
      json?: boolean;
    }) =>
      withRuntime(
        options,
        async (rt) =>
          userView(
            await rt.services.accounts.createUser(
              {
                email: options.email,
                password: options.password,
                nickname: options.nickname,
                siteId: options.siteId,
              },
              CLI,
            ),
          ),
        (u) => `created user ${u.id} (${u.email}, ${u.nickname}, ${u.site_id})`,
      ),
  );

user
  .command('list')
  .description('list users by ascending id')
  .addOption(limitOption())
  .option(
    '--after <user-id>',
    'start after this user id (the last one of the previous page)',
    positiveInt('--after'),
  )
  .addOption(dbOption())
  .option('--json', 'print JSON (an array of users)')
  .action((options: { limit: number; after?: number; db?: string; json?: boolean }) =>
    withRuntime(
      options,
      async (rt) => (await rt.services.inventory.listUsers(options)).map(userView),
      (users) =>
        table(
          ['ID', 'EMAIL', 'NICKNAME', 'SITE'],
          users.map((u) => [String(u.id), u.email, u.nickname, u.site_id]),
          options.limit,
          users.at(-1) ? String(users.at(-1)?.id) : undefined,
        ),
    ),
  );
user
  .command('show')
  .description('show one user, by id or by email')
  .addOption(new Option('--id <user-id>', 'user id').argParser(positiveInt('--id')).conflicts('email'))
  .option('--email <email>', 'login email (case-insensitive)')
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action((options: { id?: number; email?: string; db?: string; json?: boolean }) => {
    const { id, email } = options;
    if (id === undefined && email === undefined) throw new InvalidArgumentError('pass --id or --email.');
    return withRuntime(
      options,
      async (rt) =>
        userView(
          id !== undefined
            ? await rt.services.inventory.showUser(id)
            : await rt.services.inventory.showUserByEmail(email as string),
        ),
      (u) => `user ${u.id}\n  email:    ${u.email}\n  nickname: ${u.nickname}\n  site:     ${u.site_id}`,
    );
  });

const app = program.command('app').description('manage applications (OAuth clients)');
app
  .command('list')
  .description('list applications by ascending client id (no secrets)')
  .option('--owner <user-id>', "only this user's applications", positiveInt('--owner'))
  .addOption(limitOption())
  .option('--after <client-id>', 'start after this client id (the last one of the previous page)', clientId)
  .addOption(dbOption())
  .option('--json', 'print JSON (an array of applications)')
  .action((options: { owner?: number; limit: number; after?: string; db?: string; json?: boolean }) =>
    withRuntime(
      options,
      async (rt) =>
        (
          await rt.services.inventory.listApplications({
            ownerUserId: options.owner,
            after: options.after,
            limit: options.limit,
          })
        ).map(applicationView),
      (apps) =>
        table(
          ['CLIENT ID', 'NAME', 'OWNER', 'SCOPES', 'GRANT TYPES'],
          apps.map((a) => [
            a.client_id,
            a.name,
            String(a.owner_user_id),
            a.scopes.join(' '),
            a.grant_types.join(','),
          ]),
          options.limit,
          apps.at(-1)?.client_id,
        ),
    ),
  );
app
  .command('show')
  .description("show one application's settings (its secrets are never shown again)")
  .requiredOption('--client-id <id>', 'application id', clientId)
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action((options: { clientId: string; db?: string; json?: boolean }) =>
    withRuntime(
      options,
      async (rt) => applicationView(await rt.services.inventory.showApplication(options.clientId)),
      (a) =>
        [
          `application ${a.client_id} (${a.name})`,
          `  owner:            ${a.owner_user_id}`,
          ...applicationSettingLines(a),
        ].join('\n'),
    ),
  );
app
  .command('create')
  .description('register an application')
  .requiredOption('--name <name>', 'application name shown to sellers')
  .requiredOption('--owner <user-id>', 'id of the owning user', positiveInt('--owner'))
  .requiredOption('--redirect-uri <uri>', 'allowed redirect URI (repeatable)', collect)
  .option('--scope <scopes>', 'scopes the application may ask for', 'offline_access read write')
  .option('--pkce-required', 'refuse authorization requests without PKCE')
  .option('--notification-url <url>', 'where mp-connect webhooks are sent')
  .addOption(grantTypesOption())
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(
    (options: {
      name: string;
      owner: number;
      redirectUri: string[];
      scope: string;
      pkceRequired?: boolean;
      notificationUrl?: string;
      grantTypes?: string[];
      db?: string;
      json?: boolean;
    }) =>
      withRuntime(
        options,
        async (rt) =>
          createdApplicationView(
            await rt.services.applications.create(
              {
                name: options.name,
                ownerUserId: options.owner,
                redirectUris: options.redirectUri,
                scope: options.scope,
                pkceRequired: options.pkceRequired ?? false,
                notificationUrl: options.notificationUrl,
                grantTypes: options.grantTypes,
              },
              CLI,
            ),
          ),
        (a) =>
          [
            `created application ${a.client_id} (${a.name})`,
            `client_secret:  ${a.client_secret}`,
            `webhook_secret: ${a.webhook_secret}`,
            'These secrets are shown once; Renova keeps only a hash (client) or a sealed copy (webhook).',
          ].join('\n'),
      ),
  );
app
  .command('update')
  .description(
    "change an application's settings; only the flags given change (the same checks as the admin API's PATCH)",
  )
  .requiredOption('--client-id <id>', 'application id', clientId)
  .option('--name <name>', 'application name shown to sellers')
  .option('--description <text>', 'description shown on the consent page')
  .option('--logo-url <url>', 'https logo shown on the consent page')
  .option('--no-logo-url', 'remove the logo')
  .option('--redirect-uri <uri>', 'allowed redirect URI (repeatable; replaces the whole list)', collect)
  .option('--scope <scopes>', 'scopes the application may ask for, e.g. "offline_access read"')
  .addOption(
    new Option('--pkce-required <yes|no>', 'refuse authorization requests without PKCE').choices([
      'yes',
      'no',
    ]),
  )
  .addOption(grantTypesOption())
  .option('--notification-url <url>', 'where mp-connect webhooks are sent')
  .option('--no-notification-url', 'stop sending webhooks')
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(
    (options: {
      clientId: string;
      name?: string;
      description?: string;
      logoUrl?: string | false;
      redirectUri?: string[];
      scope?: string;
      pkceRequired?: 'yes' | 'no';
      grantTypes?: string[];
      notificationUrl?: string | false;
      db?: string;
      json?: boolean;
    }) => {
      // `--no-x` sets x to false; a plain `--x` flag is given as a string. Neither: unchanged.
      const nullable = (value: string | false | undefined) => (value === false ? null : value);
      const input = {
        name: options.name,
        description: options.description,
        logoUrl: nullable(options.logoUrl),
        redirectUris: options.redirectUri,
        scope: options.scope,
        pkceRequired: options.pkceRequired === undefined ? undefined : options.pkceRequired === 'yes',
        grantTypes: options.grantTypes,
        notificationUrl: nullable(options.notificationUrl),
      };
      if (Object.values(input).every((value) => value === undefined))
        throw new InvalidArgumentError(
          'nothing to change: pass at least one of --name, --description, --logo-url, --redirect-uri, --scope, --pkce-required, --grant-types, --notification-url (or --no-logo-url, --no-notification-url).',
        );
      return withRuntime(
        options,
        async (rt) => applicationView(await rt.services.applications.update(options.clientId, input, CLI)),
        (a) => [`updated application ${a.client_id} (${a.name})`, ...applicationSettingLines(a)].join('\n'),
      );
    },
  );
app
  .command('delete')
  .description(
    'delete an application for good: revokes every grant and token of it, ends its secrets, drops its pending webhooks',
  )
  .requiredOption('--client-id <id>', 'application id', clientId)
  .option('--yes', 'confirm: this cannot be undone')
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action((options: { clientId: string; yes?: boolean; db?: string; json?: boolean }) => {
    if (!options.yes)
      throw new InvalidArgumentError(
        `deleting application ${options.clientId} revokes every seller's authorization and token of it and cannot be undone: repeat with --yes.`,
      );
    return withRuntime(
      options,
      async (rt) => {
        await rt.services.applications.delete(options.clientId);
        return { deleted: true, client_id: options.clientId };
      },
      () => `deleted application ${options.clientId}: its grants and tokens are revoked, its secrets ended`,
    );
  });
app
  .command('rotate-secret')
  .description('issue a new client secret; the old one keeps working during the overlap')
  .requiredOption('--client-id <id>', 'application id', clientId)
  .option(
    '--overlap <duration>',
    'how long the old secret keeps working (default: $RENOVA_CLIENT_SECRET_OVERLAP_SECONDS, 24h)',
    duration,
  )
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action((options: { clientId: string; overlap?: number; db?: string; json?: boolean }) =>
    withRuntime(
      options,
      async (rt) =>
        clientSecretView(
          await rt.services.applications.rotateClientSecret(options.clientId, options.overlap, CLI),
        ),
      (r) =>
        `new client_secret: ${r.client_secret} (the previous one works for ${options.overlap ?? config().clientSecretOverlapSeconds} s more)`,
    ),
  );
app
  .command('rotate-webhook-secret')
  .description('issue a new webhook signing secret; deliveries use it from the next attempt on')
  .requiredOption('--client-id <id>', 'application id', clientId)
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action((options: { clientId: string; db?: string; json?: boolean }) =>
    withRuntime(
      options,
      async (rt) =>
        webhookSecretView(await rt.services.applications.rotateWebhookSecret(options.clientId, CLI)),
      (r) => `new webhook_secret: ${r.webhook_secret} (deliveries are signed with it from now on)`,
    ),
  );

program
  .command('authorize')
  .description("record a seller's consent as an operator and issue an authorization code")
  .requiredOption('--client-id <id>', 'application id', clientId)
  .requiredOption('--user-id <uid>', 'seller id', positiveInt('--user-id'))
  .option('--redirect-uri <uri>', "redirect URI (default: the application's first)")
  .option('--scope <scopes>', "scopes (default: the application's)")
  .option('--code-challenge <challenge>', 'PKCE code challenge')
  .option('--code-challenge-method <method>', 'S256 or plain')
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(
    (options: {
      clientId: string;
      userId: number;
      redirectUri?: string;
      scope?: string;
      codeChallenge?: string;
      codeChallengeMethod?: string;
      db?: string;
      json?: boolean;
    }) =>
      withRuntime(
        options,
        async (rt) =>
          issuedCodeView(
            await rt.services.consent.authorize(
              {
                clientId: options.clientId,
                userId: options.userId,
                redirectUri: options.redirectUri,
                scope: options.scope,
                codeChallenge: options.codeChallenge,
                codeChallengeMethod: options.codeChallengeMethod,
              },
              CLI,
            ),
          ),
        (r) =>
          `code: ${r.code}\nredirect_uri: ${r.redirect_uri}\n(valid for a single use, within ${config().authorizationCodeSeconds} s)`,
      ),
  );

const grant = program.command('grant').description("manage sellers' authorizations");
grant
  .command('revoke')
  .description("revoke a seller's authorization of an application and every token of it")
  .requiredOption('--client-id <id>', 'application id', clientId)
  .requiredOption('--user-id <uid>', 'seller id', positiveInt('--user-id'))
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action((options: { clientId: string; userId: number; db?: string; json?: boolean }) =>
    withRuntime(
      options,
      async (rt) => {
        await rt.services.consent.revokeGrant(options.clientId, options.userId, CLI);
        return { revoked: true, client_id: options.clientId, user_id: options.userId };
      },
      () => `revoked: application ${options.clientId} no longer acts for user ${options.userId}`,
    ),
  );

grant
  .command('list')
  .description("list sellers' authorizations across applications, revoked ones included, by ascending id")
  .option('--client-id <id>', 'only this application', clientId)
  .option('--user-id <uid>', 'only this seller', positiveInt('--user-id'))
  .addOption(limitOption())
  .option(
    '--after <grant-id>',
    'start after this grant id (the last one of the previous page)',
    positiveInt('--after'),
  )
  .addOption(dbOption())
  .option('--json', 'print JSON (an array of grants)')
  .action(
    (options: {
      clientId?: string;
      userId?: number;
      limit: number;
      after?: number;
      db?: string;
      json?: boolean;
    }) =>
      withRuntime(
        options,
        async (rt) => (await rt.services.inventory.listGrants(options)).map(grantView),
        (grants: GrantView[]) =>
          table(
            ['ID', 'CLIENT ID', 'USER', 'STATUS', 'SCOPE', 'SINCE'],
            grants.map((g) => [
              String(g.id),
              g.client_id,
              String(g.user_id),
              g.status,
              g.scope,
              g.status === 'active' ? g.created_at : `revoked ${g.revoked_at}`,
            ]),
            options.limit,
            grants.at(-1) ? String(grants.at(-1)?.id) : undefined,
          ),
      ),
  );

const token = program.command('token').description('look up tokens');
token
  .command('inspect')
  .description(
    'what Renova stores about an access or refresh token (kind, client, user, scope, times, revocation, rotation, family); never its secret',
  )
  .argument(
    '<token>',
    'the token, or - to read it from stdin (preferred: an argument is visible to other users in `ps` and stays in shell history)',
  )
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(async (value: string, options: { db?: string; json?: boolean }) => {
    const presented = await tokenArgument(value);
    return withRuntime(
      options,
      async (rt) => inspectedTokenView(await rt.services.inventory.inspectToken(presented)),
      (t) =>
        [
          `${t.kind.replace('_', ' ')} #${t.selector} (${t.issued_for === 'user' ? 'for a seller' : 'client_credentials'}): ${t.active ? 'ACTIVE' : 'NOT ACTIVE'}`,
          `  client_id:  ${t.client_id}`,
          `  user_id:    ${t.user_id}`,
          `  scope:      ${t.scope}`,
          `  live_mode:  ${t.live_mode}`,
          `  issued_at:  ${t.issued_at}`,
          `  expires_at: ${t.expires_at}${t.expired ? ' (expired)' : ''}`,
          `  revoked:    ${t.revoked}`,
          ...(t.kind === 'refresh_token' ? [`  rotated_at: ${t.rotated_at ?? '(not yet used)'}`] : []),
          `  family_id:  ${t.family_id ?? '(none)'}`,
          ...(t.grant
            ? [`  grant:      ${t.grant.status}${t.grant.revoked_at ? ` since ${t.grant.revoked_at}` : ''}`]
            : []),
        ].join('\n'),
    );
  });

const webhooks = program.command('webhooks').description('inspect and retry mp-connect webhook deliveries');
webhooks
  .command('list')
  .description('list webhook events, newest first')
  .addOption(
    new Option('--status <status>', 'only events with this status').choices(['pending', 'delivered', 'dead']),
  )
  .option('--limit <n>', 'how many events to show', positiveInt('--limit'), 50)
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(
    (options: { status?: 'pending' | 'delivered' | 'dead'; limit: number; db?: string; json?: boolean }) =>
      withRuntime(
        options,
        async (rt) =>
          (await rt.services.webhookOutbox.list({ status: options.status, limit: options.limit })).map(
            webhookEventView,
          ),
        (events) => formatWebhookTable(events),
      ),
  );
webhooks
  .command('retry')
  .description('make a dead (or pending) event due now; a running server delivers it within a poll')
  .requiredOption('--id <id>', 'event id (see `renova webhooks list`)', positiveInt('--id'))
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action((options: { id: number; db?: string; json?: boolean }) =>
    withRuntime(
      options,
      async (rt) => {
        if (!(await rt.services.webhookOutbox.retry(options.id, CLI))) {
          throw new Error(`webhook event ${options.id} does not exist or was already delivered.`);
        }
        return { id: options.id, status: 'pending' };
      },
      () => `webhook event ${options.id} is due again; a running \`renova serve\` will deliver it`,
    ),
  );

/** Backups are of the embedded database; PostgreSQL has its own tools (docs/operations.md). */
function sqliteOnly(db: string, command: string): string {
  if (isPostgresUrl(db))
    throw new InvalidArgumentError(
      `renova ${command} copies the embedded SQLite database; for PostgreSQL use pg_dump / pg_restore (docs/operations.md "Backup and restore").`,
    );
  if (db === ':memory:') throw new InvalidArgumentError(`an in-memory database has nothing to ${command}.`);
  return db;
}

/** Where the server key that opens the sealed secrets lives for `db` (see runtime.ts loadServerKey). */
function keyNote(db: string): string {
  const c = config();
  if (c.secretKey) return 'the server key comes from RENOVA_SECRET_KEY';
  const file = c.secretKeyFile ?? join(dirname(db), 'renova.key');
  return `the server key is ${file}${existsSync(file) ? '' : ' (not there yet)'}`;
}

program
  .command('backup')
  .description('copy the SQLite database to FILE, online: consistent while the server keeps serving')
  .requiredOption('--to <file>', 'the backup file to write (mode 0600); kept apart from the server key')
  .option('--force', 'replace FILE if it exists')
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(async (options: { to: string; force?: boolean; db?: string; json?: boolean }) => {
    const db = sqliteOnly(resolveDb(options.db, config()), 'backup');
    const result = await backupSqlite(db, options.to, { force: options.force ?? false });
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ file: result.file, bytes: result.bytes, migration: result.migration, elapsed_ms: result.elapsedMs })}\n`
        : [
            `backed up ${db} to ${result.file} (${result.bytes} bytes, schema version ${result.migration}, ${result.elapsedMs} ms)`,
            `The backup does not contain the server key: ${keyNote(db)}. Keep a copy of it, apart from the backups (docs/operations.md "Backup and restore").`,
          ].join('\n') + '\n',
    );
  });

program
  .command('restore')
  .description('replace the SQLite database with a backup (refused while the database is in use)')
  .requiredOption('--from <file>', 'a file written by `renova backup`')
  .option('--force', 'replace an existing database (stop every server using it first)')
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(async (options: { from: string; force?: boolean; db?: string; json?: boolean }) => {
    const db = sqliteOnly(resolveDb(options.db, config()), 'restore');
    const result = await restoreSqlite(options.from, db, { force: options.force ?? false });
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ db: result.db, bytes: result.bytes, migration: result.migration })}\n`
        : [
            `restored ${options.from} into ${result.db} (schema version ${result.migration}; the next start applies newer migrations)`,
            `Sealed secrets (webhook secrets) open only with the key they were sealed under: ${keyNote(db)}.`,
          ].join('\n') + '\n',
    );
  });

program
  .command('audit')
  .description('list audit events, newest first (docs/api.md §4.5); filters combine')
  .option('--user <id>', 'only events about this seller or user', positiveInt('--user'))
  .option('--client-id <id>', 'only events about this application', clientId)
  .option('--type <type>', 'only events of this type, e.g. refresh.reused')
  .option('--since <when>', 'only events since a duration ago (24h, 30m, 7d) or an ISO 8601 time')
  .option('--cursor <cursor>', 'the next_cursor of a previous page, for older events')
  .option('--limit <n>', `how many events (at most ${AUDIT_PAGE_MAX})`, '50')
  .addOption(dbOption())
  .option('--json', 'print JSON')
  .action(
    (options: {
      user?: number;
      clientId?: string;
      type?: string;
      since?: string;
      cursor?: string;
      limit: string;
      db?: string;
      json?: boolean;
    }) =>
      withRuntime(
        options,
        async (rt) =>
          auditPageView(
            await rt.services.audit.list({
              userId: options.user,
              clientId: options.clientId,
              type: options.type,
              since: options.since,
              cursor: options.cursor,
              limit: options.limit,
            }),
          ),
        (page) => formatAuditTable(page),
      ),
  );

program
  .command('config')
  .description('print the effective configuration (secrets redacted) and where each value comes from')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) => {
    const rows = describeConfig(config(), process.env);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    const width = Math.max(...rows.map((row) => row.env.length));
    for (const row of rows) {
      process.stdout.write(
        `${row.env.padEnd(width)}  ${row.value}${row.source === 'default' ? '  (default)' : ''}\n`,
      );
    }
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = exitCodeOf(error);
}

/**
 * 0 for --help and --version; 2 for usage errors, commander's (already printed by it) and
 * InvalidArgumentError thrown by a command's own checks; 1 for every other failure. Messages go to
 * stderr, never stdout, so that `--json` output stays parseable.
 */
function exitCodeOf(error: unknown): number {
  if (error instanceof CommanderError && !(error instanceof InvalidArgumentError)) {
    return error.exitCode === 0 ? 0 : USAGE;
  }
  const message =
    error instanceof OAuthError ? error.description : error instanceof Error ? error.message : String(error);
  process.stderr.write(`error: ${message}\n`);
  return error instanceof InvalidArgumentError ? USAGE : 1;
}

function formatWebhookTable(events: ReturnType<typeof webhookEventView>[]): string {
  if (events.length === 0) return 'no webhook events';
  const rows = events.map((e) => [
    String(e.id),
    e.status,
    e.action,
    e.application_id,
    String(e.user_id),
    String(e.attempts),
    e.status === 'delivered'
      ? `delivered ${e.delivered_at}`
      : e.status === 'pending'
        ? `next ${e.next_attempt_at}`
        : 'gave up',
    e.last_error ?? '',
  ]);
  const header = ['ID', 'STATUS', 'ACTION', 'APPLICATION', 'USER', 'TRIES', 'WHEN', 'LAST ERROR'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function formatAuditTable(page: ReturnType<typeof auditPageView>): string {
  if (page.events.length === 0) return 'no audit events';
  const rows = page.events.map((e) => [
    String(e.id),
    e.at,
    e.type,
    e.actor.id === null ? e.actor.type : `${e.actor.type}:${e.actor.id}`,
    e.user_id === null ? '' : String(e.user_id),
    e.client_id ?? '',
    e.family_id === null ? '' : String(e.family_id),
    e.remote_address ?? '',
    e.detail ?? '',
  ]);
  const header = ['ID', 'AT', 'TYPE', 'ACTOR', 'USER', 'APPLICATION', 'FAMILY', 'FROM', 'DETAIL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const table = [header, ...rows].map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
  if (page.next_cursor) table.push(`(older events: --cursor ${page.next_cursor})`);
  return table.join('\n');
}
