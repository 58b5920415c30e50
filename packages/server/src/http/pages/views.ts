import { createHash } from 'node:crypto';
import { type Scope, scopeSet } from '../../core/scopes.ts';
import { html, raw, type SafeHtml } from './html.ts';
import { formatDate, type Locale, MESSAGES, type Messages } from './i18n.ts';

/** Server-rendered pages of the seller's side. Every value is escaped by `html`. */

const LOGO = raw(
  '<svg width="30" height="30" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><rect width="24" height="24" rx="7" fill="#0d6b63"/><path d="M7.2 12a4.8 4.8 0 0 1 8.3-3.3M16.8 12a4.8 4.8 0 0 1-8.3 3.3" stroke="#fff" stroke-width="2" fill="none" stroke-linecap="round"/><path d="M15.8 5.6v3.3h-3.3M8.2 18.4v-3.3h3.3" stroke="#fff" stroke-width="2" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>',
);

const SCOPE_ICONS: Record<Scope, SafeHtml> = {
  read: raw(
    '<svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M2 12s3.6-7 10-7 10 7 10 7-3.6 7-10 7S2 12 2 12z"/><circle cx="12" cy="12" r="3"/></svg>',
  ),
  write: raw(
    '<svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M12 20h9"/><path d="M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z"/></svg>',
  ),
  offline_access: raw(
    '<svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/></svg>',
  ),
};

const ALERT_ICON = raw(
  '<svg width="26" height="26" viewBox="0 0 24 24" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"><circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.5M12 16.5v.01"/></svg>',
);

export interface PageFrame {
  locale: Locale;
  title: string;
  /** The signed-in seller, shown in the header with a sign-out button. */
  user?: { email: string; csrf: string; next: string } | undefined;
  body: SafeHtml;
}

export function layout(frame: PageFrame): string {
  const t = MESSAGES[frame.locale];
  return `<!doctype html>${html`<html lang="${frame.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${frame.title} · Renova</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/renova.css">
</head>
<body>
<a class="skip" href="#main">${t.skipToContent}</a>
<header class="top">
  <a class="brand" href="/account/applications">${LOGO}<span>Renova</span></a>
  ${frame.user ? html`<div class="who"><span>${frame.user.email}</span>${signOutForm(t, frame.user.csrf, frame.user.next, t.account.signOut, 'btn btn-secondary')}</div>` : ''}
</header>
<main id="main">
${frame.body}
</main>
<footer>Renova · OAuth 2.0</footer>
</body>
</html>`}`;
}

function signOutForm(_t: Messages, csrf: string, next: string, label: string, className: string): SafeHtml {
  return html`<form method="post" action="/logout"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="next" value="${next}"><button type="submit" class="${className}">${label}</button></form>`;
}

/** A stable color and up to two initials, so sellers recognize an application at a glance. */
function avatar(name: string, size: '' | 'sm' = ''): SafeHtml {
  const initials =
    name
      .split(/\s+/)
      .filter((w) => /[\p{L}\p{N}]/u.test(w))
      .slice(0, 2)
      .map((w) => [...w][0]?.toUpperCase() ?? '')
      .join('') || '?';
  const hue = (createHash('sha256').update(name).digest()[0] ?? 0) % 6;
  return html`<span class="avatar ${size} hue-${hue}" aria-hidden="true">${initials}</span>`;
}

/** Most consequential first: acting on the seller's behalf, then reading, then staying connected. */
const SCOPE_ORDER: readonly Scope[] = ['write', 'read', 'offline_access'];

function scopeList(t: Messages, scope: string): SafeHtml {
  const granted = scopeSet(scope);
  return html`<ul class="scopes">${SCOPE_ORDER.filter((s) => granted.has(s)).map(
    (s) =>
      html`<li><span class="icon">${SCOPE_ICONS[s]}</span><span><strong>${t.consent.scopes[s].title}</strong><span class="detail">${t.consent.scopes[s].detail}</span></span></li>`,
  )}</ul>`;
}

export function loginPage(args: {
  locale: Locale;
  csrf: string;
  next: string;
  appName?: string | undefined;
  email?: string | undefined;
  error?: string | undefined;
  demo?: boolean;
}): string {
  const t = MESSAGES[args.locale];
  return layout({
    locale: args.locale,
    title: t.signIn.title,
    body: html`<div class="card">
  ${args.appName ? html`<div class="pair">${avatar(args.appName)}<span class="dots"></span>${raw(LOGO.value.replace('width="30" height="30"', 'width="56" height="56"'))}</div>` : ''}
  <h1 class="center">${t.signIn.title}</h1>
  <p class="lead center">${args.appName ? t.signIn.toContinue(args.appName) : t.signIn.toManage}</p>
  ${args.error ? html`<div class="alert alert-error" role="alert" id="login-error">${args.error}</div>` : ''}
  <form method="post" action="/login" novalidate>
    <input type="hidden" name="csrf" value="${args.csrf}">
    <input type="hidden" name="next" value="${args.next}">
    <div class="field">
      <label for="email">${t.signIn.email}</label>
      <input id="email" name="email" type="email" autocomplete="username" required autofocus value="${args.email ?? ''}"${args.error ? raw(' aria-describedby="login-error" aria-invalid="true"') : ''}>
    </div>
    <div class="field">
      <label for="password">${t.signIn.password}</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required>
    </div>
    <button type="submit" class="btn btn-primary btn-block">${t.signIn.submit}</button>
  </form>
  ${args.demo ? html`<p class="hint center">${t.signIn.demoHint}</p>` : ''}
</div>`,
  });
}

export function consentPage(args: {
  locale: Locale;
  csrf: string;
  /** `/authorization?…`: the form posts back to the same request. */
  action: string;
  appName: string;
  ownerNickname?: string | undefined;
  scope: string;
  redirectHost: string;
  email: string;
  previouslyAuthorizedAt?: number | undefined;
}): string {
  const t = MESSAGES[args.locale];
  return layout({
    locale: args.locale,
    title: t.consent.title(args.appName),
    body: html`<div class="card">
  <div class="pair">${avatar(args.appName)}<span class="dots"></span>${raw(LOGO.value.replace('width="30" height="30"', 'width="56" height="56"'))}</div>
  <h1 class="center">${t.consent.title(args.appName)}</h1>
  ${args.ownerNickname ? html`<p class="lead center">${t.consent.owner(args.ownerNickname)}</p>` : html`<div class="lead"></div>`}
  <div class="account-chip">
    <span>${t.consent.signedInAs} <strong>${args.email}</strong></span>
    ${signOutForm(t, args.csrf, args.action, t.consent.notYou, 'linklike')}
  </div>
  <h2>${t.consent.willAllow(args.appName)}</h2>
  ${scopeList(t, args.scope)}
  <div class="notes">
    ${args.previouslyAuthorizedAt ? html`<p>${t.consent.previously(formatDate(args.locale, args.previouslyAuthorizedAt))}</p>` : ''}
    <p>${t.consent.returnTo(args.redirectHost)} ${t.consent.noPassword}</p>
    <p>${t.consent.removeAnytime} <a href="/account/applications">${t.consent.yourApplications}</a>.</p>
  </div>
  <form method="post" action="${args.action}">
    <input type="hidden" name="csrf" value="${args.csrf}">
    <div class="actions">
      <button type="submit" name="decision" value="deny" class="btn btn-secondary">${t.consent.deny}</button>
      <button type="submit" name="decision" value="allow" class="btn btn-primary">${t.consent.allow}</button>
    </div>
  </form>
</div>`,
  });
}

export function accountPage(args: {
  locale: Locale;
  csrf: string;
  email: string;
  grants: {
    clientId: string;
    applicationName: string;
    scope: string;
    createdAt: number;
    lastUsedAt: number | null;
  }[];
  removedName?: string | undefined;
}): string {
  const t = MESSAGES[args.locale];
  const next = '/account/applications';
  return layout({
    locale: args.locale,
    title: t.account.title,
    user: { email: args.email, csrf: args.csrf, next },
    body: html`<div class="card wide">
  <h1>${t.account.title}</h1>
  <p class="lead">${t.account.intro}</p>
  ${args.removedName ? html`<div class="alert alert-ok" role="status">${t.account.removed(args.removedName)}</div>` : ''}
  ${
    args.grants.length === 0
      ? html`<p class="empty">${t.account.empty}</p>`
      : html`<ul class="apps">${args.grants.map(
          (g) => html`<li>
    ${avatar(g.applicationName, 'sm')}
    <div class="body">
      <h2>${g.applicationName}</h2>
      <div class="meta">${t.account.authorizedOn(formatDate(args.locale, g.createdAt))} · ${
        g.lastUsedAt === null
          ? t.account.neverUsed
          : t.account.lastUsedOn(formatDate(args.locale, g.lastUsedAt))
      }</div>
      <ul class="chips" aria-label="${t.account.canDo}">${SCOPE_ORDER.filter((s) =>
        scopeSet(g.scope).has(s),
      ).map((s) => html`<li>${t.consent.scopes[s].title}</li>`)}</ul>
    </div>
    <form method="post" action="/account/applications/revoke">
      <input type="hidden" name="csrf" value="${args.csrf}">
      <input type="hidden" name="client_id" value="${g.clientId}">
      <button type="submit" class="btn btn-danger" aria-label="${t.account.remove(g.applicationName)}">${t.account.removeLabel}</button>
    </form>
  </li>`,
        )}</ul>`
  }
</div>`,
  });
}

export type ErrorKind = 'unknownClient' | 'badRedirectUri' | 'csrf' | 'throttled' | 'badNext' | 'generic';

export function errorPage(args: { locale: Locale; kind: ErrorKind; detail?: string | undefined }): string {
  const t = MESSAGES[args.locale];
  const message = t.error[args.kind];
  const showBack = args.kind === 'unknownClient' || args.kind === 'badRedirectUri';
  return layout({
    locale: args.locale,
    title: t.error.title,
    body: html`<div class="card center">
  <div class="error-icon">${ALERT_ICON}</div>
  <h1>${t.error.title}</h1>
  <p class="lead">${message}${showBack ? html` ${t.error.back}` : ''}</p>
  ${args.detail ? html`<details><summary>${t.error.forDevelopers}</summary><pre>${args.detail}</pre></details>` : ''}
</div>`,
  });
}

export function demoCallbackPage(args: {
  locale: Locale;
  steps: { title: string; status: number; body: unknown }[];
  problem?: string | undefined;
}): string {
  const t = MESSAGES[args.locale];
  return layout({
    locale: args.locale,
    title: t.demo.title,
    body: html`<div class="card wide">
  <h1>${t.demo.title}</h1>
  <p class="lead">${t.demo.intro}</p>
  ${args.problem ? html`<div class="alert alert-error" role="alert">${args.problem}</div>` : ''}
  ${args.steps.map(
    (step, i) => html`<section aria-labelledby="step-${i}">
    <h2 id="step-${i}">${i + 1}. ${step.title} · HTTP ${step.status}</h2>
    <pre data-step="${i}">${JSON.stringify(step.body, null, 2)}</pre>
  </section>`,
  )}
  <p class="actions"><a class="btn btn-primary" href="/demo/start">${t.demo.again}</a><a class="btn btn-secondary" href="/account/applications">${t.consent.yourApplications}</a></p>
</div>`,
  });
}
