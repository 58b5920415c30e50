import type { AuditEventRecord, AuditEventType } from '../../storage/contract.ts';
import { html } from './html.ts';
import type { Locale } from './i18n.ts';
import { layout } from './views.ts';

/**
 * The seller's activity page (`/account/activity`): their own audit events, newest first. Only
 * what the seller did or what happened to their authorizations; identifiers and times, nothing
 * secret (the trail holds no secrets at all). Strings live here, beside the one page that uses them.
 */
interface ActivityMessages {
  title: string;
  intro: string;
  empty: string;
  older: string;
  when: string;
  what: string;
  application: string;
  from: string;
  types: Partial<Record<AuditEventType, string>>;
}

const es: ActivityMessages = {
  title: 'Actividad de tu cuenta',
  intro: 'Inicios de sesión y cambios en tus autorizaciones, del más reciente al más antiguo.',
  empty: 'Todavía no hay actividad.',
  older: 'Ver actividad anterior',
  when: 'Cuándo',
  what: 'Qué',
  application: 'Aplicación',
  from: 'Desde',
  types: {
    'consent.granted': 'Autorizaste una aplicación',
    'consent.denied': 'Rechazaste una aplicación',
    'grant.revoked': 'Se quitó el acceso de una aplicación',
    'code.exchanged': 'La aplicación obtuvo acceso',
    'code.reused': 'Código reutilizado: se revocaron sus credenciales',
    'refresh.reused': 'Credencial reutilizada: se revocaron sus credenciales',
    'family.revoked': 'La aplicación revocó sus credenciales',
    'token.revoked': 'La aplicación revocó una credencial',
    'seller.signed_in': 'Iniciaste sesión',
    'seller.sign_in_failed': 'Intento fallido de inicio de sesión',
    'seller.signed_out': 'Cerraste sesión',
    'user.created': 'Se creó tu cuenta',
    'application.created': 'Se creó tu aplicación',
  },
};

const pt: ActivityMessages = {
  title: 'Atividade da sua conta',
  intro: 'Acessos e mudanças nas suas autorizações, da mais recente à mais antiga.',
  empty: 'Ainda não há atividade.',
  older: 'Ver atividade anterior',
  when: 'Quando',
  what: 'O quê',
  application: 'Aplicativo',
  from: 'De',
  types: {
    'consent.granted': 'Você autorizou um aplicativo',
    'consent.denied': 'Você recusou um aplicativo',
    'grant.revoked': 'O acesso de um aplicativo foi removido',
    'code.exchanged': 'O aplicativo obteve acesso',
    'code.reused': 'Código reutilizado: as credenciais foram revogadas',
    'refresh.reused': 'Credencial reutilizada: as credenciais foram revogadas',
    'family.revoked': 'O aplicativo revogou suas credenciais',
    'token.revoked': 'O aplicativo revogou uma credencial',
    'seller.signed_in': 'Você entrou',
    'seller.sign_in_failed': 'Tentativa de acesso falhou',
    'seller.signed_out': 'Você saiu',
    'user.created': 'Sua conta foi criada',
    'application.created': 'Seu aplicativo foi criado',
  },
};

const en: ActivityMessages = {
  title: 'Account activity',
  intro: 'Sign-ins and changes to your authorizations, newest first.',
  empty: 'No activity yet.',
  older: 'Show older activity',
  when: 'When',
  what: 'What',
  application: 'Application',
  from: 'From',
  types: {
    'consent.granted': 'You authorized an application',
    'consent.denied': 'You declined an application',
    'grant.revoked': "An application's access was removed",
    'code.exchanged': 'The application obtained access',
    'code.reused': 'A code was reused: its credentials were revoked',
    'refresh.reused': 'A credential was reused: its credentials were revoked',
    'family.revoked': 'The application revoked its credentials',
    'token.revoked': 'The application revoked a credential',
    'seller.signed_in': 'You signed in',
    'seller.sign_in_failed': 'Failed sign-in attempt',
    'seller.signed_out': 'You signed out',
    'user.created': 'Your account was created',
    'application.created': 'Your application was created',
  },
};

const ACTIVITY: Readonly<Record<Locale, ActivityMessages>> = { es, pt, en };

export function activityPage(args: {
  locale: Locale;
  csrf: string;
  email: string;
  events: AuditEventRecord[];
  /** Application names by client id, for the events that name one. */
  applicationNames: ReadonlyMap<string, string>;
  nextCursor: string | null;
}): string {
  const t = ACTIVITY[args.locale];
  const time = new Intl.DateTimeFormat({ es: 'es-AR', pt: 'pt-BR', en: 'en-US' }[args.locale], {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: 'UTC',
  });
  const row = (e: AuditEventRecord) => html`<tr>
    <td><time datetime="${new Date(e.at).toISOString()}">${time.format(new Date(e.at))} UTC</time></td>
    <td>${t.types[e.type] ?? e.type}</td>
    <td>${e.clientId ? (args.applicationNames.get(e.clientId) ?? e.clientId) : ''}</td>
    <td>${e.remoteAddress ?? ''}</td>
  </tr>`;
  return layout({
    locale: args.locale,
    title: t.title,
    user: { email: args.email, csrf: args.csrf, next: '/account/applications' },
    body: html`<div class="card wide">
  <h1>${t.title}</h1>
  <p class="lead">${t.intro}</p>
  ${
    args.events.length === 0
      ? html`<p class="empty">${t.empty}</p>`
      : html`<table class="activity">
    <thead><tr><th scope="col">${t.when}</th><th scope="col">${t.what}</th><th scope="col">${t.application}</th><th scope="col">${t.from}</th></tr></thead>
    <tbody>${args.events.map(row)}</tbody>
  </table>`
  }
  ${args.nextCursor ? html`<p><a href="/account/activity?cursor=${args.nextCursor}">${t.older}</a></p>` : ''}
</div>`,
  });
}
