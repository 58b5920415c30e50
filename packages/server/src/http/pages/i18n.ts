import type { Scope } from '../../core/scopes.ts';

/** The markets Mercado Pago serves speak Spanish and Portuguese; English for everyone else. */
export type Locale = 'es' | 'pt' | 'en';
export const LOCALES: readonly Locale[] = ['es', 'pt', 'en'];
/** Most of the sellers these pages serve read Spanish. */
const DEFAULT_LOCALE: Locale = 'es';

/**
 * Picks the page language from `Accept-Language` (RFC 9110 §12.5.4): the supported language with
 * the highest q-value, the earlier one on ties; `pt-BR` and `es-AR` match by primary subtag.
 */
export function negotiateLocale(acceptLanguage: string | undefined): Locale {
  if (!acceptLanguage) return DEFAULT_LOCALE;
  const ranges = acceptLanguage
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return {
        primary: tag.trim().toLowerCase().split('-')[0] ?? '',
        q: q === undefined ? 1 : Number(q),
        index,
      };
    })
    .filter((r) => r.q > 0 && Number.isFinite(r.q))
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const range of ranges) {
    if ((LOCALES as readonly string[]).includes(range.primary)) return range.primary as Locale;
  }
  return DEFAULT_LOCALE;
}

/** Dates as sellers read them, e.g. "12 de marzo de 2026" or "March 12, 2026". */
export function formatDate(locale: Locale, ms: number): string {
  const tag = { es: 'es-AR', pt: 'pt-BR', en: 'en-US' }[locale];
  return new Intl.DateTimeFormat(tag, { dateStyle: 'long', timeZone: 'UTC' }).format(new Date(ms));
}

export interface ScopeText {
  title: string;
  detail: string;
}

export interface Messages {
  languageName: string;
  skipToContent: string;
  signIn: {
    title: string;
    toContinue: (app: string) => string;
    toManage: string;
    email: string;
    password: string;
    submit: string;
    badCredentials: string;
    throttled: (minutes: number) => string;
    /** Every password-check slot is taken (429): wait seconds, not minutes. */
    busy: string;
    demoHint: string;
  };
  consent: {
    title: (app: string) => string;
    signedInAs: string;
    notYou: string;
    willAllow: (app: string) => string;
    scopes: Record<Scope, ScopeText>;
    returnTo: (host: string) => string;
    noPassword: string;
    removeAnytime: string;
    yourApplications: string;
    previously: (date: string) => string;
    allow: string;
    deny: string;
    owner: (nickname: string) => string;
  };
  account: {
    title: string;
    intro: string;
    empty: string;
    authorizedOn: (date: string) => string;
    /** Coarse (to the hour): when the application last used the authorization. */
    lastUsedOn: (date: string) => string;
    neverUsed: string;
    canDo: string;
    remove: (app: string) => string;
    removeLabel: string;
    removed: (app: string) => string;
    signOut: string;
  };
  error: {
    title: string;
    unknownClient: string;
    badRedirectUri: string;
    csrf: string;
    generic: string;
    throttled: string;
    /** The sign-in or sign-out form's `next` field carries control characters (400). */
    badNext: string;
    forDevelopers: string;
    back: string;
  };
  demo: {
    title: string;
    intro: string;
    exchange: string;
    refresh: string;
    failed: string;
    again: string;
    stateMismatch: string;
    returned: (error: string) => string;
  };
}

const es: Messages = {
  languageName: 'Español',
  skipToContent: 'Ir al contenido',
  signIn: {
    title: 'Inicia sesión',
    toContinue: (app) => `para continuar a ${app}`,
    toManage: 'para ver las aplicaciones que autorizaste',
    email: 'Correo electrónico',
    password: 'Contraseña',
    submit: 'Iniciar sesión',
    badCredentials: 'El correo y la contraseña no coinciden. Revísalos e inténtalo de nuevo.',
    throttled: (m) =>
      `Demasiados intentos fallidos. Espera ${m} ${m === 1 ? 'minuto' : 'minutos'} e inténtalo de nuevo.`,
    busy: 'Estamos verificando muchos inicios de sesión en este momento. Espera unos segundos e inténtalo de nuevo.',
    demoHint: 'Demo: demo-seller@renova.test / renova-demo',
  },
  consent: {
    title: (app) => `${app} quiere acceder a tu cuenta`,
    signedInAs: 'Sesión iniciada como',
    notYou: '¿No eres tú?',
    willAllow: (app) => `Si aceptas, ${app} podrá:`,
    scopes: {
      read: {
        title: 'Ver la información de tu cuenta',
        detail: 'Tu perfil, tus ventas, tus pagos y otros datos de tu cuenta.',
      },
      write: {
        title: 'Actuar en tu nombre',
        detail: 'Crear y modificar pagos, pedidos y otros elementos de tu cuenta.',
      },
      offline_access: {
        title: 'Mantener el acceso cuando no estés',
        detail: 'Seguir conectada sin volver a pedirte permiso, hasta que le quites el acceso.',
      },
    },
    returnTo: (host) => `Después volverás a ${host}.`,
    noPassword: 'La aplicación nunca verá tu contraseña.',
    removeAnytime: 'Puedes quitarle el acceso cuando quieras en',
    yourApplications: 'Tus aplicaciones',
    previously: (d) => `Ya autorizaste esta aplicación el ${d}.`,
    allow: 'Permitir',
    deny: 'Rechazar',
    owner: (n) => `Publicada por ${n}`,
  },
  account: {
    title: 'Tus aplicaciones',
    intro:
      'Estas aplicaciones pueden actuar en tu cuenta. Si quitas el acceso a una, todos sus tokens dejan de funcionar al instante.',
    empty: 'No autorizaste ninguna aplicación.',
    authorizedOn: (d) => `Autorizada el ${d}`,
    lastUsedOn: (d) => `Último uso: ${d}`,
    neverUsed: 'Todavía no la usó',
    canDo: 'Puede',
    remove: (app) => `Quitar el acceso a ${app}`,
    removeLabel: 'Quitar acceso',
    removed: (app) => `${app} ya no tiene acceso a tu cuenta.`,
    signOut: 'Cerrar sesión',
  },
  error: {
    title: 'No podemos continuar',
    unknownClient: 'La aplicación que te trajo hasta aquí no está registrada.',
    badRedirectUri:
      'La aplicación que te trajo hasta aquí pidió volver a una dirección que no tiene registrada, así que no te enviaremos allí.',
    csrf: 'Este formulario venció o no salió de esta página. Vuelve atrás, recarga la página e inténtalo de nuevo.',
    generic: 'Algo salió mal con esta solicitud.',
    throttled: 'Demasiados intentos. Espera un momento e inténtalo de nuevo.',
    badNext:
      'El enlace de inicio de sesión está dañado: su dirección de regreso contiene caracteres no permitidos. Vuelve a la aplicación y empieza de nuevo.',
    forDevelopers: 'Para desarrolladores',
    back: 'Vuelve a la aplicación e inténtalo de nuevo.',
  },
  demo: {
    title: 'Demo: la aplicación recibió el código',
    intro:
      'Esta página hace de aplicación: canjeó el código de autorización por tokens y luego renovó el token de acceso.',
    exchange: 'Canje del código (grant_type=authorization_code)',
    refresh: 'Renovación (grant_type=refresh_token)',
    failed: 'La solicitud falló',
    again: 'Empezar de nuevo',
    stateMismatch: 'El parámetro state no coincide con el de esta sesión; la respuesta no se usó.',
    returned: (e) => `La autorización volvió con error=${e}.`,
  },
};

const pt: Messages = {
  languageName: 'Português',
  skipToContent: 'Ir para o conteúdo',
  signIn: {
    title: 'Entre na sua conta',
    toContinue: (app) => `para continuar em ${app}`,
    toManage: 'para ver os aplicativos que você autorizou',
    email: 'E-mail',
    password: 'Senha',
    submit: 'Entrar',
    badCredentials: 'O e-mail e a senha não conferem. Verifique e tente de novo.',
    throttled: (m) =>
      `Muitas tentativas sem sucesso. Aguarde ${m} ${m === 1 ? 'minuto' : 'minutos'} e tente de novo.`,
    busy: 'Estamos verificando muitos acessos neste momento. Aguarde alguns segundos e tente de novo.',
    demoHint: 'Demo: demo-seller@renova.test / renova-demo',
  },
  consent: {
    title: (app) => `${app} quer acessar sua conta`,
    signedInAs: 'Você entrou como',
    notYou: 'Não é você?',
    willAllow: (app) => `Se você permitir, ${app} poderá:`,
    scopes: {
      read: {
        title: 'Ver as informações da sua conta',
        detail: 'Seu perfil, suas vendas, seus pagamentos e outros dados da conta.',
      },
      write: {
        title: 'Agir em seu nome',
        detail: 'Criar e alterar pagamentos, pedidos e outros itens da sua conta.',
      },
      offline_access: {
        title: 'Manter o acesso quando você não estiver',
        detail: 'Continuar conectado sem pedir sua permissão de novo, até você remover o acesso.',
      },
    },
    returnTo: (host) => `Depois você voltará para ${host}.`,
    noPassword: 'O aplicativo nunca verá sua senha.',
    removeAnytime: 'Você pode remover o acesso quando quiser em',
    yourApplications: 'Seus aplicativos',
    previously: (d) => `Você já autorizou este aplicativo em ${d}.`,
    allow: 'Permitir',
    deny: 'Recusar',
    owner: (n) => `Publicado por ${n}`,
  },
  account: {
    title: 'Seus aplicativos',
    intro:
      'Estes aplicativos podem agir na sua conta. Ao remover o acesso de um deles, todos os seus tokens param de funcionar na hora.',
    empty: 'Você não autorizou nenhum aplicativo.',
    authorizedOn: (d) => `Autorizado em ${d}`,
    lastUsedOn: (d) => `Último uso: ${d}`,
    neverUsed: 'Ainda não foi usado',
    canDo: 'Pode',
    remove: (app) => `Remover o acesso de ${app}`,
    removeLabel: 'Remover acesso',
    removed: (app) => `${app} não tem mais acesso à sua conta.`,
    signOut: 'Sair',
  },
  error: {
    title: 'Não foi possível continuar',
    unknownClient: 'O aplicativo que trouxe você até aqui não está cadastrado.',
    badRedirectUri:
      'O aplicativo que trouxe você até aqui pediu para voltar a um endereço que não está cadastrado, então não vamos enviar você para lá.',
    csrf: 'Este formulário expirou ou não veio desta página. Volte, recarregue a página e tente de novo.',
    generic: 'Algo deu errado com esta solicitação.',
    throttled: 'Muitas tentativas. Aguarde um pouco e tente de novo.',
    badNext:
      'O link de acesso está danificado: o endereço de retorno contém caracteres não permitidos. Volte ao aplicativo e comece de novo.',
    forDevelopers: 'Para desenvolvedores',
    back: 'Volte ao aplicativo e tente de novo.',
  },
  demo: {
    title: 'Demo: o aplicativo recebeu o código',
    intro:
      'Esta página faz o papel do aplicativo: trocou o código de autorização por tokens e depois renovou o token de acesso.',
    exchange: 'Troca do código (grant_type=authorization_code)',
    refresh: 'Renovação (grant_type=refresh_token)',
    failed: 'A solicitação falhou',
    again: 'Começar de novo',
    stateMismatch: 'O parâmetro state não confere com o desta sessão; a resposta não foi usada.',
    returned: (e) => `A autorização voltou com error=${e}.`,
  },
};

const en: Messages = {
  languageName: 'English',
  skipToContent: 'Skip to content',
  signIn: {
    title: 'Sign in',
    toContinue: (app) => `to continue to ${app}`,
    toManage: 'to see the applications you authorized',
    email: 'Email',
    password: 'Password',
    submit: 'Sign in',
    badCredentials: "That email and password don't match. Check them and try again.",
    throttled: (m) => `Too many failed attempts. Wait ${m} ${m === 1 ? 'minute' : 'minutes'} and try again.`,
    busy: 'Many sign-ins are being checked right now. Wait a few seconds and try again.',
    demoHint: 'Demo: demo-seller@renova.test / renova-demo',
  },
  consent: {
    title: (app) => `${app} wants to access your account`,
    signedInAs: 'Signed in as',
    notYou: 'Not you?',
    willAllow: (app) => `If you allow it, ${app} will be able to:`,
    scopes: {
      read: {
        title: 'See your account information',
        detail: 'Your profile, sales, payments and other account data.',
      },
      write: {
        title: 'Act on your behalf',
        detail: 'Create and change payments, orders and other items in your account.',
      },
      offline_access: {
        title: "Keep access while you're away",
        detail: 'Stay connected without asking you again, until you remove its access.',
      },
    },
    returnTo: (host) => `Afterwards you'll go back to ${host}.`,
    noPassword: 'The application never sees your password.',
    removeAnytime: 'You can remove its access at any time in',
    yourApplications: 'Your applications',
    previously: (d) => `You already authorized this application on ${d}.`,
    allow: 'Allow',
    deny: 'Deny',
    owner: (n) => `Published by ${n}`,
  },
  account: {
    title: 'Your applications',
    intro: 'These applications can act on your account. Removing one stops all of its tokens at once.',
    empty: "You haven't authorized any application.",
    authorizedOn: (d) => `Authorized on ${d}`,
    lastUsedOn: (d) => `Last used: ${d}`,
    neverUsed: 'Not used yet',
    canDo: 'Can',
    remove: (app) => `Remove access for ${app}`,
    removeLabel: 'Remove access',
    removed: (app) => `${app} no longer has access to your account.`,
    signOut: 'Sign out',
  },
  error: {
    title: "We can't continue",
    unknownClient: "The application that sent you here isn't registered.",
    badRedirectUri:
      "The application that sent you here asked to return to an address it hasn't registered, so we won't send you there.",
    csrf: "This form expired or didn't come from this page. Go back, reload the page and try again.",
    generic: 'Something went wrong with this request.',
    throttled: 'Too many attempts. Wait a moment and try again.',
    badNext:
      'This sign-in link is damaged: its return address contains characters that are not allowed. Go back to the application and start again.',
    forDevelopers: 'For developers',
    back: 'Go back to the application and try again.',
  },
  demo: {
    title: 'Demo: the application received the code',
    intro:
      'This page plays the application: it exchanged the authorization code for tokens, then refreshed the access token.',
    exchange: 'Code exchange (grant_type=authorization_code)',
    refresh: 'Refresh (grant_type=refresh_token)',
    failed: 'The request failed',
    again: 'Start again',
    stateMismatch: "The state parameter doesn't match this session's; the response was not used.",
    returned: (e) => `The authorization came back with error=${e}.`,
  },
};

export const MESSAGES: Readonly<Record<Locale, Messages>> = { es, pt, en };
