// Who this tab is. The name it joined as is the tab's own (sessionStorage:
// a reload keeps it, and another tab may be someone else); the session
// token of each name this browser has joined as is shared by its tabs
// (localStorage), so that tabs of one name are one user, and "Join as
// someone else" throws no session away: joining as the old name again is
// the same user, with the same colour and whispers. "Change name" renames
// the session: its entry follows the new name.

import { NAME_KEY, TOKEN_KEY, store } from './state.js';

const TAB_KEY = 'natter.tab.name';
const SESSIONS_KEY = 'natter.sessions';
// The sessions a browser remembers, the most recently joined.
const MOST_SESSIONS = 10;

// tabStore is sessionStorage where it works; get tells '' (this tab chose
// no name) from null (it never said).
export const tabStore = {
  get(key) {
    try {
      return window.sessionStorage.getItem(key);
    } catch (_) {
      return null;
    }
  },
  set(key, value) {
    try {
      window.sessionStorage.setItem(key, value);
    } catch (_) {
      // Not fatal: a reload goes by the browser's last name.
    }
  },
};

// sessions returns [{name, token}], the most recently joined first.
function sessions() {
  let list = [];
  try {
    list = JSON.parse(store.get(SESSIONS_KEY) || '[]');
  } catch (_) {
    list = [];
  }
  if (!Array.isArray(list)) list = [];
  list = list.filter((s) => s && typeof s.name === 'string' && typeof s.token === 'string');
  // The single session this page used to keep.
  const oldName = store.get(NAME_KEY);
  const oldToken = store.get(TOKEN_KEY);
  if (oldToken) {
    if (oldName && !list.some((s) => s.name === oldName)) list.unshift({ name: oldName, token: oldToken });
    store.set(TOKEN_KEY, null);
    store.set(SESSIONS_KEY, JSON.stringify(list));
  }
  return list;
}

// tokenFor returns the token of the session this browser holds for name.
export function tokenFor(name) {
  const s = sessions().find((e) => e.name === name);
  return s ? s.token : null;
}

// rememberSession keeps name's token, first among the sessions.
export function rememberSession(name, token) {
  if (!name || !token) return;
  const list = sessions().filter((s) => s.name !== name);
  list.unshift({ name, token });
  store.set(SESSIONS_KEY, JSON.stringify(list.slice(0, MOST_SESSIONS)));
}

// renameSession moves the session of from to the name to: the session
// was renamed, its token stays.
export function renameSession(from, to, token) {
  if (!to || !token) return;
  const list = sessions().filter((s) => s.name !== from && s.name !== to);
  list.unshift({ name: to, token });
  store.set(SESSIONS_KEY, JSON.stringify(list.slice(0, MOST_SESSIONS)));
}

// forgetSession drops name's token: it resumes nothing any more.
export function forgetSession(name) {
  store.set(SESSIONS_KEY, JSON.stringify(sessions().filter((s) => s.name !== name)));
}

// tabName is the name this tab joins as when it loads: its own, or, in a
// tab that never chose, the one this browser joined as last; '' after
// "Change name".
export function tabName() {
  const own = tabStore.get(TAB_KEY);
  return own !== null ? own : store.get(NAME_KEY) || '';
}

// setTabName makes name this tab's (and new tabs' default); '' for none.
export function setTabName(name) {
  tabStore.set(TAB_KEY, name || '');
  if (name) store.set(NAME_KEY, name);
}
