// Errors as the page shows them: {code, message}, from an ack or made here.

import { hasText, lang, t } from './i18n.js';

// TRANSIENT codes are worth trying again.
export const TRANSIENT = new Set(['unavailable', 'unknown_outcome', 'internal', 'rate_limited', 'timeout', 'disconnected']);

// untilFormat writes when a mute or ban ends.
const untilFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });

// pageText is the page's words for the error e ({code, until}), in its
// language; null for a code it has no words for.
function pageText(e) {
  const key = 'error_' + e.code;
  if (hasText(key)) {
    const until = typeof e.until === 'number' && e.until > 0 ? untilFormat.format(new Date(e.until)) : '';
    return t(key, until);
  }
  if (/^token_[a-z_]+$/.test(e.code)) return t('error_token', e.code);
  return null;
}

function capitalize(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

// toError reads the error of an ack that is not {ok: true}: the page's
// words for its code, the server's message only for a code the page does
// not know.
export function toError(ack) {
  const e = ack && typeof ack === 'object' ? ack.error : null;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    const msg = pageText(e) || (typeof e.message === 'string' && e.message.trim() ? capitalize(e.message) : t('errorCode', e.code));
    return { code: e.code, message: msg };
  }
  if (typeof e === 'string') return { code: 'internal', message: t('error_internal') };
  return { code: 'internal', message: t('unexpectedAnswer') };
}

export function localError(code, message) {
  return { code, message: message || pageText({ code }) || code };
}

// authError reads a connect_error (its data {code, message}, else its
// message, the code) or a disconnect reason as a sign-in error in the
// page's language; null when it is not one. Any token_* code is a token
// that will not do, as is invalid_name, at CONNECT the token's name.
export function authError(err) {
  const data = err && typeof err === 'object' ? err.data || err : null;
  const code = data && typeof data.code === 'string' ? data.code : err && typeof err.message === 'string' ? err.message : '';
  if (/^token_[a-z_]+$/.test(code) || code === 'auth_unavailable') return { code, message: pageText({ code }) };
  if (code === 'invalid_name') return { code, message: t('error_token', code) };
  return null;
}
