// The room's message list: messages, whispers and system lines in
// timestamp order, scrolling, and the unread count in the title.

import { appendLinked, makeEl, paint, timeEl, ui, validTs } from './dom.js';
import { state } from './state.js';
import { renderMembers } from './members.js';
import { clearTyping, dropTyping } from './typing.js';
import { confirmPending } from './send.js';
import { markWhispersRead } from './whispers.js';
import { t } from './i18n.js';
import { decorateMessage } from './edit.js';

export function clearRoom() {
  ui.messages.replaceChildren();
  state.seen.clear();
  state.pending.clear();
  state.lastId = null;
  state.lastTs = 0;
  state.members.clear();
  renderMembers();
  clearTyping();
  state.unread = 0;
  ui.jumpButton.hidden = true;
}

export function renderTitle() {
  const base = state.room ? '#' + state.room + ' · natter' : 'natter';
  document.title = state.unread > 0 ? '(' + state.unread + ') ' + base : base;
}

function isNearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 48;
}

export function scrollToBottom() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  ui.jumpButton.hidden = true;
}

export function wireRoom() {
  ui.messages.addEventListener('scroll', () => {
    if (isNearBottom()) ui.jumpButton.hidden = true;
  });

  ui.jumpButton.addEventListener('click', () => {
    scrollToBottom();
    ui.messageInput.focus();
  });

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      state.unread = 0;
      renderTitle();
    }
  });
}

// insert puts li in the list in timestamp order (nearly always at the end)
// and keeps the view pinned to the bottom when it was there.
export function insert(li, ts, opts) {
  opts = opts || {};
  const list = ui.messages;
  const pinned = isNearBottom();
  li.dataset.ts = String(ts);
  let after = list.lastElementChild;
  while (after && Number(after.dataset.ts) > ts) after = after.previousElementSibling;
  if (after) after.after(li);
  else list.prepend(li);
  if (pinned || opts.own) scrollToBottom();
  else if (!opts.quiet) ui.jumpButton.hidden = false;
  if (!opts.quiet && !opts.own && document.hidden) {
    state.unread++;
    renderTitle();
  }
}

export function addSystem(text, extraClass) {
  const ts = Date.now();
  const li = makeEl('li', 'system' + (extraClass ? ' ' + extraClass : ''));
  li.dataset.testid = 'system';
  li.appendChild(timeEl(ts));
  li.appendChild(makeEl('span', 'body', text));
  insert(li, ts, { quiet: true });
  return li;
}

// addNotice adds a system line of username and the words after it
// (t('joinedNotice'), t('leftNotice')).
export function addNotice(username, color, verb) {
  const ts = Date.now();
  const li = makeEl('li', 'system');
  li.dataset.testid = 'system';
  li.appendChild(timeEl(ts));
  const body = makeEl('span', 'body');
  const who = makeEl('span', 'author', username);
  paint(who, color);
  body.appendChild(who);
  body.appendChild(document.createTextNode(verb));
  li.appendChild(body);
  insert(li, ts, { quiet: true });
}

export function isChatMessage(m) {
  return m && typeof m === 'object' && typeof m.message === 'string' && typeof m.username === 'string';
}

function sameText(a, b) {
  return String(a).normalize('NFC').trim() === String(b).normalize('NFC').trim();
}

// buildMessage makes the line of a message or (kind 'whisper') a whisper.
export function buildMessage(kind, fields) {
  const li = makeEl('li', kind === 'whisper' ? 'msg whisper' : 'msg');
  li.dataset.testid = kind;
  li.appendChild(timeEl(fields.ts));
  const body = makeEl('div', 'body');
  if (kind === 'whisper') {
    const label = makeEl('span', 'whisper-label');
    label.appendChild(makeEl('span', 'whisper-tag', t('whisperTag')));
    const from = makeEl('span', 'whisper-from', fields.from);
    paint(from, state.members.get(fields.from));
    const to = makeEl('span', 'whisper-to', fields.to);
    paint(to, state.members.get(fields.to));
    label.appendChild(from);
    label.appendChild(document.createTextNode(' → '));
    label.appendChild(to);
    label.appendChild(document.createTextNode(':'));
    body.appendChild(label);
    li.setAttribute('aria-label', t('whisperLabel', fields.from, fields.to));
    li.dataset.from = fields.from;
    li.dataset.to = fields.to;
    if (fields.from === state.username) li.classList.add('mine');
  } else {
    const author = makeEl('span', 'author', fields.username);
    paint(author, fields.color);
    body.appendChild(author);
    li.dataset.username = fields.username;
    if (fields.username === state.username) {
      // Our own, marked by more than colour: a bar and a word.
      li.classList.add('mine');
      body.appendChild(makeEl('span', 'mine-tag', t('you')));
    }
  }
  const text = makeEl('span', 'text');
  appendLinked(text, fields.message);
  body.appendChild(text);
  li.appendChild(body);
  if (fields.id) li.dataset.id = fields.id;
  li.dataset.state = fields.pendingState || 'sent';
  if (kind !== 'whisper') decorateMessage(li, fields);
  return li;
}

export function markSeen(id, ts, isChat) {
  if (!id) return;
  state.seen.add(id);
  if (isChat && ts >= state.lastTs) {
    state.lastTs = ts;
    state.lastId = id;
  }
}

export function renderChatMessage(m, fromHistory) {
  if (!isChatMessage(m)) return;
  const id = typeof m.id === 'string' || typeof m.id === 'number' ? String(m.id) : '';
  if (id && state.seen.has(id)) return;
  const ts = validTs(m.ts);
  // Our own message coming back: confirm the pending line instead. A
  // clientId in the payload (optional) names it; else the oldest
  // unconfirmed line with the same text does.
  const byClientId = typeof m.clientId === 'string' ? state.pending.get(m.clientId) : undefined;
  if (byClientId && byClientId.kind === 'message') {
    confirmPending(byClientId, id, ts);
    return;
  }
  if (m.username === state.username) {
    for (const p of state.pending.values()) {
      if (p.kind === 'message' && p.room === state.room && sameText(p.text, m.message)) {
        confirmPending(p, id, ts);
        return;
      }
    }
  }
  const li = buildMessage('message', { id, ts, username: m.username, color: m.color, message: m.message,
    editedAt: m.editedAt, deleted: m.deleted, deletedBy: m.deletedBy });
  markSeen(id, ts, true);
  insert(li, ts, { quiet: fromHistory });
  if (!fromHistory) dropTyping(m.username);
}

// renderWhisper shows a whisper, live or (opts.quiet) from the whisper
// history.
export function renderWhisper(w, opts) {
  opts = opts || {};
  if (!w || typeof w !== 'object' || typeof w.message !== 'string' || typeof w.from !== 'string') return;
  const id = typeof w.id === 'string' || typeof w.id === 'number' ? String(w.id) : '';
  if (id && state.seen.has(id)) return;
  const ts = validTs(w.ts);
  const to = typeof w.to === 'string' ? w.to : state.username || '';
  const li = buildMessage('whisper', { id, ts, from: w.from, to, message: w.message });
  markSeen(id, ts, false);
  insert(li, ts, { own: w.from === state.username, quiet: opts.quiet });
  if (!opts.quiet && !document.hidden) markWhispersRead(ts);
}
