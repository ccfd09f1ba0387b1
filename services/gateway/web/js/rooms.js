// The room list and read positions: the rooms this tab has open (each
// joined with keep on its one connection, so that their messages arrive
// live and raise their unread badges at once), the server's rooms with
// users and the user's recent rooms, with member counts and unread
// badges (the server keeps how far the session has read each room, for
// every tab and device); opening the rooms again after a reload or a
// reconnect, leaving one; telling the server what this tab has shown;
// and the "new messages" marker between what was read and what is new.

import { MAX_UNREAD } from './limits.js';
import { makeEl, showError, ui } from './dom.js';
import { TRANSIENT } from './errors.js';
import { state } from './state.js';
import { request } from './socket.js';
import { switchRoom } from './commands.js';
import { t } from './i18n.js';

// The list is asked again this often while the tab is visible, for what
// no event tells this connection: the member counts of rooms it is not
// in, and reads made in other tabs. The open rooms' unread counts are
// pushed: their messages come live. A test may set
// window.natterConfig.roomsRefreshMs before the page loads.
const ROOMS_REFRESH_MS = Number(window.natterConfig?.roomsRefreshMs) || 30000;
// A read waits this long, so that a burst of messages is one read.
const READ_DELAY_MS = 1000;
// Between tries of a room to open again that the server refused for a
// while: the join budget refills at one a second.
const REOPEN_RETRY_MS = 1100;
// A room refused for a passing reason (unavailable...) is tried this
// often before it is given up.
const REOPEN_TRIES = 5;
// The tab's open rooms (sessionStorage, as the tab's name: a reload keeps
// them, another tab has its own): {rooms: [room…] in the order opened,
// shown: the room on screen}.
const OPEN_KEY = 'natter.tab.rooms';

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

let reopening = 0; // bumped by every plain join: a reopening it started stops

// saved reads the tab's open rooms; a missing or broken entry is none.
function saved() {
  try {
    const v = JSON.parse(window.sessionStorage.getItem(OPEN_KEY) || 'null');
    if (v && Array.isArray(v.rooms)) {
      return { rooms: v.rooms.filter((r) => typeof r === 'string' && r), shown: typeof v.shown === 'string' ? v.shown : '' };
    }
  } catch (_) {
    // Unreadable: the tab starts with its one room.
  }
  return { rooms: [], shown: '' };
}

let open = saved().rooms; // the rooms this tab keeps joined, the most recently opened last

function save() {
  try {
    window.sessionStorage.setItem(OPEN_KEY, JSON.stringify({ rooms: open, shown: state.room || '' }));
  } catch (_) {
    // Not fatal: a reload opens only the shown room.
  }
}

// shownRoom is the room this tab showed before a reload; '' for none.
export function shownRoom() {
  return saved().shown;
}

// isOpen says whether room is one of the tab's open rooms.
export function isOpen(room) {
  return open.includes(room);
}

function addOpen(room) {
  open = open.filter((r) => r !== room);
  open.push(room);
}

function dropOpen(room) {
  open = open.filter((r) => r !== room);
  save();
}

// roomOpened follows a join's ack in room, shown: a join with keep adds
// it to the tab's open rooms; a plain one (the connection is in it alone)
// from the join form makes it the only one, and one on (re)connect opens
// the tab's other rooms again, in the background.
export function roomOpened(room, keep, auto) {
  if (!keep && !auto) open = [];
  addOpen(room);
  save();
  if (!keep) reopen(++reopening);
}

function later(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// reopen joins, with keep, the open rooms the connection is not in, one
// at a time: past the join budget's burst, each waits for its token
// (rate_limited is tried again). A room the server will not have (too
// many rooms, a bad name) leaves the list, with a word why.
async function reopen(seq) {
  const current = () => seq === reopening && state.joined;
  for (const room of open.slice()) {
    if (room === state.room) continue;
    for (let tries = 0; ; tries++) {
      if (!current() || !open.includes(room)) return;
      const ack = await request('join', { room, keep: true });
      if (!current()) return;
      if (ack.ok) break;
      const code = ack.error.code;
      if (code === 'disconnected') return; // the next connection opens them
      if (code === 'rate_limited' || (TRANSIENT.has(code) && tries < REOPEN_TRIES)) {
        await later(REOPEN_RETRY_MS * (code === 'rate_limited' ? 1 : tries + 1));
        continue;
      }
      dropOpen(room);
      showError(ui.roomSwitchError, roomError(ack.error, room));
      break;
    }
  }
  // The counts as they are now that every room is open: after the list
  // that may be on its way, asked before.
  if (current()) (refreshing || Promise.resolve()).then(() => refreshRooms());
}

// roomError is the page's word for a join of room the server refused.
export function roomError(err, room) {
  return err.code === 'too_many_rooms' ? { code: err.code, message: t('tooManyRooms', room) } : err;
}

// leaveRoom leaves one of the tab's open rooms (never the last one: the
// list offers no leave for it); the shown one gives way to the room
// opened before it.
function leaveRoom(room) {
  if (open.length < 2 || !state.joined) return;
  request('leave room', { room }).then((ack) => {
    if (!ack.ok && ack.error.code !== 'not_in_room') {
      showError(ui.roomSwitchError, ack.error);
      return;
    }
    dropOpen(room);
    const entry = rooms.get(room);
    if (entry && entry.count > 0) entry.count--;
    renderRooms();
    if (room !== state.room) return;
    const left = ack.ok && Array.isArray(ack.rooms) ? ack.rooms.filter((r) => open.includes(r)) : [];
    const next = left.length > 0 ? left[left.length - 1] : open[open.length - 1];
    if (next) switchRoom(next);
  });
}

// countUnread follows a message of an open room not shown: one more
// unread, at once.
export function countUnread(room) {
  if (!open.includes(room)) return;
  const entry = rooms.get(room) || { count: 0, read: '', unread: null };
  entry.unread = Math.min((entry.unread || 0) + 1, MAX_UNREAD);
  rooms.set(room, entry);
  renderRooms();
}

// countMember follows a join (by 1) or a leave (by -1) in an open room
// not shown.
export function countMember(room, by) {
  const entry = rooms.get(room);
  if (!entry || !open.includes(room)) return;
  entry.count = Math.max(entry.count + by, 1); // we are in it
  renderRooms();
}

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

// flushRead sends at once the read that is waiting: the room is about to
// give way to another.
export function flushRead() {
  if (!readTimer) return;
  clearTimeout(readTimer);
  sendRead();
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
// tab's open rooms, by name, each with its members and unread count, and
// a leave button on each open room while there are two or more.
export function renderRooms() {
  const names = new Set(rooms.keys());
  for (const room of open) names.add(room);
  if (state.room) names.add(state.room);
  const sorted = Array.from(names).sort((a, b) => a.localeCompare(b));
  const items = sorted.map(roomEntry);
  // A room focused from the keyboard keeps the focus through a refresh.
  const focused = document.activeElement && ui.rooms.contains(document.activeElement) ? document.activeElement : null;
  const focusedRoom = focused ? focused.dataset.room : null;
  const focusedLeave = focused ? focused.classList.contains('room-leave') : false;
  ui.rooms.replaceChildren(...items);
  if (focusedRoom !== null && focusedRoom !== undefined) {
    const at = '[data-room="' + CSS.escape(focusedRoom) + '"]';
    (focusedLeave && ui.rooms.querySelector('.room-leave' + at) || ui.rooms.querySelector('.room-item' + at))?.focus();
  }
  ui.roomsSection.hidden = items.length === 0;
}

function roomEntry(room) {
  const entry = rooms.get(room) || { count: 0, unread: null };
  const current = room === state.room;
  const isOpen = open.includes(room) || current;
  const count = current ? Math.max(state.members.size, 1) : entry.count;
  const li = makeEl('li', isOpen ? 'room-entry room-open' : 'room-entry');
  const button = makeEl('button', 'room-item');
  button.type = 'button';
  button.dataset.testid = 'room-item';
  button.dataset.room = room;
  button.dataset.unread = entry.unread === null ? '' : String(entry.unread);
  button.dataset.open = String(isOpen);
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
  if (isOpen && open.length > 1) {
    const leave = makeEl('button', 'room-leave', '×');
    leave.type = 'button';
    leave.dataset.testid = 'room-leave';
    leave.dataset.room = room;
    leave.title = t('leaveRoom', room);
    leave.setAttribute('aria-label', t('leaveRoom', room));
    leave.addEventListener('click', () => leaveRoom(room));
    li.appendChild(leave);
  }
  return li;
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
