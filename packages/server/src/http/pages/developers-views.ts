import { ALL_SCOPES } from '../../core/scopes.ts';
import { formatDateTime, PORTAL_MESSAGES, type PortalMessages } from './developers-i18n.ts';
import { html, raw, type SafeHtml } from './html.ts';
import { formatDate, type Locale, MESSAGES } from './i18n.ts';

/**
 * Server-rendered pages of the developer portal (`/developers`, docs/developer-portal.md). Every
 * value is escaped by `html`. Forms work without JavaScript; the one script (served from
 * /assets/developers.js) only reveals copy buttons.
 */

const LOGO = raw(
  '<svg width="30" height="30" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><rect width="24" height="24" rx="7" fill="#0d6b63"/><path d="M7.2 12a4.8 4.8 0 0 1 8.3-3.3M16.8 12a4.8 4.8 0 0 1-8.3 3.3" stroke="#fff" stroke-width="2" fill="none" stroke-linecap="round"/><path d="M15.8 5.6v3.3h-3.3M8.2 18.4v-3.3h3.3" stroke="#fff" stroke-width="2" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>',
);

export const GRANT_TYPE_CHOICES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const OVERLAP_CHOICES = ['0', '3600', '86400', '604800'] as const;
export type OverlapChoice = (typeof OVERLAP_CHOICES)[number];

/** What the signed-in developer's header shows. */
export interface PortalUser {
  email: string;
  csrf: string;
}

export type Section = 'overview' | 'settings' | 'sellers' | 'webhooks' | 'testing';

/** The application as the portal shows it (whatever the storage holds beyond these is not shown). */
export interface PortalApplication {
  clientId: string;
  name: string;
  description?: string | null | undefined;
  logoUrl?: string | null | undefined;
  redirectUris: string[];
  scope: string;
  pkceRequired: boolean;
  grantTypes: string[];
  notificationUrl: string | null;
  ownerPublicKey: string;
  createdAt: number;
}

/** The application form's fields as the developer typed them (kept on a validation error). */
export interface ApplicationFormValues {
  name: string;
  description: string;
  logoUrl: string;
  redirectUris: string;
  scopes: string[];
  pkceRequired: boolean;
  grantTypes: string[];
  notificationUrl: string;
}

/** Field name → what is wrong with it; `_form` for what belongs to no single field. */
export type FieldErrors = Record<string, string>;

function portalLayout(args: {
  locale: Locale;
  title: string;
  user: PortalUser;
  current: 'applications' | 'new';
  body: SafeHtml;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const seller = MESSAGES[args.locale];
  const here = (page: 'applications' | 'new') => (args.current === page ? raw(' aria-current="page"') : '');
  return `<!doctype html>${html`<html lang="${args.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${args.title} · ${t.portal} · Renova</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/renova.css">
<link rel="stylesheet" href="/assets/developers.css">
<script src="/assets/developers.js" defer></script>
</head>
<body>
<a class="skip" href="#main">${seller.skipToContent}</a>
<header class="top">
  <a class="brand" href="/developers">${LOGO}<span>Renova <span class="optional">· ${t.portal}</span></span></a>
  <nav aria-label="${t.portal}">
    <a href="/developers"${here('applications')}>${t.nav.applications}</a>
    <a href="/developers/applications/new"${here('new')}>${t.nav.newApplication}</a>
    <a href="/account/applications">${t.nav.authorizations}</a>
  </nav>
  <div class="who"><span>${args.user.email}</span><form method="post" action="/logout"><input type="hidden" name="csrf" value="${args.user.csrf}"><input type="hidden" name="next" value="/developers"><button type="submit" class="btn btn-secondary btn-small">${seller.account.signOut}</button></form></div>
</header>
<main id="main">
<div class="portal">
${args.body}
</div>
</main>
<footer>Renova · OAuth 2.0</footer>
</body>
</html>`}`;
}

function csrfField(csrf: string): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

/** The application's header and its section tabs. */
function appHeader(t: PortalMessages, app: PortalApplication, current: Section): SafeHtml {
  const tab = (section: Section, path: string) =>
    html`<li><a href="/developers/applications/${app.clientId}${path}"${current === section ? raw(' aria-current="page"') : ''}>${t.tabs[section]}</a></li>`;
  return html`<div class="crumbs"><a href="/developers">${t.nav.applications}</a></div>
<div class="head"><h1>${app.name}</h1></div>
${app.description ? html`<p class="lead">${app.description}</p>` : ''}
<ul class="tabs">${tab('overview', '')}${tab('settings', '/settings')}${tab('sellers', '/sellers')}${tab('webhooks', '/webhooks')}${tab('testing', '/testing')}</ul>`;
}

function flash(message: string | undefined, kind: 'ok' | 'error' = 'ok'): SafeHtml | '' {
  if (!message) return '';
  return kind === 'ok'
    ? html`<div class="alert alert-ok" role="status">${message}</div>`
    : html`<div class="alert alert-error" role="alert">${message}</div>`;
}

/** A secret shown this once, as selectable text, with a copy button the script reveals. */
function secretBox(t: PortalMessages, id: string, label: string, value: string): SafeHtml {
  return html`<label for="${id}">${label}</label>
<div class="secret"><code id="${id}" data-secret>${value}</code><button type="button" class="btn btn-secondary" data-copy="${id}" data-copied="${t.credentials.copied}" hidden>${t.credentials.copy}</button></div>`;
}

// --- The list of applications ------------------------------------------------------------------

export function portalHomePage(args: {
  locale: Locale;
  user: PortalUser;
  applications: {
    clientId: string;
    name: string;
    createdAt: number;
    description?: string | null | undefined;
  }[];
  deleted?: boolean;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  return portalLayout({
    locale: args.locale,
    title: t.list.title,
    user: args.user,
    current: 'applications',
    body: html`<div class="card">
  <div class="head"><h1>${t.list.title}</h1><a class="btn btn-primary" href="/developers/applications/new">${t.nav.newApplication}</a></div>
  <p class="lead">${t.list.intro}</p>
  ${flash(args.deleted ? t.list.deleted : undefined)}
  ${
    args.applications.length === 0
      ? html`<p class="empty">${t.list.empty}</p>`
      : html`<ul class="rows" aria-label="${t.list.title}">${args.applications.map(
          (a) => html`<li>
    <div class="main"><h2><a href="/developers/applications/${a.clientId}">${a.name}</a></h2>
      <div class="meta">client_id <code>${a.clientId}</code> · ${t.list.created(formatDate(args.locale, a.createdAt))}</div>
      ${a.description ? html`<div class="meta">${a.description}</div>` : ''}</div>
    <a class="btn btn-secondary btn-small" href="/developers/applications/${a.clientId}">${t.list.open}</a>
  </li>`,
        )}</ul>`
  }
</div>`,
  });
}

// --- Create and edit ------------------------------------------------------------------------------

export function emptyApplicationForm(): ApplicationFormValues {
  return {
    name: '',
    description: '',
    logoUrl: '',
    redirectUris: '',
    scopes: [...ALL_SCOPES],
    pkceRequired: true,
    grantTypes: [...GRANT_TYPE_CHOICES],
    notificationUrl: '',
  };
}

export function formValuesOf(app: PortalApplication): ApplicationFormValues {
  return {
    name: app.name,
    description: app.description ?? '',
    logoUrl: app.logoUrl ?? '',
    redirectUris: app.redirectUris.join('\n'),
    scopes: app.scope.split(' ').filter(Boolean),
    pkceRequired: app.pkceRequired,
    grantTypes: [...app.grantTypes],
    notificationUrl: app.notificationUrl ?? '',
  };
}

function fieldError(errors: FieldErrors, name: string): SafeHtml | '' {
  const message = errors[name];
  return message ? html`<span class="field-error" id="${name}-error">${message}</span>` : '';
}

/** `aria-invalid` and `aria-describedby` pointing at the hint and, when there is one, the error. */
function described(errors: FieldErrors, name: string, hint: boolean): SafeHtml {
  const ids = [hint ? `${name}-hint` : '', errors[name] ? `${name}-error` : ''].filter(Boolean).join(' ');
  return raw(`${ids ? ` aria-describedby="${ids}"` : ''}${errors[name] ? ' aria-invalid="true"' : ''}`);
}

function applicationFields(t: PortalMessages, v: ApplicationFormValues, errors: FieldErrors): SafeHtml {
  const f = t.form;
  const checked = (on: boolean) => (on ? raw(' checked') : '');
  return html`<div class="field">
  <label for="name">${f.name}</label>
  <input id="name" name="name" type="text" maxlength="100" required value="${v.name}"${described(errors, 'name', true)}>
  <span class="field-hint" id="name-hint">${f.nameHint}</span>${fieldError(errors, 'name')}
</div>
<div class="field">
  <label for="description">${f.description} <span class="optional">(${f.optional})</span></label>
  <textarea id="description" name="description" maxlength="500"${described(errors, 'description', true)}>${v.description}</textarea>
  <span class="field-hint" id="description-hint">${f.descriptionHint}</span>${fieldError(errors, 'description')}
</div>
<div class="field">
  <label for="logo_url">${f.logoUrl} <span class="optional">(${f.optional})</span></label>
  <input id="logo_url" name="logo_url" type="url" inputmode="url" value="${v.logoUrl}"${described(errors, 'logo_url', true)}>
  <span class="field-hint" id="logo_url-hint">${f.logoUrlHint}</span>${fieldError(errors, 'logo_url')}
</div>
<div class="field">
  <label for="redirect_uris">${f.redirectUris}</label>
  <textarea id="redirect_uris" name="redirect_uris" required spellcheck="false"${described(errors, 'redirect_uris', true)}>${v.redirectUris}</textarea>
  <span class="field-hint" id="redirect_uris-hint">${f.redirectUrisHint}</span>${fieldError(errors, 'redirect_uris')}
</div>
<fieldset${errors.scope ? raw(' aria-invalid="true" aria-describedby="scope-error"') : ''}>
  <legend>${f.scopes}</legend>
  ${ALL_SCOPES.map(
    (s) =>
      html`<label class="check"><input type="checkbox" name="scope" value="${s}"${checked(v.scopes.includes(s))}><span>${f.scopeNames[s]}</span></label>`,
  )}
  ${fieldError(errors, 'scope')}
</fieldset>
<fieldset${errors.grant_types ? raw(' aria-invalid="true" aria-describedby="grant_types-error"') : ''}>
  <legend>${f.grantTypes}</legend>
  ${GRANT_TYPE_CHOICES.map(
    (g) =>
      html`<label class="check"><input type="checkbox" name="grant_types" value="${g}"${checked(v.grantTypes.includes(g))}><span><code>${f.grantNames[g]}</code></span></label>`,
  )}
  ${fieldError(errors, 'grant_types')}
</fieldset>
<div class="field">
  <label class="check"><input type="checkbox" name="pkce_required" value="true"${checked(v.pkceRequired)} aria-describedby="pkce_required-hint"><span>${f.pkce}</span></label>
  <span class="field-hint" id="pkce_required-hint">${f.pkceHint}</span>${fieldError(errors, 'pkce_required')}
</div>
<div class="field">
  <label for="notification_url">${f.notificationUrl} <span class="optional">(${f.optional})</span></label>
  <input id="notification_url" name="notification_url" type="url" inputmode="url" value="${v.notificationUrl}"${described(errors, 'notification_url', true)}>
  <span class="field-hint" id="notification_url-hint">${f.notificationUrlHint}</span>${fieldError(errors, 'notification_url')}
</div>`;
}

export function newApplicationPage(args: {
  locale: Locale;
  user: PortalUser;
  values: ApplicationFormValues;
  errors: FieldErrors;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const failed = Object.keys(args.errors).length > 0;
  return portalLayout({
    locale: args.locale,
    title: t.form.createTitle,
    user: args.user,
    current: 'new',
    body: html`<div class="card">
  <div class="crumbs"><a href="/developers">${t.nav.applications}</a></div>
  <h1>${t.form.createTitle}</h1>
  ${failed ? flash(args.errors._form ?? t.form.fixErrors, 'error') : ''}
  <form method="post" action="/developers/applications" novalidate>
    ${csrfField(args.user.csrf)}
    ${applicationFields(t, args.values, args.errors)}
    <div class="form-actions"><button type="submit" class="btn btn-primary">${t.form.create}</button><a class="btn btn-secondary" href="/developers">${t.form.cancel}</a></div>
  </form>
</div>`,
  });
}

export function settingsPage(args: {
  locale: Locale;
  user: PortalUser;
  app: PortalApplication;
  values: ApplicationFormValues;
  errors: FieldErrors;
  saved?: boolean;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const failed = Object.keys(args.errors).length > 0;
  const base = `/developers/applications/${args.app.clientId}`;
  return portalLayout({
    locale: args.locale,
    title: t.form.editTitle(args.app.name),
    user: args.user,
    current: 'applications',
    body: html`<div class="card">
  ${appHeader(t, args.app, 'settings')}
  <div class="section">
  ${failed ? flash(args.errors._form ?? t.form.fixErrors, 'error') : flash(args.saved ? t.form.saved : undefined)}
  <form method="post" action="${base}/settings" novalidate>
    ${csrfField(args.user.csrf)}
    ${applicationFields(t, args.values, args.errors)}
    <div class="form-actions"><button type="submit" class="btn btn-primary">${t.form.save}</button><a class="btn btn-secondary" href="${base}">${t.form.cancel}</a></div>
  </form>
  </div>
  <div class="section">
    <h2>${t.remove.button}</h2>
    <p class="hint">${t.remove.warning}</p>
    <a class="btn btn-danger" href="${base}/delete">${t.remove.button}</a>
  </div>
</div>`,
  });
}

// --- Credentials ----------------------------------------------------------------------------------

export function overviewPage(args: {
  locale: Locale;
  user: PortalUser;
  app: PortalApplication;
  secrets: { createdAt: number; expiresAt: number | null }[];
  notice?: string | undefined;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const c = t.credentials;
  const base = `/developers/applications/${args.app.clientId}`;
  const when = (ms: number) => formatDateTime(args.locale, ms);
  return portalLayout({
    locale: args.locale,
    title: `${c.title} · ${args.app.name}`,
    user: args.user,
    current: 'applications',
    body: html`<div class="card">
  ${appHeader(t, args.app, 'overview')}
  <div class="section">
  ${flash(args.notice)}
  <div class="grid2">
    <section class="env live" aria-labelledby="env-live">
      <h3 id="env-live">${c.production} <span class="badge live">APP_USR-</span></h3>
      <p class="hint">${c.productionIntro}</p>
      <dl class="kv">
        <dt>${c.clientId}</dt><dd><code class="value" id="client-id">${args.app.clientId}</code></dd>
        <dt>${c.publicKey}</dt><dd><code class="value">APP_USR-${args.app.ownerPublicKey}</code></dd>
        <dt>${c.clientSecret}</dt><dd>${c.secretHidden}</dd>
      </dl>
    </section>
    <section class="env test" aria-labelledby="env-test">
      <h3 id="env-test">${c.test} <span class="badge test">TEST-</span></h3>
      <p class="hint">${c.testIntro}</p>
      <dl class="kv">
        <dt>${c.clientId}</dt><dd><code class="value">${args.app.clientId}</code></dd>
        <dt>${c.publicKey}</dt><dd><code class="value">TEST-${args.app.ownerPublicKey}</code></dd>
        <dt>test_token</dt><dd><code class="value">true</code></dd>
      </dl>
    </section>
  </div>
  </div>
  <div class="section">
    <h2>${c.secrets}</h2>
    <ul class="rows" aria-label="${c.secrets}">${args.secrets.map(
      (s) =>
        html`<li><div class="main">${s.expiresAt === null ? html`<span class="badge live">${c.secretCurrent}</span>` : html`<span class="badge pending">${c.secretUntil(when(s.expiresAt))}</span>`} <span class="meta">${c.secretCreated(when(s.createdAt))}</span></div></li>`,
    )}</ul>
    <form method="post" action="${base}/client-secret" class="inline">
      ${csrfField(args.user.csrf)}
      <div class="field"><label for="overlap_seconds">${c.overlap}</label>
      <select id="overlap_seconds" name="overlap_seconds">${OVERLAP_CHOICES.map(
        (o) =>
          html`<option value="${o}"${o === '86400' ? raw(' selected') : ''}>${c.overlapChoices[o]}</option>`,
      )}</select></div>
      <button type="submit" class="btn btn-primary">${c.rotate}</button>
    </form>
    <p class="hint">${c.rotateHint}</p>
  </div>
  <div class="section">
    <h2>${c.webhookSecret}</h2>
    ${args.app.notificationUrl ? html`<p class="meta"><code class="value">${args.app.notificationUrl}</code></p>` : html`<p class="hint">${c.noNotificationUrl}</p>`}
    <form method="post" action="${base}/webhook-secret">
      ${csrfField(args.user.csrf)}
      <button type="submit" class="btn btn-secondary">${c.rotateWebhook}</button>
    </form>
    <p class="hint">${c.rotateWebhookHint}</p>
  </div>
</div>`,
  });
}

/** After registration: the client secret and the webhook secret, this once (Cache-Control: no-store). */
export function createdPage(args: {
  locale: Locale;
  user: PortalUser;
  app: PortalApplication;
  clientSecret: string;
  webhookSecret: string;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const c = t.credentials;
  return portalLayout({
    locale: args.locale,
    title: c.createdTitle(args.app.name),
    user: args.user,
    current: 'applications',
    body: html`<div class="card">
  <h1>${c.createdTitle(args.app.name)}</h1>
  <p class="lead">${c.createdIntro}</p>
  <div class="alert alert-error" role="alert">${c.shownOnce}</div>
  <dl class="kv"><dt>${c.clientId}</dt><dd><code class="value" id="client-id">${args.app.clientId}</code></dd>
  <dt>${c.publicKey}</dt><dd><code class="value">APP_USR-${args.app.ownerPublicKey}</code></dd></dl>
  <div class="section">
  ${secretBox(t, 'client-secret', c.clientSecret, args.clientSecret)}
  ${secretBox(t, 'webhook-secret', c.webhookSecret, args.webhookSecret)}
  </div>
  <a class="btn btn-primary" href="/developers/applications/${args.app.clientId}">${c.continue}</a>
</div>`,
  });
}

/** A rotated secret, this once. */
export function rotatedSecretPage(args: {
  locale: Locale;
  user: PortalUser;
  app: PortalApplication;
  kind: 'client' | 'webhook';
  secret: string;
  overlap?: OverlapChoice | undefined;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const c = t.credentials;
  const title = args.kind === 'client' ? c.rotatedTitle : c.webhookSecretRotatedTitle;
  const intro =
    args.kind === 'client'
      ? args.overlap === '0'
        ? c.overlapChoices['0']
        : c.rotatedIntro(c.overlapChoices[args.overlap ?? '86400'])
      : c.webhookSecretRotatedIntro;
  return portalLayout({
    locale: args.locale,
    title: `${title} · ${args.app.name}`,
    user: args.user,
    current: 'applications',
    body: html`<div class="card">
  <div class="crumbs"><a href="/developers/applications/${args.app.clientId}">${args.app.name}</a></div>
  <h1>${title}</h1>
  <p class="lead">${intro}</p>
  <div class="alert alert-error" role="alert">${c.shownOnce}</div>
  ${secretBox(t, args.kind === 'client' ? 'client-secret' : 'webhook-secret', args.kind === 'client' ? c.clientSecret : c.webhookSecret, args.secret)}
  <a class="btn btn-primary" href="/developers/applications/${args.app.clientId}">${c.continue}</a>
</div>`,
  });
}

// --- Delete -----------------------------------------------------------------------------------

export function deletePage(args: {
  locale: Locale;
  user: PortalUser;
  app: PortalApplication;
  typed?: string | undefined;
  error?: string | undefined;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const base = `/developers/applications/${args.app.clientId}`;
  return portalLayout({
    locale: args.locale,
    title: t.remove.title(args.app.name),
    user: args.user,
    current: 'applications',
    body: html`<div class="card danger-zone">
  <div class="crumbs"><a href="${base}">${args.app.name}</a></div>
  <h1>${t.remove.title(args.app.name)}</h1>
  <p class="lead">${t.remove.warning}</p>
  <form method="post" action="${base}/delete" novalidate>
    ${csrfField(args.user.csrf)}
    <div class="field">
      <label for="confirm_name">${t.remove.typeName(args.app.name)}</label>
      <input id="confirm_name" name="confirm_name" type="text" autocomplete="off" value="${args.typed ?? ''}"${args.error ? raw(' aria-invalid="true" aria-describedby="confirm_name-error"') : ''}>
      ${args.error ? html`<span class="field-error" id="confirm_name-error">${args.error}</span>` : ''}
    </div>
    <div class="form-actions"><button type="submit" class="btn btn-danger">${t.remove.confirm}</button><a class="btn btn-secondary" href="${base}">${t.form.cancel}</a></div>
  </form>
</div>`,
  });
}

// --- Sellers ------------------------------------------------------------------------------------

export interface SellerRow {
  userId: number;
  nickname: string;
  isTestUser: boolean;
  scope: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export function sellersPage(args: {
  locale: Locale;
  user: PortalUser;
  app: PortalApplication;
  /** undefined: the server has no seller listing yet. */
  sellers?:
    | { rows: SellerRow[]; nextCursor: string | null; totals?: { real: number; test: number } | undefined }
    | undefined;
  search: string;
  searchError?: string | undefined;
  notice?: string | undefined;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const s = t.sellers;
  const base = `/developers/applications/${args.app.clientId}`;
  const list = args.sellers;
  return portalLayout({
    locale: args.locale,
    title: `${s.title} · ${args.app.name}`,
    user: args.user,
    current: 'applications',
    body: html`<div class="card">
  ${appHeader(t, args.app, 'sellers')}
  <div class="section">
  <h2>${s.title}</h2>
  <p class="hint">${s.intro}</p>
  ${flash(args.notice)}
  ${
    list === undefined
      ? html`<p class="empty">${s.unavailable}</p>`
      : html`<form method="get" action="${base}/sellers" class="inline" role="search">
    <div class="field"><label for="search">${s.search}</label>
    <input id="search" name="search" type="search" maxlength="100" value="${args.search}" aria-describedby="search-hint${args.searchError ? ' search-error' : ''}"${args.searchError ? raw(' aria-invalid="true"') : ''}>
    <span class="field-hint" id="search-hint">${s.searchHint}</span>${args.searchError ? html`<span class="field-error" id="search-error">${args.searchError}</span>` : ''}</div>
    <button type="submit" class="btn btn-secondary">${s.searchButton}</button>
  </form>
  ${list.totals ? html`<p class="meta">${s.totals(list.totals.real, list.totals.test)}</p>` : ''}
  ${
    list.rows.length === 0
      ? html`<p class="empty">${args.search ? s.emptySearch : s.empty}</p>`
      : html`<ul class="rows" aria-label="${s.title}">${list.rows.map((r) => {
          const who = `${r.nickname} (${r.userId})`;
          return html`<li data-user-id="${r.userId}">
    <div class="main"><strong>${r.nickname}</strong> <code>${r.userId}</code> ${r.isTestUser ? html`<span class="badge test">${s.testUser}</span>` : ''}
      <div class="meta">${s.scopes}: ${r.scope} · ${s.authorized}: ${formatDateTime(args.locale, r.createdAt)} · ${s.lastUsed}: ${r.lastUsedAt === null ? s.never : formatDateTime(args.locale, r.lastUsedAt)}</div></div>
    <form method="post" action="${base}/sellers/revoke">
      ${csrfField(args.user.csrf)}
      <input type="hidden" name="user_id" value="${r.userId}">
      <button type="submit" class="btn btn-danger" aria-label="${s.revokeLabel(who)}">${s.revoke}</button>
    </form>
  </li>`;
        })}</ul>`
  }
  ${list.nextCursor ? html`<p class="pager"><a class="btn btn-secondary btn-small" href="${base}/sellers?${new URLSearchParams({ ...(args.search ? { search: args.search } : {}), cursor: list.nextCursor }).toString()}">${s.next}</a></p>` : ''}`
  }
  </div>
</div>`,
  });
}

// --- Webhooks -----------------------------------------------------------------------------------

export interface WebhookRow {
  id: number;
  action: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: number;
  createdAt: number;
  userId: number;
  /** A "send test event" delivery (live_mode: false in its body). */
  test?: boolean | undefined;
}

export function webhooksPage(args: {
  locale: Locale;
  user: PortalUser;
  app: PortalApplication;
  /** undefined: the server has no per-application listing yet. */
  events?: { rows: WebhookRow[]; olderCursor: string | null } | undefined;
  canSendTest: boolean;
  notice?: string | undefined;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const w = t.webhooks;
  const base = `/developers/applications/${args.app.clientId}`;
  const when = (ms: number) => formatDateTime(args.locale, ms);
  return portalLayout({
    locale: args.locale,
    title: `${w.title} · ${args.app.name}`,
    user: args.user,
    current: 'applications',
    body: html`<div class="card">
  ${appHeader(t, args.app, 'webhooks')}
  <div class="section">
  <div class="head"><h2>${w.title}</h2>
  ${
    args.canSendTest && args.app.notificationUrl
      ? html`<form method="post" action="${base}/webhooks/test">${csrfField(args.user.csrf)}<button type="submit" class="btn btn-secondary btn-small">${w.sendTest}</button></form>`
      : ''
  }</div>
  <p class="hint">${w.intro} ${args.app.notificationUrl ? w.sendTestHint : t.credentials.noNotificationUrl}</p>
  ${flash(args.notice)}
  ${
    args.events === undefined
      ? html`<p class="empty">${w.unavailable}</p>`
      : args.events.rows.length === 0
        ? html`<p class="empty">${w.empty}</p>`
        : html`<ul class="rows" aria-label="${w.title}">${args.events.rows.map(
            (e) => html`<li data-event-id="${e.id}">
    <div class="main"><span class="badge ${e.status}">${w.status[e.status]}</span> <strong>${e.action}</strong>${e.test ? html` <span class="badge test">live_mode: false</span>` : ''} <span class="meta">#${e.id} · user ${e.userId} · ${when(e.createdAt)}</span>
      <div class="meta">${w.attempts(e.attempts)}${e.lastStatus !== null ? html` · ${w.lastStatus(e.lastStatus)}` : ''}${e.status === 'pending' ? html` · ${w.nextRetry(when(e.nextAttemptAt))}` : ''}</div>
      ${e.lastError ? html`<div class="meta">${w.lastError}: <code>${e.lastError}</code></div>` : ''}</div>
    ${
      e.status === 'dead'
        ? html`<form method="post" action="${base}/webhooks/retry">${csrfField(args.user.csrf)}<input type="hidden" name="event_id" value="${e.id}"><button type="submit" class="btn btn-secondary btn-small">${w.retry}</button></form>`
        : ''
    }
  </li>`,
          )}</ul>
  ${args.events.olderCursor ? html`<p class="pager"><a class="btn btn-secondary btn-small" href="${base}/webhooks?before=${args.events.olderCursor}">${w.older}</a></p>` : ''}`
  }
  </div>
</div>`,
  });
}

// --- Testing ------------------------------------------------------------------------------------

export interface TestUserRow {
  id: number;
  nickname: string;
  email: string;
  siteId: string;
  description?: string | null | undefined;
  createdAt?: number | undefined;
}

export function testingPage(args: {
  locale: Locale;
  user: PortalUser;
  app: PortalApplication;
  /** undefined: the server has no test users yet. */
  testUsers?: { rows: TestUserRow[]; limit: number } | undefined;
  sites: readonly string[];
  values: { siteId: string; description: string };
  errors: FieldErrors;
  created?: { id: number; nickname: string; email: string; password: string; siteId: string } | undefined;
}): string {
  const t = PORTAL_MESSAGES[args.locale];
  const x = t.testing;
  const base = `/developers/applications/${args.app.clientId}`;
  const users = args.testUsers;
  const full = users !== undefined && users.rows.length >= users.limit;
  return portalLayout({
    locale: args.locale,
    title: `${x.title} · ${args.app.name}`,
    user: args.user,
    current: 'applications',
    body: html`<div class="card">
  ${appHeader(t, args.app, 'testing')}
  <div class="section">
  <p class="hint">${x.intro}</p>
  <section class="env test"><h3>${t.credentials.test} <span class="badge test">TEST-</span></h3><p class="hint">${x.tokensIntro}</p></section>
  </div>
  ${
    args.created
      ? html`<div class="section" aria-labelledby="created-title">
    <h2 id="created-title">${x.createdTitle}</h2>
    <p>${x.createdIntro}</p>
    <div class="alert alert-error" role="alert">${t.credentials.shownOnce}</div>
    <dl class="kv"><dt>${x.id}</dt><dd><code class="value" id="test-user-id">${args.created.id}</code></dd>
    <dt>${x.nickname}</dt><dd><code class="value" id="test-user-nickname">${args.created.nickname}</code></dd>
    <dt>${x.email}</dt><dd><code class="value" id="test-user-email">${args.created.email}</code></dd>
    <dt>${x.site}</dt><dd>${args.created.siteId}</dd></dl>
    ${secretBox(t, 'test-user-password', x.password, args.created.password)}
  </div>`
      : ''
  }
  <div class="section">
  <h2>${x.users}</h2>
  ${
    users === undefined
      ? html`<p class="empty">${x.unavailable}</p>`
      : html`<p class="meta" id="test-user-limit">${x.limit(users.rows.length, users.limit)}</p>
  ${errors_form(args.errors)}
  ${
    full
      ? html`<p class="hint">${x.limitReached}</p>`
      : html`<form method="post" action="${base}/testing/users" class="inline" novalidate>
    ${csrfField(args.user.csrf)}
    <div class="field"><label for="site_id">${x.site}</label>
    <select id="site_id" name="site_id"${args.errors.site_id ? raw(' aria-invalid="true" aria-describedby="site_id-error"') : ''}>${args.sites.map(
      (site) =>
        html`<option value="${site}"${site === args.values.siteId ? raw(' selected') : ''}>${site}</option>`,
    )}</select>${fieldError(args.errors, 'site_id')}</div>
    <div class="field"><label for="test_description">${x.description} <span class="optional">(${t.form.optional})</span></label>
    <input id="test_description" name="description" type="text" maxlength="200" value="${args.values.description}"${args.errors.description ? raw(' aria-invalid="true" aria-describedby="description-error"') : ''}>${fieldError(args.errors, 'description')}</div>
    <button type="submit" class="btn btn-primary">${x.create}</button>
  </form>`
  }
  ${
    users.rows.length === 0
      ? html`<p class="empty">${x.empty}</p>`
      : html`<ul class="rows" aria-label="${x.users}">${users.rows.map(
          (
            u,
          ) => html`<li><div class="main"><strong>${u.nickname}</strong> <code>${u.id}</code> <span class="badge test">${u.siteId}</span>
      <div class="meta">${u.email}${u.description ? html` · ${u.description}` : ''}</div></div></li>`,
        )}</ul>`
  }`
  }
  </div>
</div>`,
  });
}

function errors_form(errors: FieldErrors): SafeHtml | '' {
  return errors._form ? flash(errors._form, 'error') : '';
}
