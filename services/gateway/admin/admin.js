// The natter admin page. It keeps the admin key in this tab's
// sessionStorage and sends it as "Authorization: Bearer <key>" to the
// JSON routes under /admin/api/ (no cookie). Every name and room is put
// in the page as text (textContent), never as HTML: the CSP's Trusted
// Types would refuse an HTML sink anyway.

const keyName = 'natter.admin.key';
const refreshMs = 2000;
const membersPage = 50; // members a page
const $ = (id) => document.getElementById(id);

let timer = 0;
let loop = 0; // the refresh loop running: a login or logout starts another
let selectedRoom = '';
let membersPages = 0; // pages of the selected room shown; refreshed while 1
let membersSeq = 0; // the latest members request: an older answer is dropped
let lastReadings = new Map(); // gateway id: its previous stats, for rates

const muteSeconds = 600; // the page's mute and ban: 10 minutes

// memberActions make a member's buttons, each confirmed by a second click.
// MODERATION: mute, kick and ban are the server API's operations, in the
// selected room, by "admin".
const memberActions = [
  (m) => actionButton(m.username, 'mute', 'Mute 10 min', () => moderate('mute', m, muteSeconds)),
  (m) => actionButton(m.username, 'kick', 'Kick', () => moderate('kick', m)),
  (m) => actionButton(m.username, 'ban', 'Ban 10 min', () => moderate('ban', m, muteSeconds)),
  (m) => actionButton(m.username, 'disconnect', 'Disconnect', () => api('disconnect', { method: 'POST', body: { user: m.username } })),
];

function moderate(action, member, seconds) {
  const body = { room: selectedRoom, username: member.username, by: 'admin' };
  if (seconds) body.seconds = seconds;
  return api(action, { method: 'POST', body });
}

class Unauthorized extends Error {}

async function api(route, { method = 'GET', body, query } = {}) {
  const key = sessionStorage.getItem(keyName);
  if (!key) throw new Unauthorized();
  const url = new URL('/admin/api/' + route, location.origin);
  for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, v);
  const res = await fetch(url, {
    method,
    headers: { Authorization: 'Bearer ' + key, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    cache: 'no-store',
    credentials: 'omit',
  });
  if (res.status === 401) throw new Unauthorized();
  const data = await res.json();
  if (!res.ok || data.ok === false) {
    throw new Error(data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${res.status}`);
  }
  return data;
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'testid') e.dataset.testid = v;
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function status(text) { $('status').textContent = text; }

function showLogin(error) {
  loop++;
  clearTimeout(timer);
  sessionStorage.removeItem(keyName);
  $('dashboard').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = error || '';
  $('key').focus();
}

function showDashboard() {
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('logout').hidden = false;
  refresh(++loop);
}

function rate(now, before, field) {
  if (!before || now.ts <= before.ts) return '–';
  return ((now[field] - before[field]) * 1000 / (now.ts - before.ts)).toFixed(1);
}

function renderGateways(reply) {
  const rows = [];
  const total = { websocket: 0, polling: 0, joined: 0, rooms: 0, messagesIn: 0 };
  let inRate = 0, outRate = 0;
  const readings = new Map();
  for (const g of reply.gateways) {
    const before = lastReadings.get(g.gateway);
    const ws = g.transports.websocket || 0, poll = g.transports.polling || 0;
    const rin = rate(g, before, 'messagesIn'), rout = rate(g, before, 'messagesOut');
    rows.push(el('tr', { dataset: { gateway: g.gateway } },
      el('td', {}, g.gateway), el('td', { testid: 'websocket' }, ws), el('td', { testid: 'polling' }, poll),
      el('td', { testid: 'joined' }, g.joined), el('td', {}, g.rooms), el('td', {}, rin), el('td', {}, rout), el('td', { testid: 'messages-in' }, g.messagesIn)));
    total.websocket += ws; total.polling += poll; total.joined += g.joined; total.rooms += g.rooms;
    total.messagesIn += g.messagesIn;
    if (rin !== '–') inRate += Number(rin);
    if (rout !== '–') outRate += Number(rout);
    readings.set(g.gateway, g);
  }
  lastReadings = readings;
  $('gateways').replaceChildren(...rows);
  $('totals').replaceChildren(
    el('td', {}, `all ${reply.gateways.length}`), el('td', { testid: 'total-websocket' }, total.websocket),
    el('td', { testid: 'total-polling' }, total.polling), el('td', {}, total.joined), el('td', {}, total.rooms),
    el('td', { testid: 'total-in-rate' }, inRate.toFixed(1)), el('td', {}, outRate.toFixed(1)),
    el('td', { testid: 'total-messages-in' }, total.messagesIn));
  $('missing').hidden = reply.missing.length === 0;
  $('missing').textContent = reply.missing.length ? 'Not answering: ' + reply.missing.join(', ') : '';
}

function renderRooms(reply) {
  const rooms = [...reply.rooms].sort((a, b) => a.room.localeCompare(b.room));
  $('rooms').replaceChildren(...rooms.map((r) => {
    const b = el('button', { type: 'button', dataset: { room: r.room } }, el('span', {}, r.room), el('span', {}, r.count));
    b.dataset.testid = 'room';
    b.setAttribute('aria-current', String(r.room === selectedRoom));
    b.addEventListener('click', () => selectRoom(r.room));
    return el('li', {}, b);
  }));
}

// actionButton makes a button that runs an action on who (a member's
// name, or a message's id for delete), once confirmed.
function actionButton(who, name, label, run) {
  const dataset = name === 'delete' ? { id: who } : { user: who };
  const b = el('button', { type: 'button', className: 'danger', testid: name, dataset }, label);
  // A second click within 3 s confirms (no dialog).
  let disarm = 0;
  b.addEventListener('click', async () => {
    if (b.dataset.armed !== 'true') {
      b.dataset.armed = 'true';
      b.textContent = 'Confirm';
      disarm = setTimeout(() => { b.dataset.armed = 'false'; b.textContent = label; }, 3000);
      return;
    }
    clearTimeout(disarm);
    b.dataset.armed = 'false';
    b.disabled = true;
    try {
      await run();
      status(`${label}: ${who}, done.`);
      loadMembers(false).catch(handle);
      loadModeration().catch(handle);
      loadMessages().catch(handle);
    } catch (e) {
      handle(e);
      b.textContent = label;
      b.disabled = false;
    }
  });
  return b;
}

// loadModeration lists the selected room's recent moderation actions.
async function loadModeration() {
  if (!selectedRoom) return;
  const room = selectedRoom;
  const reply = await api('moderation', { method: 'POST', body: { room, limit: 20 } });
  if (room !== selectedRoom) return;
  $('moderation').replaceChildren(...reply.actions.map((a) => {
    const until = a.until ? ` until ${new Date(a.until).toLocaleTimeString()}` : '';
    const reason = a.reason ? ` (${a.reason})` : '';
    const message = a.messageId ? ` (message ${a.messageId})` : '';
    return el('li', { dataset: { action: a.action } },
      `${new Date(a.ts).toLocaleTimeString()} ${a.by}: ${a.action} ${a.username}${until}${reason}${message}`);
  }));
}

// loadMessages lists the selected room's newest messages (the server
// API's history), each with a delete button: the API's delete, by "admin".
// The refresh's reloads (auto) wait while a delete is to be confirmed.
async function loadMessages(auto = false) {
  if (!selectedRoom) return;
  if (auto && $('messages').querySelector('[data-armed="true"]')) return;
  const room = selectedRoom;
  const reply = await api('history', { method: 'POST', body: { room, limit: 20 } });
  if (room !== selectedRoom) return;
  $('messages').replaceChildren(...reply.messages.slice().reverse().map((m) => {
    const text = m.deleted ? `(deleted${m.deletedBy ? ' by ' + m.deletedBy : ''})` : m.message;
    const item = el('li', { dataset: { id: m.id, deleted: String(!!m.deleted) }, testid: 'message' },
      el('span', { className: 'name' }, m.username), ' ', el('span', { testid: 'message-text' }, text));
    if (!m.deleted) {
      item.append(actionButton(m.id, 'delete', 'Delete', () => api('delete', { method: 'POST', body: { room, id: m.id, by: 'admin' } })));
    }
    return item;
  }));
}

function memberItem(m) {
  const swatch = el('span', { className: 'swatch' });
  if (/^#[0-9a-fA-F]{6}$/.test(m.color)) swatch.style.backgroundColor = m.color;
  return el('li', { dataset: { user: m.username } }, swatch, el('span', { className: 'name', testid: 'member' }, m.username),
    ...memberActions.map((make) => make(m)));
}

// loadMembers shows the selected room's first page, or its next (more).
// The refresh's reloads (auto) wait while a disconnect is to be confirmed.
async function loadMembers(more, auto = false) {
  if (!selectedRoom) return;
  if (auto && $('members').querySelector('[data-armed="true"]')) return;
  const room = selectedRoom;
  const list = $('members');
  const after = more ? list.lastElementChild?.dataset.user || '' : '';
  const query = { room, limit: membersPage };
  if (after) query.after = after;
  const seq = ++membersSeq;
  if (more) membersPages++; // at once: the refresh stops reloading the first page
  const reply = await api('members', { query });
  if (room !== selectedRoom || seq !== membersSeq) return;
  const items = reply.members.map(memberItem);
  if (more) list.append(...items); else { list.replaceChildren(...items); membersPages = 1; }
  $('members-count').textContent = `${reply.memberCount} online`;
  $('members-more').hidden = !reply.more;
}

function selectRoom(room) {
  selectedRoom = room;
  $('members-room').textContent = room;
  $('moderation-room').textContent = room;
  $('messages-room').textContent = room;
  for (const b of $('rooms').querySelectorAll('button')) b.setAttribute('aria-current', String(b.dataset.room === room));
  loadMembers(false).catch(handle);
  loadModeration().catch(handle);
  loadMessages().catch(handle);
}

function handle(e) {
  if (e instanceof Unauthorized) showLogin('The key was refused.');
  else status(String(e.message || e));
}

async function refresh(gen) {
  clearTimeout(timer);
  try {
    const [gws, rooms] = await Promise.all([api('gateways'), api('rooms')]);
    renderGateways(gws);
    renderRooms(rooms);
    if (membersPages <= 1) await loadMembers(false, true);
    await loadMessages(true);
    status(`Updated ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    if (gen !== loop) return; // a loop that a login or logout ended
    handle(e);
    if (e instanceof Unauthorized) return;
  }
  if (gen === loop) timer = setTimeout(() => refresh(gen), refreshMs);
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = $('key').value;
  if (!key) return;
  sessionStorage.setItem(keyName, key);
  $('key').value = '';
  showDashboard();
});
$('logout').addEventListener('click', () => showLogin(''));
$('members-more').addEventListener('click', () => loadMembers(true).catch(handle));

if (sessionStorage.getItem(keyName)) showDashboard(); else showLogin('');
