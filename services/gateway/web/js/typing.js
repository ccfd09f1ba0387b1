// Typing: who else in the room is typing, and telling the room when we are.

import { ui } from './dom.js';
import { state } from './state.js';
import { socket } from './socket.js';
import { t } from './i18n.js';

const TYPING_IDLE_MS = 1500; // send typing off after this long without keystrokes
const TYPING_REFRESH_MS = 2000; // repeat typing on this often while typing goes on
const TYPING_EXPIRE_MS = 3000; // hide someone's typing after this long without news

// showTyping shows username as typing until TYPING_EXPIRE_MS pass without
// another word of it.
export function showTyping(username) {
  clearTimeout(state.typingUsers.get(username));
  state.typingUsers.set(username, setTimeout(() => dropTyping(username), TYPING_EXPIRE_MS));
  renderTyping();
}

export function dropTyping(username) {
  const timer = state.typingUsers.get(username);
  if (timer === undefined) return;
  clearTimeout(timer);
  state.typingUsers.delete(username);
  renderTyping();
}

export function clearTyping() {
  for (const timer of state.typingUsers.values()) clearTimeout(timer);
  state.typingUsers.clear();
  renderTyping();
}

function renderTyping() {
  const names = Array.from(state.typingUsers.keys());
  let text = '';
  if (names.length === 1) text = t('typingOne', names[0]);
  else if (names.length === 2) text = t('typingTwo', names[0], names[1]);
  else if (names.length === 3) text = t('typingThree', names[0], names[1], names[2]);
  else if (names.length > 3) text = t('typingMany');
  ui.typing.textContent = text;
}

const ownTyping = { on: false, lastSent: 0, idleTimer: null };

function emitTyping(on) {
  if (!state.joined || !socket.connected) return;
  socket.emit('typing', { on, room: state.room });
}

// noteTyping follows the composer: typing on while text is being written,
// off once it stops.
export function noteTyping() {
  const v = ui.messageInput.value;
  // Whispers and commands are not announced to the room.
  if (!state.joined || !v.trim() || v.startsWith('/')) {
    stopOwnTyping(true);
    return;
  }
  const now = Date.now();
  if (!ownTyping.on || now - ownTyping.lastSent >= TYPING_REFRESH_MS) {
    ownTyping.on = true;
    ownTyping.lastSent = now;
    emitTyping(true);
  }
  clearTimeout(ownTyping.idleTimer);
  ownTyping.idleTimer = setTimeout(() => stopOwnTyping(true), TYPING_IDLE_MS);
}

export function stopOwnTyping(notify) {
  clearTimeout(ownTyping.idleTimer);
  if (ownTyping.on && notify) emitTyping(false);
  ownTyping.on = false;
}
