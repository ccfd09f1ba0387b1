// Signing in with a JSON Web Token. A page opened as /#token=<jwt> (a
// sign-in link: a fragment is never sent to a server, so it is in no
// request or log) keeps the token in this tab's sessionStorage, takes it
// off the address bar at once, and sends it in the CONNECT of every
// (re)connection. The name is then the token's; a tab without a token is
// anonymous, as before. Signing out forgets the token.

import { ui } from './dom.js';
import { t } from './i18n.js';
import { tabStore as tab } from './identity.js';

// Both in the tab's sessionStorage: the token is this tab's, and ends
// with it ('' is none).
const TOKEN_KEY = 'natter.auth.token';
// The room a signed-in tab joined: a reload joins it again.
const ROOM_KEY = 'natter.auth.room';

// token is the JWT this tab signs in with; null for an anonymous tab.
let token = null;

// takeToken moves a token in the address bar's fragment into the tab's
// storage and off the address bar (the fragment's other parts stay), and
// reads the token the tab holds. It reports whether the fragment held one.
export function takeToken() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const fresh = params.get('token');
  if (fresh !== null) {
    params.delete('token');
    const rest = params.toString();
    const url = window.location.pathname + window.location.search + (rest ? '#' + rest : '');
    window.history.replaceState(window.history.state, '', url);
    if (fresh) tab.set(TOKEN_KEY, fresh);
  }
  token = fresh || tab.get(TOKEN_KEY) || null;
  return fresh !== null;
}

// signedIn reports whether this tab holds a token.
export function signedIn() {
  return token !== null;
}

// sendToken is the socket's auth callback: the token the tab holds now,
// on every connection and reconnection.
export function sendToken(cb) {
  cb(token ? { token } : {});
}

// claims reads the token's claims (not verified: the server does that),
// or {} for one it cannot read.
function claims() {
  const part = token ? token.split('.')[1] : '';
  if (!part) return {};
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    const c = JSON.parse(new TextDecoder().decode(bytes));
    return c && typeof c === 'object' ? c : {};
  } catch (_) {
    return {};
  }
}

// tokenName is the name the token gives (its name, else its sub), as the
// server will take it; '' when it gives none.
export function tokenName() {
  const c = claims();
  const name = typeof c.name === 'string' && c.name ? c.name : c.sub;
  return typeof name === 'string' ? name.normalize('NFC').trim() : '';
}

// joinedRoom is the room this signed-in tab joined last, or null.
export function joinedRoom() {
  return tab.get(ROOM_KEY) || null;
}

export function rememberRoom(room) {
  tab.set(ROOM_KEY, room);
}

// signOut forgets the token and starts the page over, anonymous.
function signOut() {
  token = null;
  tab.set(TOKEN_KEY, '');
  tab.set(ROOM_KEY, '');
  window.location.reload();
}

// wireAuth shows a signed-in tab as such: the token's name, read-only, in
// the join form, and a Sign out button in place of Change name. A sign-in
// link opened in this tab later (only the fragment changes: no reload)
// starts the page over with its token.
export function wireAuth() {
  window.addEventListener('hashchange', () => {
    if (takeToken()) window.location.reload();
  });
  ui.authSignoutButton.addEventListener('click', signOut);
  if (!signedIn()) return;
  document.documentElement.dataset.auth = 'token';
  ui.authSignoutButton.hidden = false;
  ui.nameInput.value = tokenName();
  ui.nameInput.readOnly = true;
  ui.nameHint.textContent = t('nameFromToken');
}
