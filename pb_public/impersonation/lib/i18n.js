// English and Spanish for the impersonation pages, the banner and (through
// addMessages, from lib/i18n-dashboard.js) the dashboard extension.
//
//   import { t, setLang, onLangChange, formatDate } from '/impersonation/lib/i18n.js';
//   t('banner.left', { time: '42 min' })   // "42 min left" / "Quedan 42 min"
//
// The language is the one chosen last (localStorage "pb_impersonation_lang";
// in an impersonation tab, sessionStorage, so that tab writes nothing to
// localStorage), else the browser's (navigator.languages), else English.
// Dates, times and durations go through Intl in that language.

export const LANGS = ['en', 'es'];
export const LANG_KEY = 'pb_impersonation_lang';
const TAB_KEY = 'pocketbase_impersonation';

const messages = {
  en: {
    'common.skip': 'Skip to content',
    'common.logout': 'Log out',
    'common.language': 'Language',
    'common.close': 'Close',
    'common.cancel': 'Cancel',
    'common.loading': 'Loading…',
    'common.error': 'Something went wrong. Please try again.',
    'common.network': 'The server could not be reached. Check your connection and try again.',
    'common.more': 'Show more',
    'common.prev': 'Previous',
    'common.next': 'Next',
    'common.pageOf': 'Page {page} of {pages}',
    'common.pagination': 'Pages',
    'common.breadcrumbs': 'Breadcrumbs',
    'common.yes': 'Yes',
    'common.no': 'No',

    'login.title': 'Sign in',
    'login.email': 'Email',
    'login.password': 'Password',
    'login.collection': 'Account collection',
    'login.otherCollection': 'Another account type',
    'login.submit': 'Sign in',
    'login.missing': 'Enter your email and password.',
    'login.failed': 'Invalid email or password.',

    'mode.read': 'Read-only',
    'mode.write': 'Read and write',
    'mode.readHelp': 'Can look at everything the user sees, but change nothing.',
    'mode.writeHelp': 'Can also change data as the user (never their password or email).',

    'cause.stopped': 'stopped',
    'cause.expired': 'expired',
    'cause.consent_revoked': 'consent withdrawn',
    'cause.target_deleted': 'account deleted',
    'cause.actor_deleted': 'staff account deleted',
    'cause.policy_changed': 'policy changed',
    'cause.token_revoked': 'sign-in key changed',
    'cause.actor_token_revoked': "staff member's sign-in key changed",
    'cause.actor_not_allowed': 'staff member no longer allowed',
    'cause.target_not_allowed': 'account no longer eligible',
    'cause.no_longer_allowed': 'no longer allowed',
    'cause.consent_shortened': 'consent shortened',

    'banner.label': 'Impersonation',
    'banner.acting': 'You are acting as',
    'banner.left': '{time} left',
    'banner.readOnly': 'read-only',
    'banner.exit': 'Exit',
    'banner.exiting': 'Ending…',
    'banner.exitFailed': 'Could not end the session. Try again.',
    'banner.ended': 'This impersonation session has ended.',
    'banner.endedExit': 'You have left the impersonation session.',
    'banner.expired': 'This impersonation session has expired.',
    'banner.closeHint': 'You can close this tab.',

    'handoff.title': 'Opening the app…',
    'handoff.failedTitle': 'Could not open the session',
    'handoff.waiting': 'Waiting for the session…',
    'handoff.done': 'Opening the app…',
    'handoff.timeout': 'Nothing arrived from the page that opened this tab. No session was handed over; you can close this tab and try again.',
    'handoff.noOpener': 'This page only works when it is opened by the Impersonate action of the dashboard or the support console. You can close this tab.',
    'handoff.err.popup_blocked': 'The browser blocked the new tab. Allow pop-ups for this site and try again.',
    'handoff.err.tab_closed': 'The new tab was closed before the session was handed over. The session has been ended.',
    'handoff.err.no_answer': 'The new tab did not answer. The session has been ended; try again.',

    'user.pageTitle': 'Impersonation · Account settings',
    'user.brand': 'Account settings',
    'user.title': 'Impersonation',
    'user.intro': 'You can allow our support team to sign in as you for a while, to look into a problem with your account. Everything they do is recorded and listed here.',
    'user.loginTitle': 'Account settings',
    'user.loginIntro': 'Sign in to manage who may act as you.',
    'user.whileImpersonating': 'This page is not available while acting as another user: only the user can change their consent.',
    'user.liveTitle': 'Someone is acting as you right now',
    'user.liveLine': '{actor} · {mode} · until {until}.',
    'user.liveReason': 'Reason: “{reason}”.',
    'user.liveStop': 'Withdraw your consent to end it at once.',
    'user.consentTitle': 'Your consent',
    'user.consentIntro': 'Support staff can act as you only while your consent is active.',
    'user.noPolicy': 'Your account is not under an impersonation policy: nobody can act as you.',
    'user.notRequired': 'Your administrator does not require consent for your account: authorised staff may act as you without it. Withdrawing still ends any session that is live now.',
    'user.stActive': 'Allowed',
    'user.stNone': 'Not allowed',
    'user.stRevoked': 'Withdrawn',
    'user.stExpired': 'Expired',
    'user.activeUntil': 'Until {date} ({rel}).',
    'user.expiredOn': 'Your last consent ended on {date}.',
    'user.revokedDetail': 'You withdrew your consent.',
    'user.noneDetail': 'Nobody can act as you.',
    'user.revoke': 'Withdraw consent',
    'user.presetsTitle': 'Allow support to act as you for',
    'user.presetsChange': 'Change it to, from now',
    'user.overMax': 'Longer than the maximum ({max})',
    'user.customLabel': 'Custom (hours)',
    'user.customSubmit': 'Allow',
    'user.customHelp': 'At most {max}.',
    'user.customInvalid': 'Enter a whole number of hours from 1 to {max}.',
    'user.granted': 'Support may act as you until {time}.',
    'user.revoked': 'Consent withdrawn. Any session that was live on your account has ended.',
    'user.historyTitle': 'History',
    'user.historyIntro': 'Every session in which someone acted as you, newest first.',
    'user.historyEmpty': 'Nobody has acted as you yet.',
    'user.shown': '{n} of {total}',
    'user.actorUnknown': 'Staff account {id}',
    'user.live': 'Live',
    'user.endedWith': 'Ended: {cause}',
    'user.when': 'Started',
    'user.length': 'Length',
    'user.lengthLive': '{left} left (until {until})',
    'user.why': 'Reason',
    'user.noReason': 'No reason given',
    'user.mode': 'Access',
    'user.endedAt': 'Ended',
    'user.showActions': 'Show actions',
    'user.hideActions': 'Hide actions',
    'user.actionsCaption': 'Requests made in this session',
    'user.actionsEmpty': 'No actions were recorded in this session.',
    'user.colTime': 'Time',
    'user.colMethod': 'Method',
    'user.colPath': 'Path',
    'user.colStatus': 'Status',
    'user.refused': '(refused)',

    'console.pageTitle': 'Support console',
    'console.brand': 'Support console',
    'console.loginTitle': 'Support console',
    'console.loginIntro': 'Sign in with your own staff account.',
    'console.title': 'Users',
    'console.intro': 'Act as a user to see what they see. Every action is recorded, and the user can see it.',
    'console.noAccess': 'Your account may not impersonate anyone.',
    'console.collections': 'Collections',
    'console.search': 'Search users',
    'console.searchPlaceholder': 'Search by name, email or id',
    'console.count': '{n} user|{n} users',
    'console.tableCaption': 'Users of {collection} you may impersonate',
    'console.colUser': 'User',
    'console.colConsent': 'Consent',
    'console.colSession': 'Session',
    'console.colActions': 'Actions',
    'console.empty': 'There is nobody you may impersonate here.',
    'console.noMatch': 'No user matches your search.',
    'console.consentRequired': 'Consent required',
    'console.consentNone': 'No consent needed',
    'console.reasonRequired': 'Reason required',
    'console.reasonOptional': 'Reason optional',
    'console.upTo': 'Up to {time}',
    'console.modes': 'Modes: {modes}',
    'console.consentActive': 'Given',
    'console.consentMissing': 'Not given',
    'console.consentNotNeeded': 'Not needed',
    'console.until': 'until {date}',
    'console.live': 'Live',
    'console.liveBy': '{actor} · {mode} · until {until}',
    'console.impersonate': 'Impersonate',
    'console.impersonateWho': 'Impersonate {name}',
    'console.dialogTitle': 'Impersonate {name}',
    'console.confirm': 'You will temporarily act as {name} and have their permissions.',
    'console.noConsentNote': '{name} has not given consent: the start will be refused.',
    'console.reason': 'Reason',
    'console.reasonOptionalLabel': 'Reason (optional)',
    'console.reasonPlaceholder': 'e.g. ticket #1234: cannot see their invoices',
    'console.reasonHelp': 'Recorded in the audit log and shown to the user.',
    'console.reasonMissing': 'A reason is required.',
    'console.minutes': 'Duration (minutes)',
    'console.minutesHelp': 'At most {max}.',
    'console.minutesInvalid': 'Enter a whole number of minutes from 1 to {max}.',
    'console.mode': 'Access',
    'console.starting': 'Starting…',
    'console.started': 'You are acting as {name} in a new tab until {until}.',
    'console.refused': 'Impersonation refused: {message}',


    // the server's messages (shown in English as the server words them) and field error codes
    'srv.notAllowed': 'You are not allowed to impersonate this record.',
    'srv.consentRequired': 'The user has not consented to be impersonated.',
    'srv.modeNotAllowed': 'The policy does not allow sessions in this mode.',
    'srv.chaining': 'An impersonation session cannot start another one.',
    'srv.rateLimited': 'Too many impersonation attempts; try again in a minute.',
    'srv.consentRateLimited': 'Too many consent changes; try again in a minute.',
    'srv.noTargets': 'You are not allowed to impersonate any record of this collection.',
    'srv.notEnabled': 'Impersonation is not enabled for your account.',
    'srv.consentWhileImpersonating': 'Consent cannot be managed while impersonating.',
    'srv.authRequired': 'The request requires valid record authorization token.',
    'srv.invalid': 'An error occurred while validating the submitted data.',
    'srv.badData': 'An error occurred while loading the submitted data.',
    'srv.tokenInvalid': 'The impersonation token is invalid.',
    'srv.sessionEnded': 'The impersonation session has ended.',
    'srv.sessionExpired': 'The impersonation session has expired.',
    'srv.noLongerAllowed': 'The impersonation session is no longer allowed and has ended.',
    'srv.neverAllowed': 'This action is never allowed while impersonating.',
    'srv.denied': 'This action is not allowed while impersonating.',
    'srv.readOnly': 'The impersonation session is read-only.',
    'srv.authFailed': 'Failed to authenticate.',
    'srv.notFound': "The requested resource wasn't found.",
    'srv.forbidden': "You are not allowed to perform this request.",
    'srv.failed': 'Something went wrong while processing your request.',
    'code.validation_required': 'Cannot be blank.',
    'code.validation_length_too_short': 'The length must be no less than {min}.',
    'code.validation_length_too_long': 'The length must be no more than {max}.',
    'code.validation_not_whole_minutes': 'Must be a whole number of minutes, at least 1.',
    'code.validation_not_whole_number': 'Must be a whole number of hours.',
    'code.validation_out_of_range': 'Must be from 1 to {max} hours.',
  },

  es: {
    'common.skip': 'Saltar al contenido',
    'common.logout': 'Cerrar sesión',
    'common.language': 'Idioma',
    'common.close': 'Cerrar',
    'common.cancel': 'Cancelar',
    'common.loading': 'Cargando…',
    'common.error': 'Algo salió mal. Vuelve a intentarlo.',
    'common.network': 'No se pudo contactar con el servidor. Revisa tu conexión y vuelve a intentarlo.',
    'common.more': 'Mostrar más',
    'common.prev': 'Anterior',
    'common.next': 'Siguiente',
    'common.pageOf': 'Página {page} de {pages}',
    'common.pagination': 'Páginas',
    'common.breadcrumbs': 'Ruta de navegación',
    'common.yes': 'Sí',
    'common.no': 'No',

    'login.title': 'Iniciar sesión',
    'login.email': 'Correo electrónico',
    'login.password': 'Contraseña',
    'login.collection': 'Colección de la cuenta',
    'login.otherCollection': 'Otro tipo de cuenta',
    'login.submit': 'Iniciar sesión',
    'login.missing': 'Escribe tu correo electrónico y tu contraseña.',
    'login.failed': 'Correo electrónico o contraseña incorrectos.',

    'mode.read': 'Solo lectura',
    'mode.write': 'Lectura y escritura',
    'mode.readHelp': 'Puede ver todo lo que ve el usuario, pero no cambiar nada.',
    'mode.writeHelp': 'También puede cambiar datos como el usuario (nunca su contraseña ni su correo).',

    'cause.stopped': 'detenida',
    'cause.expired': 'caducada',
    'cause.consent_revoked': 'consentimiento retirado',
    'cause.target_deleted': 'cuenta eliminada',
    'cause.actor_deleted': 'cuenta del personal eliminada',
    'cause.policy_changed': 'política cambiada',
    'cause.token_revoked': 'clave de acceso cambiada',
    'cause.actor_token_revoked': 'clave de acceso del personal cambiada',
    'cause.actor_not_allowed': 'personal ya no autorizado',
    'cause.target_not_allowed': 'cuenta ya no elegible',
    'cause.no_longer_allowed': 'ya no autorizada',
    'cause.consent_shortened': 'consentimiento acortado',

    'banner.label': 'Suplantación',
    'banner.acting': 'Estás actuando como',
    'banner.left': 'Quedan {time}',
    'banner.readOnly': 'solo lectura',
    'banner.exit': 'Salir',
    'banner.exiting': 'Terminando…',
    'banner.exitFailed': 'No se pudo terminar la sesión. Vuelve a intentarlo.',
    'banner.ended': 'Esta sesión de suplantación ha terminado.',
    'banner.endedExit': 'Has salido de la sesión de suplantación.',
    'banner.expired': 'Esta sesión de suplantación ha caducado.',
    'banner.closeHint': 'Puedes cerrar esta pestaña.',

    'handoff.title': 'Abriendo la aplicación…',
    'handoff.failedTitle': 'No se pudo abrir la sesión',
    'handoff.waiting': 'Esperando la sesión…',
    'handoff.done': 'Abriendo la aplicación…',
    'handoff.timeout': 'No llegó nada de la página que abrió esta pestaña. No se entregó ninguna sesión; puedes cerrar esta pestaña y volver a intentarlo.',
    'handoff.noOpener': 'Esta página solo funciona cuando la abre la acción Suplantar del panel o de la consola de soporte. Puedes cerrar esta pestaña.',
    'handoff.err.popup_blocked': 'El navegador bloqueó la nueva pestaña. Permite las ventanas emergentes para este sitio y vuelve a intentarlo.',
    'handoff.err.tab_closed': 'La nueva pestaña se cerró antes de entregar la sesión. La sesión se ha terminado.',
    'handoff.err.no_answer': 'La nueva pestaña no respondió. La sesión se ha terminado; vuelve a intentarlo.',

    'user.pageTitle': 'Suplantación · Ajustes de la cuenta',
    'user.brand': 'Ajustes de la cuenta',
    'user.title': 'Suplantación',
    'user.intro': 'Puedes permitir que nuestro equipo de soporte entre como tú durante un tiempo para revisar un problema de tu cuenta. Todo lo que hagan queda registrado y aparece aquí.',
    'user.loginTitle': 'Ajustes de la cuenta',
    'user.loginIntro': 'Inicia sesión para decidir quién puede actuar como tú.',
    'user.whileImpersonating': 'Esta página no está disponible mientras actúas como otro usuario: solo el propio usuario puede cambiar su consentimiento.',
    'user.liveTitle': 'Alguien está actuando como tú ahora mismo',
    'user.liveLine': '{actor} · {mode} · hasta el {until}.',
    'user.liveReason': 'Motivo: «{reason}».',
    'user.liveStop': 'Retira tu consentimiento para terminarla de inmediato.',
    'user.consentTitle': 'Tu consentimiento',
    'user.consentIntro': 'El personal de soporte solo puede actuar como tú mientras tu consentimiento esté activo.',
    'user.noPolicy': 'Tu cuenta no está sujeta a ninguna política de suplantación: nadie puede actuar como tú.',
    'user.notRequired': 'Tu administrador no exige consentimiento para tu cuenta: el personal autorizado puede actuar como tú sin él. Retirarlo sigue terminando cualquier sesión activa.',
    'user.stActive': 'Permitido',
    'user.stNone': 'No permitido',
    'user.stRevoked': 'Retirado',
    'user.stExpired': 'Caducado',
    'user.activeUntil': 'Hasta el {date} ({rel}).',
    'user.expiredOn': 'Tu último consentimiento terminó el {date}.',
    'user.revokedDetail': 'Retiraste tu consentimiento.',
    'user.noneDetail': 'Nadie puede actuar como tú.',
    'user.revoke': 'Retirar consentimiento',
    'user.presetsTitle': 'Permitir que soporte actúe como tú durante',
    'user.presetsChange': 'Cambiarlo a, desde ahora',
    'user.overMax': 'Más que el máximo ({max})',
    'user.customLabel': 'Personalizado (horas)',
    'user.customSubmit': 'Permitir',
    'user.customHelp': 'Como máximo {max}.',
    'user.customInvalid': 'Escribe un número entero de horas entre 1 y {max}.',
    'user.granted': 'Soporte puede actuar como tú hasta el {time}.',
    'user.revoked': 'Consentimiento retirado. Cualquier sesión activa en tu cuenta ha terminado.',
    'user.historyTitle': 'Historial',
    'user.historyIntro': 'Cada sesión en la que alguien actuó como tú, de la más reciente a la más antigua.',
    'user.historyEmpty': 'Nadie ha actuado como tú todavía.',
    'user.shown': '{n} de {total}',
    'user.actorUnknown': 'Cuenta del personal {id}',
    'user.live': 'Activa',
    'user.endedWith': 'Terminada: {cause}',
    'user.when': 'Inicio',
    'user.length': 'Duración',
    'user.lengthLive': 'Quedan {left} (hasta el {until})',
    'user.why': 'Motivo',
    'user.noReason': 'Sin motivo',
    'user.mode': 'Acceso',
    'user.endedAt': 'Fin',
    'user.showActions': 'Mostrar acciones',
    'user.hideActions': 'Ocultar acciones',
    'user.actionsCaption': 'Peticiones hechas en esta sesión',
    'user.actionsEmpty': 'No se registró ninguna acción en esta sesión.',
    'user.colTime': 'Hora',
    'user.colMethod': 'Método',
    'user.colPath': 'Ruta',
    'user.colStatus': 'Estado',
    'user.refused': '(rechazada)',

    'console.pageTitle': 'Consola de soporte',
    'console.brand': 'Consola de soporte',
    'console.loginTitle': 'Consola de soporte',
    'console.loginIntro': 'Inicia sesión con tu propia cuenta del personal.',
    'console.title': 'Usuarios',
    'console.intro': 'Actúa como un usuario para ver lo que él ve. Cada acción queda registrada y el usuario puede verla.',
    'console.noAccess': 'Tu cuenta no puede suplantar a nadie.',
    'console.collections': 'Colecciones',
    'console.search': 'Buscar usuarios',
    'console.searchPlaceholder': 'Buscar por nombre, correo o id',
    'console.count': '{n} usuario|{n} usuarios',
    'console.tableCaption': 'Usuarios de {collection} que puedes suplantar',
    'console.colUser': 'Usuario',
    'console.colConsent': 'Consentimiento',
    'console.colSession': 'Sesión',
    'console.colActions': 'Acciones',
    'console.empty': 'Aquí no hay nadie a quien puedas suplantar.',
    'console.noMatch': 'Ningún usuario coincide con tu búsqueda.',
    'console.consentRequired': 'Se exige consentimiento',
    'console.consentNone': 'Sin consentimiento',
    'console.reasonRequired': 'Motivo obligatorio',
    'console.reasonOptional': 'Motivo opcional',
    'console.upTo': 'Hasta {time}',
    'console.modes': 'Modos: {modes}',
    'console.consentActive': 'Dado',
    'console.consentMissing': 'No dado',
    'console.consentNotNeeded': 'No hace falta',
    'console.until': 'hasta el {date}',
    'console.live': 'Activa',
    'console.liveBy': '{actor} · {mode} · hasta el {until}',
    'console.impersonate': 'Suplantar',
    'console.impersonateWho': 'Suplantar a {name}',
    'console.dialogTitle': 'Suplantar a {name}',
    'console.confirm': 'Actuarás temporalmente como {name} y tendrás sus permisos.',
    'console.noConsentNote': '{name} no ha dado su consentimiento: el inicio se rechazará.',
    'console.reason': 'Motivo',
    'console.reasonOptionalLabel': 'Motivo (opcional)',
    'console.reasonPlaceholder': 'p. ej. ticket #1234: no ve sus facturas',
    'console.reasonHelp': 'Se guarda en el registro de auditoría y lo ve el usuario.',
    'console.reasonMissing': 'El motivo es obligatorio.',
    'console.minutes': 'Duración (minutos)',
    'console.minutesHelp': 'Como máximo {max}.',
    'console.minutesInvalid': 'Escribe un número entero de minutos entre 1 y {max}.',
    'console.mode': 'Acceso',
    'console.starting': 'Iniciando…',
    'console.started': 'Estás actuando como {name} en una nueva pestaña hasta el {until}.',
    'console.refused': 'Suplantación rechazada: {message}',


    'srv.notAllowed': 'No tienes permiso para suplantar este registro.',
    'srv.consentRequired': 'El usuario no ha dado su consentimiento para ser suplantado.',
    'srv.modeNotAllowed': 'La política no permite sesiones en este modo.',
    'srv.chaining': 'Una sesión de suplantación no puede iniciar otra.',
    'srv.rateLimited': 'Demasiados intentos de suplantación; vuelve a intentarlo en un minuto.',
    'srv.consentRateLimited': 'Demasiados cambios de consentimiento; vuelve a intentarlo en un minuto.',
    'srv.noTargets': 'No tienes permiso para suplantar ningún registro de esta colección.',
    'srv.notEnabled': 'La suplantación no está habilitada para tu cuenta.',
    'srv.consentWhileImpersonating': 'El consentimiento no se puede gestionar durante una suplantación.',
    'srv.authRequired': 'La petición requiere un token de autorización válido.',
    'srv.invalid': 'Hubo un error al validar los datos enviados.',
    'srv.badData': 'Hubo un error al leer los datos enviados.',
    'srv.tokenInvalid': 'El token de suplantación no es válido.',
    'srv.sessionEnded': 'La sesión de suplantación ha terminado.',
    'srv.sessionExpired': 'La sesión de suplantación ha caducado.',
    'srv.noLongerAllowed': 'La sesión de suplantación ya no está permitida y ha terminado.',
    'srv.neverAllowed': 'Esta acción nunca está permitida durante una suplantación.',
    'srv.denied': 'Esta acción no está permitida durante una suplantación.',
    'srv.readOnly': 'La sesión de suplantación es de solo lectura.',
    'srv.authFailed': 'No se pudo iniciar sesión.',
    'srv.notFound': 'No se encontró el recurso solicitado.',
    'srv.forbidden': 'No tienes permiso para hacer esta petición.',
    'srv.failed': 'Algo salió mal al procesar tu petición.',
    'code.validation_required': 'No puede estar vacío.',
    'code.validation_length_too_short': 'La longitud debe ser de al menos {min}.',
    'code.validation_length_too_long': 'La longitud debe ser como máximo {max}.',
    'code.validation_not_whole_minutes': 'Debe ser un número entero de minutos, como mínimo 1.',
    'code.validation_not_whole_number': 'Debe ser un número entero de horas.',
    'code.validation_out_of_range': 'Debe estar entre 1 y {max} horas.',
  },
};

// addMessages merges a dictionary (flat "key": "text") into a language.
export function addMessages(lang, obj) {
  if (!messages[lang]) messages[lang] = {};
  Object.assign(messages[lang], obj);
}

// ---------------------------------------------------------------------------
// Language

function storageGet(store, key) {
  try { return store.getItem(key); } catch { return null; }
}

// inImpersonationTab: banner.js keeps the impersonation in this tab's
// sessionStorage; such a tab writes nothing to localStorage.
function inImpersonationTab() {
  try { return sessionStorage.getItem(TAB_KEY) !== null; } catch { return false; }
}

function detect() {
  const chosen = storageGet(window.sessionStorage, LANG_KEY) || storageGet(window.localStorage, LANG_KEY);
  if (LANGS.includes(chosen)) return chosen;
  const prefs = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en']);
  for (const p of prefs) {
    const base = String(p || '').toLowerCase().split('-')[0];
    if (LANGS.includes(base)) return base;
  }
  return 'en';
}

let lang = detect();
const listeners = new Set();
document.documentElement.lang = lang;

export function getLang() {
  return lang;
}

// setLang switches the language, remembers it and tells every listener.
export function setLang(next) {
  if (!LANGS.includes(next)) return;
  try {
    if (inImpersonationTab()) window.sessionStorage.setItem(LANG_KEY, next);
    else window.localStorage.setItem(LANG_KEY, next);
  } catch { /* storage disabled: this page only */ }
  if (next === lang) return;
  lang = next;
  document.documentElement.lang = lang;
  for (const fn of [...listeners]) {
    try { fn(lang); } catch (e) { setTimeout(() => { throw e; }); }
  }
}

// onLangChange calls fn(lang) after every switch; returns the unsubscriber.
export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// another tab chose a language: follow it (except in an impersonation tab
// that chose its own)
window.addEventListener('storage', (e) => {
  if (e.key !== LANG_KEY || !LANGS.includes(e.newValue)) return;
  if (storageGet(window.sessionStorage, LANG_KEY)) return;
  setLangQuiet(e.newValue);
});
function setLangQuiet(next) {
  if (next === lang) return;
  lang = next;
  document.documentElement.lang = lang;
  for (const fn of [...listeners]) {
    try { fn(lang); } catch (e) { setTimeout(() => { throw e; }); }
  }
}

// t returns the text of key in the current language (English, then the key
// itself, when missing), with {name} placeholders filled from vars.
// A text "one|other" picks its form by vars.n (Intl.PluralRules).
export function t(key, vars) {
  let s = (messages[lang] && messages[lang][key]) ?? messages.en[key] ?? key;
  if (s.includes('|') && vars && typeof vars.n === 'number') {
    const [one, other] = s.split('|');
    s = new Intl.PluralRules(lang).select(vars.n) === 'one' ? one : other;
    vars = { ...vars, n: new Intl.NumberFormat(lang).format(vars.n) };
  }
  if (!vars) return s;
  return s.replace(/\{(\w+)\}/g, (m, k) => (Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : m));
}

// translatePage sets the text of every [data-i18n] element under root (and
// data-i18n-placeholder / -aria-label / -title attributes).
export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const [attr, data] of [['placeholder', 'i18nPlaceholder'], ['aria-label', 'i18nAriaLabel'], ['title', 'i18nTitle']]) {
    for (const el of root.querySelectorAll(`[data-${attr === 'aria-label' ? 'i18n-aria-label' : 'i18n-' + attr}]`)) {
      el.setAttribute(attr, t(el.dataset[data]));
    }
  }
}

// serverText is a message of the server (English, as PocketBase and the
// plugin word it) in the current language; unknown ones stay as they are.
let srvIndex = null;
export function serverText(message) {
  if (!message) return '';
  if (!srvIndex) {
    srvIndex = new Map();
    for (const [k, v] of Object.entries(messages.en)) if (k.startsWith('srv.')) srvIndex.set(v, k);
  }
  const key = srvIndex.get(String(message).trim());
  return key ? t(key) : String(message);
}

// fieldText is a field error of PocketBase's shape ({code, message,
// params}) in the current language.
export function fieldText(err) {
  if (!err) return '';
  const key = 'code.' + err.code;
  if (err.code && messages.en[key]) return t(key, err.params || {});
  return serverText(err.message || '');
}

// ---------------------------------------------------------------------------
// Intl

function toDate(v) {
  if (v instanceof Date) return v;
  if (typeof v === 'number') return new Date(v);
  if (!v) return null;
  const d = new Date(String(v).replace(' ', 'T'));
  return isNaN(d.getTime()) ? null : d;
}

// formatDate formats a PocketBase date ("2026-01-02 03:04:05.678Z"), an ISO
// string, a Date or a timestamp: date and time, with seconds when
// precision is "seconds"; "" for an empty or invalid value.
export function formatDate(v, precision) {
  const d = toDate(v);
  if (!d) return '';
  const opts = precision === 'seconds'
    ? { dateStyle: 'medium', timeStyle: 'medium' }
    : { dateStyle: 'medium', timeStyle: 'short' };
  return new Intl.DateTimeFormat(lang, opts).format(d);
}

// formatUnit formats n of unit ("minute", "hour", "day"...): "24 hours".
export function formatUnit(n, unit, display = 'long') {
  return new Intl.NumberFormat(lang, { style: 'unit', unit, unitDisplay: display, maximumFractionDigits: 0 }).format(n);
}

// formatDuration formats milliseconds as days, hours and minutes ("1 hr 5
// min", "1 h 5 min"), or seconds under a minute.
export function formatDuration(ms) {
  ms = Math.max(0, Number(ms) || 0);
  const totalMin = Math.floor(ms / 60000);
  const parts = [];
  if (totalMin < 1) {
    parts.push(formatUnit(Math.floor(ms / 1000), 'second', 'short'));
  } else {
    const d = Math.floor(totalMin / 1440);
    const hr = Math.floor((totalMin % 1440) / 60);
    const min = totalMin % 60;
    if (d) parts.push(formatUnit(d, 'day', 'short'));
    if (hr) parts.push(formatUnit(hr, 'hour', 'short'));
    if (min && !d) parts.push(formatUnit(min, 'minute', 'short'));
  }
  try {
    return new Intl.ListFormat(lang, { type: 'unit', style: 'narrow' }).format(parts);
  } catch {
    return parts.join(' ');
  }
}

const RELATIVE = [
  ['year', 365 * 24 * 3600e3], ['month', 30 * 24 * 3600e3], ['week', 7 * 24 * 3600e3],
  ['day', 24 * 3600e3], ['hour', 3600e3], ['minute', 60e3], ['second', 1e3],
];

// formatRelative says how far a date is from now ("in 3 hours", "hace 2 días").
export function formatRelative(v) {
  const d = toDate(v);
  if (!d) return '';
  const diff = d.getTime() - Date.now();
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  for (const [unit, size] of RELATIVE) {
    if (Math.abs(diff) >= size || unit === 'second') {
      return rtf.format(Math.round(diff / size), unit);
    }
  }
  return '';
}

// escapeHTML escapes text for the rare place that builds HTML (the pages
// themselves only ever set text).
export function escapeHTML(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}
