// Sending: a message or whisper goes on screen at once as pending, is
// emitted with a clientId, and is confirmed, retried, held for the
// connection or marked failed by what its ack says.

import { MAX_MESSAGE_RUNES } from './limits.js';
import { makeEl, showError, timeEl, ui, validTs } from './dom.js';
import { TRANSIENT, localError } from './errors.js';
import { state } from './state.js';
import { request, socket } from './socket.js';
import { buildMessage, insert, markSeen } from './room.js';
import { decorateMessage } from './edit.js';
import { t } from './i18n.js';

// Between resends of a message whose ack said unknown_outcome (the server
// could not tell whether it was stored): under the same clientId, it is
// stored once either way.
const UNKNOWN_OUTCOME_RETRY_MS = [500, 1000, 2000, 5000];

// charCount counts code points, as the server counts.
export function charCount(s) {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function newClientId() {
  if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
}

function checkLength(text) {
  const n = charCount(text);
  if (n > MAX_MESSAGE_RUNES) {
    showError(ui.sendError, localError('message_too_long', t('tooLong', n)));
    return false;
  }
  return true;
}

function tidy(text) {
  return text.replace(/\s+$/u, '').replace(/^\n+/u, '');
}

// sendChat sends raw to the room; false if there is nothing to send or it
// is too long (the error is shown).
export function sendChat(raw) {
  const text = tidy(raw);
  if (!text.trim() || !checkLength(text)) return false;
  const entry = {
    kind: 'message',
    clientId: newClientId(),
    text,
    room: state.room,
    li: null,
  };
  entry.li = buildMessage('message', {
    ts: Date.now(), username: state.username, color: state.color, message: text, pendingState: 'pending',
  });
  start(entry);
  return true;
}

// sendWhisper whispers raw to the user named to; false as sendChat.
export function sendWhisper(to, raw) {
  const text = tidy(raw);
  if (!text.trim() || !checkLength(text)) return false;
  const entry = { kind: 'whisper', clientId: newClientId(), text, to, room: state.room, li: null };
  entry.li = buildMessage('whisper', {
    ts: Date.now(), from: state.username, to, message: text, pendingState: 'pending',
  });
  start(entry);
  return true;
}

function start(entry) {
  entry.li.dataset.clientId = entry.clientId;
  setMeta(entry, t('sending'));
  state.pending.set(entry.clientId, entry);
  insert(entry.li, Date.now(), { own: true });
  if (state.joined && socket.connected) transmit(entry);
  else holdForConnection(entry);
}

function transmit(entry) {
  entry.li.dataset.state = 'pending';
  setMeta(entry, t('sending'));
  const event = entry.kind === 'whisper' ? 'whisper' : 'client message';
  const payload = entry.kind === 'whisper'
    ? { to: entry.to, message: entry.text, clientId: entry.clientId }
    : { room: entry.room, message: entry.text, clientId: entry.clientId };
  request(event, payload).then((ack) => {
    if (state.pending.get(entry.clientId) !== entry) return; // confirmed already, or the room was left
    if (ack.ok) {
      const id = typeof ack.id === 'string' || typeof ack.id === 'number' ? String(ack.id) : '';
      if (id && state.seen.has(id)) {
        // The server's copy is already on screen.
        state.pending.delete(entry.clientId);
        entry.li.remove();
        return;
      }
      confirmPending(entry, id, validTs(ack.ts));
    } else {
      failPending(entry, ack.error);
    }
  });
}

// confirmPending marks entry's line sent, as the message id at ts.
export function confirmPending(entry, id, ts) {
  state.pending.delete(entry.clientId);
  const li = entry.li;
  li.dataset.state = 'sent';
  if (id) li.dataset.id = id;
  const old = li.querySelector('.ts');
  if (old) old.replaceWith(timeEl(ts));
  li.dataset.ts = String(ts);
  const meta = li.querySelector('.msg-meta');
  if (meta) meta.remove();
  delete li.dataset.code;
  markSeen(id, ts, entry.kind === 'message');
  if (entry.kind === 'message') decorateMessage(li, { username: state.username }); // now editable
}

function failPending(entry, err) {
  if (err.code === 'disconnected') {
    // Lost with the connection before its ack: stored or not, it goes
    // again once we are back in the room (flushQueued), under the same
    // clientId, so the server keeps it once.
    holdForConnection(entry);
    return;
  }
  const tries = entry.unknownTries || 0;
  if (err.code === 'unknown_outcome' && tries < UNKNOWN_OUTCOME_RETRY_MS.length) {
    // Stored or not: the same clientId asks again, and is kept once.
    entry.unknownTries = tries + 1;
    setTimeout(() => {
      if (state.pending.get(entry.clientId) !== entry) return; // confirmed meanwhile, or left
      if (state.joined && socket.connected) transmit(entry);
      else holdForConnection(entry);
    }, UNKNOWN_OUTCOME_RETRY_MS[tries]);
    return;
  }
  entry.li.dataset.state = 'failed';
  entry.li.dataset.code = err.code;
  const meta = setMeta(entry, err.message);
  meta.setAttribute('role', 'alert');
  if (TRANSIENT.has(err.code)) {
    const retry = makeEl('button', 'retry', t('retry'));
    retry.type = 'button';
    retry.dataset.testid = 'retry';
    retry.addEventListener('click', () => {
      if (!state.joined) {
        showError(ui.sendError, localError('not_joined', t('notConnectedYet')));
        return;
      }
      meta.removeAttribute('role');
      transmit(entry);
    });
    meta.appendChild(retry);
  }
  addDismiss(entry, meta);
}

// holdForConnection keeps what was written, or lost with its
// connection, until flushQueued sends it.
function holdForConnection(entry) {
  entry.queued = true;
  entry.li.dataset.state = 'queued';
  addDismiss(entry, setMeta(entry, t('notSentYet')));
}

function addDismiss(entry, meta) {
  const dismiss = makeEl('button', 'retry', t('dismiss'));
  dismiss.type = 'button';
  dismiss.addEventListener('click', () => {
    state.pending.delete(entry.clientId);
    entry.li.remove();
    ui.messageInput.focus();
  });
  meta.appendChild(dismiss);
}

// flushQueued sends, in the order they were written, the messages and
// whispers held for the connection: written while it was down, or lost
// with it before their ack.
export function flushQueued() {
  for (const entry of Array.from(state.pending.values())) {
    if (!entry.queued || entry.room !== state.room) continue;
    entry.queued = false;
    transmit(entry);
  }
}

function setMeta(entry, text) {
  let meta = entry.li.querySelector('.msg-meta');
  if (!meta) {
    meta = makeEl('span', 'msg-meta');
    meta.dataset.testid = 'message-status';
    entry.li.querySelector('.body').appendChild(meta);
  }
  meta.replaceChildren(makeEl('span', null, text));
  return meta;
}
