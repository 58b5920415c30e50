import type { Locale } from './i18n.ts';

/** The developer portal's words (docs/developer-portal.md), in the same three languages as the seller pages. */
export interface PortalMessages {
  portal: string;
  signInLead: string;
  nav: { applications: string; authorizations: string; newApplication: string };
  list: {
    title: string;
    intro: string;
    empty: string;
    created: (date: string) => string;
    deleted: string;
    open: string;
  };
  tabs: { overview: string; settings: string; sellers: string; webhooks: string; testing: string };
  form: {
    createTitle: string;
    editTitle: (name: string) => string;
    name: string;
    nameHint: string;
    description: string;
    descriptionHint: string;
    logoUrl: string;
    logoUrlHint: string;
    redirectUris: string;
    redirectUrisHint: string;
    scopes: string;
    scopeNames: Record<'read' | 'write' | 'offline_access', string>;
    pkce: string;
    pkceHint: string;
    grantTypes: string;
    grantNames: Record<'authorization_code' | 'refresh_token' | 'client_credentials', string>;
    notificationUrl: string;
    notificationUrlHint: string;
    create: string;
    save: string;
    cancel: string;
    fixErrors: string;
    saved: string;
    optional: string;
    required: string;
    tooLong: (max: number) => string;
    atLeastOneScope: string;
    atLeastOneUri: string;
    tooManyUris: (max: number) => string;
    badUrl: string;
    once: string;
    controls: string;
    unknownChoice: (accepted: string) => string;
  };
  credentials: {
    title: string;
    production: string;
    productionIntro: string;
    test: string;
    testIntro: string;
    clientId: string;
    publicKey: string;
    clientSecret: string;
    secretHidden: string;
    shownOnce: string;
    copy: string;
    copied: string;
    createdTitle: (name: string) => string;
    createdIntro: string;
    rotatedTitle: string;
    rotatedIntro: (overlap: string) => string;
    webhookSecret: string;
    webhookSecretRotatedTitle: string;
    webhookSecretRotatedIntro: string;
    continue: string;
    secrets: string;
    secretCurrent: string;
    secretUntil: (date: string) => string;
    secretCreated: (date: string) => string;
    rotate: string;
    rotateHint: string;
    overlap: string;
    overlapChoices: Record<'0' | '3600' | '86400' | '604800', string>;
    rotateWebhook: string;
    rotateWebhookHint: string;
    noNotificationUrl: string;
    alreadyShown: string;
  };
  remove: {
    title: (name: string) => string;
    button: string;
    warning: string;
    typeName: (name: string) => string;
    confirm: string;
    mismatch: string;
  };
  sellers: {
    title: string;
    intro: string;
    search: string;
    searchHint: string;
    searchButton: string;
    empty: string;
    emptySearch: string;
    user: string;
    scopes: string;
    authorized: string;
    lastUsed: string;
    never: string;
    revoke: string;
    revokeLabel: (who: string) => string;
    revoked: (who: string) => string;
    testUser: string;
    totals: (real: number, test: number) => string;
    next: string;
    unavailable: string;
  };
  webhooks: {
    title: string;
    intro: string;
    empty: string;
    event: string;
    status: Record<'pending' | 'delivered' | 'dead', string>;
    attempts: (n: number) => string;
    lastError: string;
    lastStatus: (status: number) => string;
    nextRetry: (date: string) => string;
    retry: string;
    retried: string;
    sendTest: string;
    sendTestHint: string;
    testSent: string;
    older: string;
    unavailable: string;
  };
  testing: {
    title: string;
    intro: string;
    tokensIntro: string;
    users: string;
    create: string;
    site: string;
    description: string;
    limit: (used: number, max: number) => string;
    limitReached: string;
    empty: string;
    createdTitle: string;
    createdIntro: string;
    id: string;
    nickname: string;
    email: string;
    password: string;
    unavailable: string;
  };
  notFound: string;
}

const en: PortalMessages = {
  portal: 'Developer portal',
  signInLead: 'Sign in with your Renova account to manage your applications.',
  nav: {
    applications: 'Applications',
    authorizations: 'Authorized by you',
    newApplication: 'New application',
  },
  list: {
    title: 'Your applications',
    intro:
      'Applications you registered. Sellers authorize them on the consent page; you manage their credentials here.',
    empty: "You haven't registered an application yet.",
    created: (d) => `Created on ${d}`,
    deleted: 'The application was deleted. Its authorizations and tokens no longer work.',
    open: 'Manage',
  },
  tabs: {
    overview: 'Credentials',
    settings: 'Settings',
    sellers: 'Sellers',
    webhooks: 'Webhooks',
    testing: 'Testing',
  },
  form: {
    createTitle: 'New application',
    editTitle: (n) => `Settings of ${n}`,
    name: 'Name',
    nameHint: 'Sellers see it on the consent page. 1 to 100 characters.',
    description: 'Description',
    descriptionHint: 'What the application does, in a sentence or two.',
    logoUrl: 'Logo URL',
    logoUrlHint: 'An https address of a square image.',
    redirectUris: 'Redirect URIs',
    redirectUrisHint: 'One per line. https, or http only on localhost; no fragment (#). Matched exactly.',
    scopes: 'Scopes',
    scopeNames: {
      read: 'read: see the seller’s account',
      write: 'write: act on the seller’s behalf',
      offline_access: 'offline_access: refresh tokens',
    },
    pkce: 'Require PKCE (S256 or plain) on every authorization request',
    pkceHint: 'Recommended for every client (RFC 9700 §2.1.1); required for apps that cannot keep a secret.',
    grantTypes: 'Allowed grant types',
    grantNames: {
      authorization_code: 'authorization_code',
      refresh_token: 'refresh_token',
      client_credentials: 'client_credentials',
    },
    notificationUrl: 'Notification URL',
    notificationUrlHint:
      'Where Renova posts mp-connect webhooks when a seller authorizes or removes the application.',
    create: 'Create application',
    save: 'Save changes',
    cancel: 'Cancel',
    fixErrors: 'Some fields need your attention.',
    saved: 'Changes saved.',
    optional: 'optional',
    required: 'This field is required.',
    tooLong: (m) => `Use at most ${m} characters.`,
    atLeastOneScope: 'Choose at least one scope.',
    atLeastOneUri: 'Enter at least one redirect URI.',
    tooManyUris: (m) => `Enter at most ${m} redirect URIs.`,
    badUrl: 'Enter an absolute https URL.',
    once: 'This field was sent more than once; send it once.',
    controls: 'Remove the control characters (tabs, line breaks and the like) from this value.',
    unknownChoice: (a) => `Choose among the options shown (${a}).`,
  },
  credentials: {
    title: 'Credentials',
    production: 'Production',
    productionIntro:
      'Tokens issued with these credentials start with APP_USR- and act on real accounts (live_mode: true).',
    test: 'Test',
    testIntro:
      'Add test_token=true to the code exchange to get TEST- tokens (live_mode: false), with the same client_id and secret. Use test users (Testing tab), never real sellers.',
    clientId: 'Client ID',
    publicKey: 'Public key',
    clientSecret: 'Client secret',
    secretHidden: 'Hidden. Renova keeps only a hash of it; rotate to get a new one.',
    shownOnce: 'Copy it now: it is shown only this once. After you leave or reload this page it is gone.',
    copy: 'Copy',
    copied: 'Copied',
    createdTitle: (n) => `${n} is registered`,
    createdIntro: 'Store these secrets in your server’s secret manager. Renova cannot show them again.',
    rotatedTitle: 'New client secret',
    rotatedIntro: (o) => `The previous secrets keep working ${o}.`,
    webhookSecret: 'Webhook signing secret',
    webhookSecretRotatedTitle: 'New webhook signing secret',
    webhookSecretRotatedIntro:
      'From the next delivery on, x-signature is computed with this secret. Update your receiver now.',
    continue: 'Back to the application',
    secrets: 'Client secrets that still work',
    secretCurrent: 'Current',
    secretUntil: (d) => `Works until ${d}`,
    secretCreated: (d) => `Created ${d}`,
    rotate: 'Rotate client secret',
    rotateHint: 'A new secret is created now; the old ones keep working during the overlap you choose.',
    overlap: 'Old secrets keep working for',
    overlapChoices: { '0': 'no overlap (stop now)', '3600': '1 hour', '86400': '1 day', '604800': '7 days' },
    rotateWebhook: 'Rotate webhook signing secret',
    rotateWebhookHint: 'The old signing secret stops at once.',
    noNotificationUrl: 'No notification URL: webhooks are not sent. Set one in Settings.',
    alreadyShown:
      'That secret was shown once and is gone. If you did not copy it, rotate it to get a new one.',
  },
  remove: {
    title: (n) => `Delete ${n}?`,
    button: 'Delete application',
    warning:
      'Every seller authorization, access token, refresh token and client secret of this application stops working at once. Its client_id is never reused. This cannot be undone.',
    typeName: (n) => `Type the application’s name (${n}) to confirm`,
    confirm: 'Delete for good',
    mismatch: 'The name does not match. Type it exactly as shown.',
  },
  sellers: {
    title: 'Sellers who authorized it',
    intro:
      'Sellers with an active authorization. Revoking one stops its tokens at once and sends application.deauthorized.',
    search: 'Search',
    searchHint: 'A user id, or the start of a nickname.',
    searchButton: 'Search',
    empty: 'No seller has authorized this application yet.',
    emptySearch: 'No seller matches this search.',
    user: 'Seller',
    scopes: 'Scopes',
    authorized: 'Authorized',
    lastUsed: 'Last used',
    never: 'not yet',
    revoke: 'Revoke',
    revokeLabel: (w) => `Revoke the authorization of ${w}`,
    revoked: (w) => `The authorization of ${w} was revoked.`,
    testUser: 'test user',
    totals: (r, t) => `${r} ${r === 1 ? 'seller' : 'sellers'}, ${t} test ${t === 1 ? 'user' : 'users'}`,
    next: 'Next page',
    unavailable: 'The list of sellers is not available on this server version yet.',
  },
  webhooks: {
    title: 'Webhook deliveries',
    intro: 'Recent mp-connect notifications of this application, newest first.',
    empty: 'No webhook event yet.',
    event: 'Event',
    status: { pending: 'Pending', delivered: 'Delivered', dead: 'Failed' },
    attempts: (n) => `${n} ${n === 1 ? 'attempt' : 'attempts'}`,
    lastError: 'Last error',
    lastStatus: (s) => `HTTP ${s}`,
    nextRetry: (d) => `Next attempt ${d}`,
    retry: 'Retry now',
    retried: 'The event is queued for a new attempt.',
    sendTest: 'Send test event',
    sendTestHint: 'Posts a signed test notification (live_mode: false) to your notification URL.',
    testSent: 'A test event is queued; it appears below.',
    older: 'Older events',
    unavailable: 'Webhook deliveries are not listed on this server version yet.',
  },
  testing: {
    title: 'Testing',
    intro:
      'Test credentials and test users are kept apart from production: nothing here touches a real seller.',
    tokensIntro:
      'Exchange codes with test_token=true to get TEST- access and refresh tokens (live_mode: false).',
    users: 'Test users',
    create: 'Create test user',
    site: 'Site',
    description: 'Description',
    limit: (u, m) => `${u} of ${m} test users used.`,
    limitReached: 'This application has reached its test user limit.',
    empty: 'No test user yet.',
    createdTitle: 'Test user created',
    createdIntro: 'Sign in with these on the consent page. The password is shown only this once.',
    id: 'User id',
    nickname: 'Nickname',
    email: 'Email',
    password: 'Password',
    unavailable: 'Test users are not available on this server version yet.',
  },
  notFound: 'This application does not exist, or it is not yours.',
};

const es: PortalMessages = {
  portal: 'Portal para desarrolladores',
  signInLead: 'Inicia sesión con tu cuenta de Renova para administrar tus aplicaciones.',
  nav: {
    applications: 'Aplicaciones',
    authorizations: 'Autorizadas por ti',
    newApplication: 'Nueva aplicación',
  },
  list: {
    title: 'Tus aplicaciones',
    intro:
      'Las aplicaciones que registraste. Los vendedores las autorizan en la página de consentimiento; aquí administras sus credenciales.',
    empty: 'Todavía no registraste ninguna aplicación.',
    created: (d) => `Creada el ${d}`,
    deleted: 'La aplicación se eliminó. Sus autorizaciones y tokens dejaron de funcionar.',
    open: 'Administrar',
  },
  tabs: {
    overview: 'Credenciales',
    settings: 'Ajustes',
    sellers: 'Vendedores',
    webhooks: 'Webhooks',
    testing: 'Pruebas',
  },
  form: {
    createTitle: 'Nueva aplicación',
    editTitle: (n) => `Ajustes de ${n}`,
    name: 'Nombre',
    nameHint: 'Los vendedores lo ven en la página de consentimiento. De 1 a 100 caracteres.',
    description: 'Descripción',
    descriptionHint: 'Qué hace la aplicación, en una o dos frases.',
    logoUrl: 'URL del logo',
    logoUrlHint: 'Una dirección https de una imagen cuadrada.',
    redirectUris: 'URIs de redirección',
    redirectUrisHint:
      'Una por línea. https, o http solo en localhost; sin fragmento (#). Deben coincidir exactamente.',
    scopes: 'Permisos (scopes)',
    scopeNames: {
      read: 'read: ver la cuenta del vendedor',
      write: 'write: actuar en nombre del vendedor',
      offline_access: 'offline_access: refresh tokens',
    },
    pkce: 'Exigir PKCE (S256 o plain) en cada solicitud de autorización',
    pkceHint:
      'Recomendado para todo cliente (RFC 9700 §2.1.1); obligatorio si la app no puede guardar un secreto.',
    grantTypes: 'Grant types permitidos',
    grantNames: {
      authorization_code: 'authorization_code',
      refresh_token: 'refresh_token',
      client_credentials: 'client_credentials',
    },
    notificationUrl: 'URL de notificaciones',
    notificationUrlHint:
      'Donde Renova envía los webhooks mp-connect cuando un vendedor autoriza o quita la aplicación.',
    create: 'Crear aplicación',
    save: 'Guardar cambios',
    cancel: 'Cancelar',
    fixErrors: 'Algunos campos necesitan tu atención.',
    saved: 'Cambios guardados.',
    optional: 'opcional',
    required: 'Este campo es obligatorio.',
    tooLong: (m) => `Usa como máximo ${m} caracteres.`,
    atLeastOneScope: 'Elige al menos un permiso.',
    atLeastOneUri: 'Ingresa al menos una URI de redirección.',
    tooManyUris: (m) => `Ingresa como máximo ${m} URIs de redirección.`,
    badUrl: 'Ingresa una URL https absoluta.',
    once: 'Este campo llegó más de una vez; envíalo una sola vez.',
    controls: 'Quita los caracteres de control (tabulaciones, saltos de línea y similares) de este valor.',
    unknownChoice: (a) => `Elige entre las opciones que se muestran (${a}).`,
  },
  credentials: {
    title: 'Credenciales',
    production: 'Producción',
    productionIntro:
      'Los tokens emitidos con estas credenciales empiezan con APP_USR- y actúan sobre cuentas reales (live_mode: true).',
    test: 'Pruebas',
    testIntro:
      'Agrega test_token=true al canje del código para obtener tokens TEST- (live_mode: false), con el mismo client_id y secreto. Usa usuarios de prueba (pestaña Pruebas), nunca vendedores reales.',
    clientId: 'Client ID',
    publicKey: 'Public key',
    clientSecret: 'Client secret',
    secretHidden: 'Oculto. Renova guarda solo un hash; rótalo para obtener uno nuevo.',
    shownOnce: 'Cópialo ahora: se muestra solo esta vez. Si sales o recargas la página, desaparece.',
    copy: 'Copiar',
    copied: 'Copiado',
    createdTitle: (n) => `${n} quedó registrada`,
    createdIntro:
      'Guarda estos secretos en el gestor de secretos de tu servidor. Renova no puede volver a mostrarlos.',
    rotatedTitle: 'Nuevo client secret',
    rotatedIntro: (o) => `Los secretos anteriores siguen funcionando ${o}.`,
    webhookSecret: 'Secreto de firma de webhooks',
    webhookSecretRotatedTitle: 'Nuevo secreto de firma de webhooks',
    webhookSecretRotatedIntro:
      'Desde el próximo envío, x-signature se calcula con este secreto. Actualiza tu receptor ahora.',
    continue: 'Volver a la aplicación',
    secrets: 'Client secrets que siguen funcionando',
    secretCurrent: 'Actual',
    secretUntil: (d) => `Funciona hasta ${d}`,
    secretCreated: (d) => `Creado ${d}`,
    rotate: 'Rotar client secret',
    rotateHint:
      'Se crea un secreto nuevo ahora; los anteriores siguen funcionando durante el período que elijas.',
    overlap: 'Los secretos anteriores siguen funcionando',
    overlapChoices: {
      '0': 'sin superposición (dejan de funcionar ya)',
      '3600': '1 hora',
      '86400': '1 día',
      '604800': '7 días',
    },
    rotateWebhook: 'Rotar secreto de firma de webhooks',
    rotateWebhookHint: 'El secreto de firma anterior deja de usarse de inmediato.',
    noNotificationUrl: 'Sin URL de notificaciones: no se envían webhooks. Configúrala en Ajustes.',
    alreadyShown:
      'Ese secreto se mostró una vez y ya no está. Si no lo copiaste, rótalo para obtener uno nuevo.',
  },
  remove: {
    title: (n) => `¿Eliminar ${n}?`,
    button: 'Eliminar aplicación',
    warning:
      'Todas las autorizaciones de vendedores, access tokens, refresh tokens y client secrets de esta aplicación dejan de funcionar al instante. Su client_id nunca se reutiliza. No se puede deshacer.',
    typeName: (n) => `Escribe el nombre de la aplicación (${n}) para confirmar`,
    confirm: 'Eliminar definitivamente',
    mismatch: 'El nombre no coincide. Escríbelo exactamente como se muestra.',
  },
  sellers: {
    title: 'Vendedores que la autorizaron',
    intro:
      'Vendedores con una autorización activa. Si revocas una, sus tokens dejan de funcionar al instante y se envía application.deauthorized.',
    search: 'Buscar',
    searchHint: 'Un id de usuario o el comienzo de un nickname.',
    searchButton: 'Buscar',
    empty: 'Ningún vendedor autorizó esta aplicación todavía.',
    emptySearch: 'Ningún vendedor coincide con la búsqueda.',
    user: 'Vendedor',
    scopes: 'Permisos',
    authorized: 'Autorizada',
    lastUsed: 'Último uso',
    never: 'todavía no',
    revoke: 'Revocar',
    revokeLabel: (w) => `Revocar la autorización de ${w}`,
    revoked: (w) => `Se revocó la autorización de ${w}.`,
    testUser: 'usuario de prueba',
    totals: (r, t) =>
      `${r} ${r === 1 ? 'vendedor' : 'vendedores'}, ${t} ${t === 1 ? 'usuario' : 'usuarios'} de prueba`,
    next: 'Página siguiente',
    unavailable: 'La lista de vendedores todavía no está disponible en esta versión del servidor.',
  },
  webhooks: {
    title: 'Envíos de webhooks',
    intro: 'Las notificaciones mp-connect recientes de esta aplicación, de la más nueva a la más vieja.',
    empty: 'Todavía no hay eventos de webhook.',
    event: 'Evento',
    status: { pending: 'Pendiente', delivered: 'Entregado', dead: 'Fallido' },
    attempts: (n) => `${n} ${n === 1 ? 'intento' : 'intentos'}`,
    lastError: 'Último error',
    lastStatus: (s) => `HTTP ${s}`,
    nextRetry: (d) => `Próximo intento ${d}`,
    retry: 'Reintentar ahora',
    retried: 'El evento quedó en cola para un nuevo intento.',
    sendTest: 'Enviar evento de prueba',
    sendTestHint: 'Envía una notificación de prueba firmada (live_mode: false) a tu URL de notificaciones.',
    testSent: 'Se puso en cola un evento de prueba; aparece abajo.',
    older: 'Eventos anteriores',
    unavailable: 'Los envíos de webhooks todavía no se listan en esta versión del servidor.',
  },
  testing: {
    title: 'Pruebas',
    intro:
      'Las credenciales y los usuarios de prueba están separados de producción: nada aquí afecta a un vendedor real.',
    tokensIntro:
      'Canjea códigos con test_token=true para obtener access y refresh tokens TEST- (live_mode: false).',
    users: 'Usuarios de prueba',
    create: 'Crear usuario de prueba',
    site: 'Sitio',
    description: 'Descripción',
    limit: (u, m) => `${u} de ${m} usuarios de prueba usados.`,
    limitReached: 'Esta aplicación alcanzó su límite de usuarios de prueba.',
    empty: 'Todavía no hay usuarios de prueba.',
    createdTitle: 'Usuario de prueba creado',
    createdIntro:
      'Inicia sesión con estos datos en la página de consentimiento. La contraseña se muestra solo esta vez.',
    id: 'Id de usuario',
    nickname: 'Nickname',
    email: 'Correo electrónico',
    password: 'Contraseña',
    unavailable: 'Los usuarios de prueba todavía no están disponibles en esta versión del servidor.',
  },
  notFound: 'Esta aplicación no existe o no es tuya.',
};

const pt: PortalMessages = {
  portal: 'Portal do desenvolvedor',
  signInLead: 'Entre com sua conta Renova para gerenciar seus aplicativos.',
  nav: {
    applications: 'Aplicativos',
    authorizations: 'Autorizados por você',
    newApplication: 'Novo aplicativo',
  },
  list: {
    title: 'Seus aplicativos',
    intro:
      'Os aplicativos que você cadastrou. Os vendedores os autorizam na página de consentimento; aqui você gerencia as credenciais.',
    empty: 'Você ainda não cadastrou nenhum aplicativo.',
    created: (d) => `Criado em ${d}`,
    deleted: 'O aplicativo foi excluído. Suas autorizações e tokens pararam de funcionar.',
    open: 'Gerenciar',
  },
  tabs: {
    overview: 'Credenciais',
    settings: 'Configurações',
    sellers: 'Vendedores',
    webhooks: 'Webhooks',
    testing: 'Testes',
  },
  form: {
    createTitle: 'Novo aplicativo',
    editTitle: (n) => `Configurações de ${n}`,
    name: 'Nome',
    nameHint: 'Os vendedores o veem na página de consentimento. De 1 a 100 caracteres.',
    description: 'Descrição',
    descriptionHint: 'O que o aplicativo faz, em uma ou duas frases.',
    logoUrl: 'URL do logo',
    logoUrlHint: 'Um endereço https de uma imagem quadrada.',
    redirectUris: 'URIs de redirecionamento',
    redirectUrisHint:
      'Uma por linha. https, ou http só em localhost; sem fragmento (#). Comparadas exatamente.',
    scopes: 'Permissões (scopes)',
    scopeNames: {
      read: 'read: ver a conta do vendedor',
      write: 'write: agir em nome do vendedor',
      offline_access: 'offline_access: refresh tokens',
    },
    pkce: 'Exigir PKCE (S256 ou plain) em toda solicitação de autorização',
    pkceHint:
      'Recomendado para todo cliente (RFC 9700 §2.1.1); obrigatório se o app não puder guardar um segredo.',
    grantTypes: 'Grant types permitidos',
    grantNames: {
      authorization_code: 'authorization_code',
      refresh_token: 'refresh_token',
      client_credentials: 'client_credentials',
    },
    notificationUrl: 'URL de notificações',
    notificationUrlHint:
      'Para onde a Renova envia os webhooks mp-connect quando um vendedor autoriza ou remove o aplicativo.',
    create: 'Criar aplicativo',
    save: 'Salvar alterações',
    cancel: 'Cancelar',
    fixErrors: 'Alguns campos precisam da sua atenção.',
    saved: 'Alterações salvas.',
    optional: 'opcional',
    required: 'Este campo é obrigatório.',
    tooLong: (m) => `Use no máximo ${m} caracteres.`,
    atLeastOneScope: 'Escolha pelo menos uma permissão.',
    atLeastOneUri: 'Informe pelo menos uma URI de redirecionamento.',
    tooManyUris: (m) => `Informe no máximo ${m} URIs de redirecionamento.`,
    badUrl: 'Informe uma URL https absoluta.',
    once: 'Este campo chegou mais de uma vez; envie-o uma vez só.',
    controls: 'Remova os caracteres de controle (tabulações, quebras de linha e afins) deste valor.',
    unknownChoice: (a) => `Escolha entre as opções mostradas (${a}).`,
  },
  credentials: {
    title: 'Credenciais',
    production: 'Produção',
    productionIntro:
      'Os tokens emitidos com estas credenciais começam com APP_USR- e agem em contas reais (live_mode: true).',
    test: 'Teste',
    testIntro:
      'Adicione test_token=true à troca do código para obter tokens TEST- (live_mode: false), com o mesmo client_id e segredo. Use usuários de teste (aba Testes), nunca vendedores reais.',
    clientId: 'Client ID',
    publicKey: 'Public key',
    clientSecret: 'Client secret',
    secretHidden: 'Oculto. A Renova guarda só um hash; gire-o para obter um novo.',
    shownOnce: 'Copie agora: ele é mostrado só esta vez. Se você sair ou recarregar a página, ele some.',
    copy: 'Copiar',
    copied: 'Copiado',
    createdTitle: (n) => `${n} foi cadastrado`,
    createdIntro:
      'Guarde estes segredos no cofre de segredos do seu servidor. A Renova não pode mostrá-los de novo.',
    rotatedTitle: 'Novo client secret',
    rotatedIntro: (o) => `Os segredos anteriores continuam funcionando ${o}.`,
    webhookSecret: 'Segredo de assinatura dos webhooks',
    webhookSecretRotatedTitle: 'Novo segredo de assinatura dos webhooks',
    webhookSecretRotatedIntro:
      'A partir do próximo envio, o x-signature é calculado com este segredo. Atualize seu receptor agora.',
    continue: 'Voltar ao aplicativo',
    secrets: 'Client secrets que ainda funcionam',
    secretCurrent: 'Atual',
    secretUntil: (d) => `Funciona até ${d}`,
    secretCreated: (d) => `Criado ${d}`,
    rotate: 'Girar client secret',
    rotateHint:
      'Um segredo novo é criado agora; os anteriores continuam funcionando durante o período escolhido.',
    overlap: 'Os segredos anteriores continuam funcionando',
    overlapChoices: {
      '0': 'sem sobreposição (param já)',
      '3600': '1 hora',
      '86400': '1 dia',
      '604800': '7 dias',
    },
    rotateWebhook: 'Girar segredo de assinatura dos webhooks',
    rotateWebhookHint: 'O segredo de assinatura anterior para na hora.',
    noNotificationUrl:
      'Sem URL de notificações: os webhooks não são enviados. Configure uma em Configurações.',
    alreadyShown:
      'Esse segredo foi mostrado uma vez e não está mais disponível. Se não o copiou, gire-o para obter um novo.',
  },
  remove: {
    title: (n) => `Excluir ${n}?`,
    button: 'Excluir aplicativo',
    warning:
      'Todas as autorizações de vendedores, access tokens, refresh tokens e client secrets deste aplicativo param de funcionar na hora. O client_id nunca é reutilizado. Não é possível desfazer.',
    typeName: (n) => `Digite o nome do aplicativo (${n}) para confirmar`,
    confirm: 'Excluir definitivamente',
    mismatch: 'O nome não confere. Digite exatamente como aparece.',
  },
  sellers: {
    title: 'Vendedores que o autorizaram',
    intro:
      'Vendedores com uma autorização ativa. Revogar uma para os tokens dela na hora e envia application.deauthorized.',
    search: 'Buscar',
    searchHint: 'Um id de usuário ou o início de um nickname.',
    searchButton: 'Buscar',
    empty: 'Nenhum vendedor autorizou este aplicativo ainda.',
    emptySearch: 'Nenhum vendedor corresponde à busca.',
    user: 'Vendedor',
    scopes: 'Permissões',
    authorized: 'Autorizado',
    lastUsed: 'Último uso',
    never: 'ainda não',
    revoke: 'Revogar',
    revokeLabel: (w) => `Revogar a autorização de ${w}`,
    revoked: (w) => `A autorização de ${w} foi revogada.`,
    testUser: 'usuário de teste',
    totals: (r, t) =>
      `${r} ${r === 1 ? 'vendedor' : 'vendedores'}, ${t} ${t === 1 ? 'usuário' : 'usuários'} de teste`,
    next: 'Próxima página',
    unavailable: 'A lista de vendedores ainda não está disponível nesta versão do servidor.',
  },
  webhooks: {
    title: 'Envios de webhooks',
    intro: 'As notificações mp-connect recentes deste aplicativo, da mais nova para a mais antiga.',
    empty: 'Ainda não há eventos de webhook.',
    event: 'Evento',
    status: { pending: 'Pendente', delivered: 'Entregue', dead: 'Falhou' },
    attempts: (n) => `${n} ${n === 1 ? 'tentativa' : 'tentativas'}`,
    lastError: 'Último erro',
    lastStatus: (s) => `HTTP ${s}`,
    nextRetry: (d) => `Próxima tentativa ${d}`,
    retry: 'Tentar de novo',
    retried: 'O evento entrou na fila para uma nova tentativa.',
    sendTest: 'Enviar evento de teste',
    sendTestHint: 'Envia uma notificação de teste assinada (live_mode: false) para sua URL de notificações.',
    testSent: 'Um evento de teste entrou na fila; ele aparece abaixo.',
    older: 'Eventos anteriores',
    unavailable: 'Os envios de webhooks ainda não são listados nesta versão do servidor.',
  },
  testing: {
    title: 'Testes',
    intro: 'Credenciais e usuários de teste ficam separados da produção: nada aqui afeta um vendedor real.',
    tokensIntro:
      'Troque códigos com test_token=true para obter access e refresh tokens TEST- (live_mode: false).',
    users: 'Usuários de teste',
    create: 'Criar usuário de teste',
    site: 'Site',
    description: 'Descrição',
    limit: (u, m) => `${u} de ${m} usuários de teste usados.`,
    limitReached: 'Este aplicativo atingiu o limite de usuários de teste.',
    empty: 'Ainda não há usuários de teste.',
    createdTitle: 'Usuário de teste criado',
    createdIntro: 'Entre com estes dados na página de consentimento. A senha é mostrada só esta vez.',
    id: 'Id do usuário',
    nickname: 'Nickname',
    email: 'E-mail',
    password: 'Senha',
    unavailable: 'Os usuários de teste ainda não estão disponíveis nesta versão do servidor.',
  },
  notFound: 'Este aplicativo não existe ou não é seu.',
};

export const PORTAL_MESSAGES: Readonly<Record<Locale, PortalMessages>> = { es, pt, en };

/** Dates with the time, for secrets' expiry and webhook retries ("12 mar 2026, 14:05 UTC"). */
export function formatDateTime(locale: Locale, ms: number): string {
  const tag = { es: 'es-AR', pt: 'pt-BR', en: 'en-US' }[locale];
  return `${new Intl.DateTimeFormat(tag, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(new Date(ms))} UTC`;
}
