// Joining: the join form, joining a room (and again on reconnect), what a
// join ack brings, and changing name.

import { DEFAULT_ROOM, MAX_HISTORY_PAGE } from './limits.js';
import { showError, ui, validTs } from './dom.js';
import { TRANSIENT, localError } from './errors.js';
import { ROOM_KEY, state, store } from './state.js';
import { forgetSession, rememberSession, setTabName, tabName, tokenFor } from './identity.js';
import { renderStatus, request, socket } from './socket.js';
import { addSystem, clearRoom, insert, renderChatMessage, renderTitle, scrollToBottom } from './room.js';
import { ensureMember, requestMembers, setMembers } from './members.js';
import { renderControls } from './composer.js';
import { flushQueued } from './send.js';
import { loadWhispers } from './whispers.js';
import { flushRead, isOpen, roomError, roomJoined, roomOpened, shownRoom } from './rooms.js';
import { t } from './i18n.js';
import { applyChanges, setModerator } from './edit.js';
import { joinedRoom, rememberRoom, signedIn, tokenName } from './auth.js';

const REJOIN_DELAYS_MS = [1000, 2000, 5000, 10000, 30000];
// Between tries to load the history a join came without.
const HISTORY_RETRY_MS = [1000, 2000, 5000, 10000, 30000];

export function normalizeName(s) {
  return String(s).normalize('NFC').trim();
}

export function normalizeRoom(s) {
  return String(s).normalize('NFC').trim() || DEFAULT_ROOM;
}

export function setJoinBusy(busy, label) {
  ui.joinButton.disabled = busy;
  ui.joinButton.textContent = busy ? label || t('joining') : t('join');
  ui.joinForm.setAttribute('aria-busy', busy ? 'true' : 'false');
}

// join asks the server to put this connection in target.room as
// target.username. opts.auto: on (re)connect; opts.switching: a room change
// while joined, which keeps the rooms the connection is in (keep) and
// shows target.room.
export function join(target, opts) {
  opts = opts || {};
  clearTimeout(state.rejoinTimer);
  const seq = ++state.joinSeq;
  const payload = { username: target.username, room: target.room || DEFAULT_ROOM };
  if (opts.switching) {
    payload.keep = true;
    flushRead(); // what was shown of the room we leave on screen is read
  }
  // The token proves we are the earlier holder of this name.
  const token = tokenFor(target.username);
  if (token) payload.token = token;
  // Back in the room we were in: ask only for what came after the last
  // message we have.
  if (opts.auto && state.view === 'chat' && state.lastId && payload.room === state.room) payload.since = state.lastId;
  state.joining = true;
  state.joiningRoom = payload.room;
  state.early = [];
  renderControls();
  request('join', payload).then((ack) => {
    if (seq !== state.joinSeq) return; // superseded, or the connection dropped
    state.joining = false;
    state.joiningRoom = null;
    if (ack.ok) onJoined(ack, payload, opts);
    else onJoinFailed(ack.error, payload, opts);
    renderControls();
  });
}

function onJoined(ack, payload, opts) {
  const previousRoom = state.room;
  const wasChat = state.view === 'chat';
  state.username = typeof ack.username === 'string' && ack.username ? ack.username : payload.username;
  state.color = ack.color;
  setModerator(ack.moderator === true);
  state.room = typeof ack.room === 'string' && ack.room ? ack.room : payload.room;
  if (typeof ack.token === 'string' && ack.token) state.token = ack.token;
  if (signedIn()) {
    // The session is the sign-in's: nothing for the browser's other tabs,
    // which are anonymous unless they sign in too.
    rememberRoom(state.room);
  } else {
    rememberSession(state.username, state.token);
    setTabName(state.username);
  }
  store.set(ROOM_KEY, state.room);
  state.desired = { username: state.username, room: state.room };
  state.joined = true;
  state.rejoinAttempt = 0;
  // A room shown again (it was open all along) needs no word that we joined.
  const shownAgain = payload.keep === true && isOpen(state.room);
  roomOpened(state.room, payload.keep === true, opts.auto === true);

  const roomChanged = previousRoom !== state.room || !wasChat;
  // A gap: what came after our last message is no longer all there; the
  // ack holds the newest page, shown in place of what we had.
  const gap = !roomChanged && payload.since && ack.gap === true;
  // What we wrote and the connection lost outlives a gap's clearing.
  const queued = gap ? Array.from(state.pending.values()).filter((e) => e.queued) : [];
  if (roomChanged || gap) clearRoom();
  for (const e of queued) {
    state.pending.set(e.clientId, e);
    insert(e.li, Date.now(), { own: true });
  }

  showChat();
  ui.messages.setAttribute('aria-busy', 'true');
  if (roomChanged) {
    if (!shownAgain) addSystem(t('joined', state.room, state.username));
  } else if (gap) {
    addSystem(t('historyGap'), 'system-error');
  } else if (state.lostConnection) {
    addSystem(t('reconnected'));
  }
  state.lostConnection = false;

  if (Array.isArray(ack.members)) {
    // The ack holds the first page; the others follow, a page at a time.
    setMembers(ack.members);
    const last = ack.members[ack.members.length - 1];
    if (last && ack.memberCount > ack.members.length) requestMembers(last.username);
  } else requestMembers();
  ensureMember(state.username, state.color);

  const history = Array.isArray(ack.history) ? ack.history.slice() : [];
  history.sort((a, b) => validTs(a && a.ts) - validTs(b && b.ts));
  for (const m of history) renderChatMessage(m, true);
  applyChanges(ack.changed); // edited or deleted while we were away
  for (const m of state.early) if (m.room === state.room) renderChatMessage(m, false);
  state.early = [];
  clearTimeout(state.historyTimer);
  if (ack.historyError) {
    // Joined, but history did not answer: what came before, and what we
    // missed while away, is loaded as soon as it does.
    addSystem(t('historyFailed'), 'system-error');
    loadMissedHistory(state.room, 0);
  }
  // Every join asks for the whispers: a reload, a reconnect or a room
  // change shows them (those already shown are not shown twice).
  loadWhispers();
  ui.messages.setAttribute('aria-busy', 'false');
  if (roomChanged) scrollToBottom();

  if (!roomChanged) flushQueued();
  roomJoined(roomChanged);
  showError(ui.roomSwitchError, null);
  if (!opts.auto || roomChanged) {
    if (!opts.auto || document.activeElement === document.body || !document.activeElement) ui.messageInput.focus();
  }
}

// loadMissedHistory asks for the room's newest page until history
// answers, and shows what it holds that we have not seen, in its place.
function loadMissedHistory(room, attempt) {
  const delay = HISTORY_RETRY_MS[Math.min(attempt, HISTORY_RETRY_MS.length - 1)];
  state.historyTimer = setTimeout(() => {
    if (!state.joined || state.room !== room) return; // a join will say again
    request('history', { room, limit: MAX_HISTORY_PAGE }).then((ack) => {
      if (!state.joined || state.room !== room) return;
      if (!ack.ok || !Array.isArray(ack.messages)) {
        loadMissedHistory(room, attempt + 1);
        return;
      }
      const messages = ack.messages.slice();
      messages.sort((a, b) => validTs(a && a.ts) - validTs(b && b.ts));
      for (const m of messages) renderChatMessage(m, true);
      addSystem(t('historyLoaded'));
    });
  }, delay);
}

function onJoinFailed(err, payload, opts) {
  if (opts.switching) {
    // Still in the old room.
    showError(ui.roomSwitchError, roomError(err, payload.room));
    ui.roomSwitchInput.focus();
    return;
  }
  if (opts.auto && TRANSIENT.has(err.code) && socket.connected) {
    const delay = REJOIN_DELAYS_MS[Math.min(state.rejoinAttempt, REJOIN_DELAYS_MS.length - 1)];
    state.rejoinAttempt++;
    const note = t('retryingIn', err.message, Math.round(delay / 1000));
    if (state.view === 'chat') addSystem(note, 'system-error');
    else {
      showError(ui.joinError, { code: err.code, message: note });
      setJoinBusy(true, t('retrying'));
    }
    state.rejoinTimer = setTimeout(() => {
      if (state.desired && socket.connected && !state.joined) join(state.desired, opts);
    }, delay);
    return;
  }
  // Back to the form with the server's word on it.
  if ((err.code === 'name_taken' || err.code === 'invalid_name') && !signedIn()) {
    state.token = null;
    forgetSession(payload.username);
  }
  state.desired = null;
  showJoinForm(payload.username, payload.room);
  showError(ui.joinError, err);
  const field = err.code === 'invalid_room' ? ui.roomInput : ui.nameInput;
  field.focus();
  field.select();
}

function showJoinForm(name, room) {
  state.view = 'join';
  state.joined = false;
  ui.chatView.hidden = true;
  ui.joinView.hidden = false;
  ui.roomName.hidden = true;
  ui.signoutButton.hidden = true;
  ui.renameButton.hidden = true;
  ui.renameForm.hidden = true;
  if (name !== undefined) ui.nameInput.value = name || '';
  if (room !== undefined) ui.roomInput.value = room && room !== DEFAULT_ROOM ? room : '';
  setJoinBusy(false);
  document.title = 'natter';
  renderControls();
}

function showChat() {
  state.view = 'chat';
  ui.joinView.hidden = true;
  ui.chatView.hidden = false;
  ui.signoutButton.hidden = false;
  ui.renameButton.hidden = false;
  ui.roomName.hidden = false;
  ui.roomName.textContent = '#' + state.room;
  ui.roomName.title = t('signedInAs', state.username);
  ui.messageInput.placeholder = t('messageRoom', state.room);
  setJoinBusy(false);
  showError(ui.joinError, null);
  renderTitle();
}

// restoreSession fills the form from the saved session and, when it holds
// a token, rejoins as before once connected; the form waits meanwhile.
export function restoreSession() {
  if (signedIn()) {
    // The name is the token's (wireAuth shows it); a tab that had joined
    // joins its room again.
    const room = joinedRoom();
    ui.roomInput.value = room && room !== DEFAULT_ROOM ? room : '';
    if (room) {
      state.desired = { username: tokenName(), room };
      setJoinBusy(true, t('rejoining'));
    } else ui.joinButton.focus();
    return;
  }
  const savedName = tabName();
  const savedRoom = shownRoom() || store.get(ROOM_KEY);
  state.token = savedName ? tokenFor(savedName) : null;
  ui.nameInput.value = savedName || '';
  ui.roomInput.value = savedRoom && savedRoom !== DEFAULT_ROOM ? savedRoom : '';
  if (savedName && state.token) {
    state.desired = { username: savedName, room: savedRoom || DEFAULT_ROOM };
    setJoinBusy(true, t('rejoining'));
  } else {
    ui.nameInput.focus();
  }
}

export function wireJoin() {
  ui.joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (state.joining) return;
    const username = normalizeName(ui.nameInput.value);
    const room = normalizeRoom(ui.roomInput.value);
    if (!username) {
      showError(ui.joinError, localError('invalid_name', t('enterName')));
      ui.nameInput.focus();
      return;
    }
    state.desired = { username, room };
    state.rejoinAttempt = 0;
    showError(ui.joinError, null);
    if (socket.connected) {
      setJoinBusy(true);
      join(state.desired, { auto: false });
    } else {
      // The connect handler joins as soon as the connection is up.
      setJoinBusy(true, t('waitingConnection'));
      if (!socket.active) socket.connect();
    }
  });

  // Join as someone else: this tab leaves its session (kept for the name: joining
  // as it again resumes it) and starts over on a new connection, so the
  // server lets go of the name; the browser's other tabs stay who they are.
  ui.signoutButton.addEventListener('click', () => {
    const name = state.username;
    state.desired = null;
    state.token = null;
    setTabName('');
    clearRoom();
    state.room = null;
    state.username = null;
    state.lostConnection = false;
    showJoinForm(name, store.get(ROOM_KEY) || '');
    ui.nameInput.focus();
    ui.nameInput.select();
    socket.disconnect();
    state.connection = 'connecting';
    socket.connect();
    renderStatus();
  });
}
