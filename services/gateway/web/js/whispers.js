// The whisper history: loaded on every join (a reload, a reconnect, a room
// change) and shown among the room's lines, and the count of whispers
// received since this browser last showed the user's whispers (sent while
// they were away, say).

import { MAX_HISTORY_PAGE } from './limits.js';
import { validTs } from './dom.js';
import { state, store } from './state.js';
import { request } from './socket.js';
import { addSystem, renderWhisper } from './room.js';
import { t } from './i18n.js';

// readKey keeps, per user, the time of the newest whisper the page showed.
const readKey = (username) => 'natter.whispersRead.' + username;

// loadWhispers asks for the session's newest whispers and shows them,
// then says how many that came to us are new since the last time.
export function loadWhispers() {
  const seq = state.joinSeq;
  const me = state.username;
  request('whispers', { limit: MAX_HISTORY_PAGE }).then((ack) => {
    if (seq !== state.joinSeq || !state.joined || state.username !== me) return; // another join asks again
    if (!ack.ok || !Array.isArray(ack.whispers)) {
      addSystem(t('whispersFailed'), 'system-error');
      return;
    }
    const read = Number(store.get(readKey(me))) || 0;
    let unread = 0;
    let newest = read;
    for (const w of ack.whispers) {
      if (!w || typeof w !== 'object') continue;
      const ts = validTs(w.ts);
      if (w.from !== me && ts > read) unread++;
      if (ts > newest) newest = ts;
      renderWhisper(w, { quiet: true });
    }
    state.unreadWhispers = unread;
    if (unread > 0) addSystem(t('unreadWhispers', unread), 'system-whispers').dataset.testid = 'unread-whispers';
    markWhispersRead(newest);
  });
}

// markWhispersRead records that whispers up to ts have been shown.
export function markWhispersRead(ts) {
  if (!state.username) return;
  const key = readKey(state.username);
  if (ts > (Number(store.get(key)) || 0)) store.set(key, ts);
}
