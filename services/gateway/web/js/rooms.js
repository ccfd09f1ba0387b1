// The room list and read positions: the rooms with users and the user's
// recent rooms, with member counts and unread badges (the server keeps
// how far the session has read each room, for every tab and device);
// telling the server what this tab has shown; and the "new messages"
// marker between what was read and what is new.

import { MAX_UNREAD } from './limits.js';
import { makeEl, ui } from './dom.js';
import { state } from './state.js';
import { request } from './socket.js';
import { switchRoom } from './commands.js';
import { t } from './i18n.js';

// The list is asked again this often while the tab is visible: other
// rooms' counts move without telling this connection.
const ROOMS_REFRESH_MS = 10000;
// A read waits this long, so that a burst of messages is one read.
const READ_DELAY_MS = 1000;
// A badge shows the count, below MAX_UNREAD; at it (that many or more),
// one less and a plus: "99+".
function badgeText(n) {
  return n >= MAX_UNREAD ? (MAX_UNREAD - 1) + '+' : String(n);
}

const rooms = new Map(); // room → {count, read, unread}: the server's list
const sentRead = new Map(); // room → the id this tab last told the server it read
let holdReads = false; // until a join's marker is placed: its read would hide it
let readTimer = null;
let refreshing = null;

// refreshRooms asks for the room list and shows it; it resolves with the
// list (a Map), or null when the server did not answer.
export function refreshRooms() {
  if (refreshing) return refreshing;
  refreshing = request('rooms', {}).then((ack) => {
    refreshing = null;
    if (!ack.ok || !Array.isArray(ack.rooms)) return null;
    rooms.clear();
    for (const r of ack.rooms) {
      if (!r || typeof r.room !== 'string') continue;
      rooms.set(r.room, {
        count: Number.isInteger(r.count) ? r.count : 0,
        read: typeof r.read === 'string' ? r.read : '',
        unread: Number.isInteger(r.unread) ? r.unread : null,
      });
    }
    renderRooms();
    return rooms;
  });
  return refreshing;
}

// roomJoined follows every join: the list again and, in a room just
// entered, the marker where the session had read to; reads wait for it.
export function roomJoined(roomChanged) {
  const seq = state.joinSeq;
  const room = state.room;
  // A join back into the room we were in (a reconnect) has no marker to
  // wait for, and frees the reads a superseded join held.
  holdReads = roomChanged;
  renderRooms();
  refreshRooms().then((list) => {
    if (seq !== state.joinSeq || state.room !== room) return; // a later join holds or frees
    if (roomChanged) placeMarker(list && list.get(room));
    holdReads = false;
    scheduleRead();
  });
}

// placeMarker puts the "new messages" line before the first message the
// session had not read: after the message it read to, or, when that is
// not on the page, before the last `unread` ones.
function placeMarker(entry) {
  for (const old of ui.messages.querySelectorAll('.new-marker')) old.remove();
  if (!entry || !entry.unread) return;
  const lines = Array.from(ui.messages.querySelectorAll('li.msg:not(.whisper)'));
  let first = null;
  const at = entry.read ? lines.findIndex((li) => li.dataset.id === entry.read) : -1;
  if (at >= 0) first = lines[at + 1] || null;
  else if (lines.length > 0) first = lines[Math.max(0, lines.length - entry.unread)];
  if (!first) return;
  const li = makeEl('li', 'new-marker');
  li.dataset.testid = 'new-marker';
  li.dataset.ts = first.dataset.ts;
  li.setAttribute('role', 'separator');
  li.appendChild(makeEl('span', 'new-marker-label', t('newSince')));
  first.before(li);
  // Many new ones: start at the first of them, not at the bottom.
  if (li.offsetTop < ui.messages.scrollTop) li.scrollIntoView({ block: 'start' });
}

function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 48;
}

// scheduleRead tells the server, soon, that this tab has shown the room's
// newest message: when the tab is visible and the list is at its end.
export function scheduleRead() {
  if (readTimer || holdReads || !state.joined || document.hidden || !nearBottom()) return;
  if (sentRead.get(state.room) === (state.lastId || '')) return;
  readTimer = setTimeout(sendRead, READ_DELAY_MS);
}

function sendRead() {
  readTimer = null;
  if (holdReads || !state.joined || document.hidden || !nearBottom()) return;
  const room = state.room;
  const id = state.lastId || '';
  if (sentRead.get(room) === id) return;
  sentRead.set(room, id);
  request('read', id ? { room, id } : { room }).then((ack) => {
    if (!ack.ok) {
      if (sentRead.get(room) === id) sentRead.delete(room); // the next change tries again
      return;
    }
    const entry = rooms.get(room) || { count: 0 };
    entry.read = typeof ack.read === 'string' ? ack.read : id;
    entry.unread = Number.isInteger(ack.unread) ? ack.unread : 0;
    rooms.set(room, entry);
    renderRooms();
    scheduleRead(); // what came while it was on its way
  });
}

// renderRooms shows the list: every room of the server's list and the
// room we are in, by name, each with its members and unread count.
export function renderRooms() {
  const names = new Set(rooms.keys());
  if (state.room) names.add(state.room);
  const sorted = Array.from(names).sort((a, b) => a.localeCompare(b));
  const items = [];
  for (const room of sorted) {
    const entry = rooms.get(room) || { count: 0, unread: null };
    const current = room === state.room;
    const count = current ? Math.max(state.members.size, 1) : entry.count;
    const li = makeEl('li', 'room-entry');
    const button = makeEl('button', 'room-item');
    button.type = 'button';
    button.dataset.testid = 'room-item';
    button.dataset.room = room;
    button.dataset.unread = entry.unread === null ? '' : String(entry.unread);
    if (current) button.setAttribute('aria-current', 'true');
    button.appendChild(makeEl('span', 'room-item-name', '#' + room));
    const members = makeEl('span', 'room-item-count', String(count));
    members.title = t('memberCount', count);
    button.appendChild(members);
    let label = '#' + room + ', ' + t('memberCount', count);
    if (!current && entry.unread > 0) {
      const badge = makeEl('span', 'badge', badgeText(entry.unread));
      badge.dataset.testid = 'room-badge';
      button.appendChild(badge);
      label += ', ' + t('unreadCount', badgeText(entry.unread));
    }
    button.setAttribute('aria-label', label);
    button.addEventListener('click', () => {
      if (room !== state.room) switchRoom(room);
    });
    li.appendChild(button);
    items.push(li);
  }
  // A room focused from the keyboard keeps the focus through a refresh.
  const focused = document.activeElement && ui.rooms.contains(document.activeElement) ? document.activeElement.dataset.room : null;
  ui.rooms.replaceChildren(...items);
  if (focused !== null) ui.rooms.querySelector('[data-room="' + CSS.escape(focused) + '"]')?.focus();
  ui.roomsSection.hidden = items.length === 0;
}

export function wireRooms() {
  // Whatever shows new lines, or brings the end of the list into view,
  // may have shown something new.
  new MutationObserver(scheduleRead).observe(ui.messages, { childList: true });
  ui.messages.addEventListener('scroll', scheduleRead, { passive: true });
  document.addEventListener('visibilitychange', () => {
    if (document.hidden || !state.joined) return;
    scheduleRead();
    refreshRooms();
  });
  setInterval(() => {
    if (state.joined && !state.joining && !document.hidden) refreshRooms();
  }, ROOMS_REFRESH_MS);
}
