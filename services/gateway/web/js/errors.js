// Errors as the page shows them: {code, message}, from an ack or made here.

import { MAX_MESSAGE_RUNES, MAX_NAME_RUNES, MAX_ROOM_RUNES } from './limits.js';
import { t } from './i18n.js';

// TRANSIENT codes are worth trying again.
export const TRANSIENT = new Set(['unavailable', 'unknown_outcome', 'internal', 'rate_limited', 'timeout', 'disconnected']);

// The message of a code when the server gave none.
const FALLBACK_ERRORS = {
  invalid_name: 'A name is 1 to ' + MAX_NAME_RUNES + ' letters, digits, spaces, _ or -.',
  name_taken: 'That name is taken; pick another.',
  invalid_room: 'A room name is 1 to ' + MAX_ROOM_RUNES + ' letters, digits, _ or -.',
  invalid_message: 'That message cannot be sent.',
  message_too_long: 'A message is at most ' + MAX_MESSAGE_RUNES + ' characters.',
  not_joined: 'Join a room first.',
  forbidden: 'That message is not yours to change.',
  no_such_message: 'That message is no longer there.',
  no_such_user: 'No such user.',
  rate_limited: 'Too many messages; slow down.',
  unavailable: 'The service is unavailable; try again.',
  unknown_outcome: 'Not known whether it was sent; try again.',
  bad_request: 'The server did not understand the request.',
  internal: 'Something went wrong on the server.',
  timeout: 'The server did not answer in time.',
  disconnected: 'The connection was lost.',
};

function capitalize(s) {
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
}

// toError reads the error of an ack that is not {ok: true}.
export function toError(ack) {
  const e = ack && typeof ack === 'object' ? ack.error : null;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    const msg = typeof e.message === 'string' && e.message.trim() ? e.message : FALLBACK_ERRORS[e.code];
    return { code: e.code, message: capitalize(msg || 'Error: ' + e.code) };
  }
  if (typeof e === 'string') return { code: 'internal', message: capitalize(e) };
  return { code: 'internal', message: 'Unexpected answer from the server.' };
}

export function localError(code, message) {
  return { code, message: message || FALLBACK_ERRORS[code] || code };
}

// AUTH_TEXTS are the page's words for a CONNECT refused for its token, or
// for the lack of one; every other token_* code is a token that will not
// do (authInvalid), as is invalid_name, at CONNECT the token's name.
const AUTH_TEXTS = {
  token_missing: () => t('authMissing'),
  token_expired: () => t('authExpired'),
  token_not_yet_valid: () => t('authNotYet'),
  auth_unavailable: () => t('authUnavailable'),
};

// authError reads a connect_error (its data {code, message}, else its
// message, the code) or a disconnect reason as a sign-in error in the
// page's language; null when it is not one.
export function authError(err) {
  const data = err && typeof err === 'object' ? err.data || err : null;
  const code = data && typeof data.code === 'string' ? data.code : err && typeof err.message === 'string' ? err.message : '';
  if (Object.prototype.hasOwnProperty.call(AUTH_TEXTS, code)) return { code, message: AUTH_TEXTS[code]() };
  if (/^token_[a-z_]+$/.test(code) || code === 'invalid_name') return { code, message: t('authInvalid', code) };
  return null;
}
