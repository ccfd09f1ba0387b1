// natter browser client.
//
// Plain script, no build step. It talks to the gateway through the official
// Socket.IO client (loaded from /socket.io/socket.io.js) and never inserts
// user data as HTML: every name and message goes in through textContent.
// The only global it defines is window.natter, for debugging and tests.
(function () {
  'use strict';

  const TOKEN_KEY = 'natter.token';
  const NAME_KEY = 'natter.name';
  const ROOM_KEY = 'natter.room';
  const DEFAULT_ROOM = 'lobby';
  const MAX_MESSAGE_CHARS = 2000;
  const COUNTER_FROM = 1800; // show the character counter from here on
  const ACK_TIMEOUT_MS = 10000;
  const TYPING_IDLE_MS = 1500; // send typing off after this long without keystrokes
  const TYPING_REFRESH_MS = 2000; // repeat typing on this often while typing goes on
  const TYPING_EXPIRE_MS = 3000; // hide someone's typing after this long without news
  const REJOIN_DELAYS_MS = [1000, 2000, 5000, 10000, 30000];
  // Between tries to load the history a join came without.
  const HISTORY_RETRY_MS = [1000, 2000, 5000, 10000, 30000];
  const TRANSIENT = new Set(['unavailable', 'unknown_outcome', 'internal', 'rate_limited', 'timeout', 'disconnected']);
  // Between resends of a message whose ack said unknown_outcome (the server
  // could not tell whether it was stored): under the same clientId, it is
  // stored once either way.
  const UNKNOWN_OUTCOME_RETRY_MS = [500, 1000, 2000, 5000];

  const FALLBACK_ERRORS = {
    invalid_name: 'A name is 1 to 32 letters, digits, spaces, _ or -.',
    name_taken: 'That name is taken; pick another.',
    invalid_room: 'A room name is 1 to 32 letters, digits, _ or -.',
    invalid_message: 'That message cannot be sent.',
    message_too_long: 'A message is at most ' + MAX_MESSAGE_CHARS + ' characters.',
    not_joined: 'Join a room first.',
    no_such_user: 'No such user is online.',
    rate_limited: 'Too many messages; slow down.',
    unavailable: 'The service is unavailable; try again.',
    unknown_outcome: 'Not known whether it was sent; try again.',
    bad_request: 'The server did not understand the request.',
    internal: 'Something went wrong on the server.',
    timeout: 'The server did not answer in time.',
    disconnected: 'The connection was lost.',
  };

  // ---- elements ----

  const byId = (id) => document.getElementById(id);
  const ui = {
    status: byId('status'),
    statusText: byId('status-text'),
    reconnectButton: byId('reconnect-button'),
    signoutButton: byId('signout-button'),
    roomName: document.querySelector('[data-testid="room-name"]'),
    joinView: byId('join-view'),
    joinForm: byId('join-form'),
    nameInput: byId('name-input'),
    roomInput: byId('room-input'),
    joinError: byId('join-error'),
    joinButton: byId('join-button'),
    chatView: byId('chat-view'),
    messages: byId('messages'),
    jumpButton: byId('jump-button'),
    typing: byId('typing'),
    composer: byId('composer'),
    messageInput: byId('message-input'),
    sendButton: byId('send-button'),
    sendError: byId('send-error'),
    counter: byId('counter'),
    members: byId('members'),
    memberCount: byId('member-count'),
    roomSwitch: byId('room-switch'),
    roomSwitchInput: byId('room-switch-input'),
    roomSwitchButton: byId('room-switch-button'),
    roomSwitchError: byId('room-switch-error'),
  };

  // ---- storage (localStorage may be unavailable or full) ----

  const store = {
    get(key) {
      try {
        return window.localStorage.getItem(key);
      } catch (_) {
        return null;
      }
    },
    set(key, value) {
      try {
        if (value === null || value === undefined || value === '') {
          window.localStorage.removeItem(key);
        } else {
          window.localStorage.setItem(key, String(value));
        }
      } catch (_) {
        // Not fatal: the session just won't survive a reload.
      }
    },
  };

  // ---- state ----

  const state = {
    connection: 'connecting', // connecting | connected | reconnecting | disconnected
    transport: null, // polling | websocket
    attempt: 0, // reconnection attempt
    view: 'join', // join | chat
    joined: false, // the server has acked our join on this connection
    joining: false,
    joinSeq: 0, // bumped by every join and disconnect; stale acks are ignored
    joiningRoom: null,
    username: null,
    color: null,
    room: null,
    token: store.get(TOKEN_KEY),
    desired: null, // {username, room} to (re)join on connect; null at the join form
    members: new Map(), // username → colour
    seen: new Set(), // ids of messages and whispers in the list
    lastId: null, // id of the newest message seen
    lastTs: 0,
    pending: new Map(), // clientId → outgoing message or whisper awaiting its ack
    typingUsers: new Map(), // username → expiry timer
    early: [], // messages for the room being joined that came before the join ack
    lostConnection: false,
    rejoinTimer: null,
    historyTimer: null, // the next try to load history a join came without
    rejoinAttempt: 0,
    unread: 0,
  };

  // ---- small helpers ----

  function makeEl(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function charCount(s) {
    let n = 0;
    for (const _ of s) n++; // code points, as the server counts
    return n;
  }

  function sameText(a, b) {
    return String(a).normalize('NFC').trim() === String(b).normalize('NFC').trim();
  }

  function safeColor(c) {
    if (typeof c !== 'string' || c.length > 64) return '';
    return window.CSS && CSS.supports && CSS.supports('color', c) ? c : '';
  }

  function paint(node, color) {
    const c = safeColor(color);
    if (c) node.style.color = c; // CSSOM, allowed by the CSP
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

  function capitalize(s) {
    return s ? s.charAt(0).toUpperCase() + s.slice(1) : s;
  }

  function toError(ack) {
    const e = ack && typeof ack === 'object' ? ack.error : null;
    if (e && typeof e === 'object' && typeof e.code === 'string') {
      const msg = typeof e.message === 'string' && e.message.trim() ? e.message : FALLBACK_ERRORS[e.code];
      return { code: e.code, message: capitalize(msg || 'Error: ' + e.code) };
    }
    if (typeof e === 'string') return { code: 'internal', message: capitalize(e) };
    return { code: 'internal', message: 'Unexpected answer from the server.' };
  }

  function localError(code, message) {
    return { code, message: message || FALLBACK_ERRORS[code] || code };
  }

  function showError(node, err) {
    if (!err) {
      node.hidden = true;
      node.textContent = '';
      delete node.dataset.code;
      return;
    }
    node.textContent = err.message;
    node.dataset.code = err.code;
    node.hidden = false;
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const dayTimeFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

  function validTs(ts) {
    return typeof ts === 'number' && Number.isFinite(ts) && ts > 0 ? ts : Date.now();
  }

  function timeEl(ts) {
    const d = new Date(ts);
    const t = makeEl('time', 'ts');
    const today = new Date();
    t.textContent = d.toDateString() === today.toDateString() ? timeFormat.format(d) : dayTimeFormat.format(d);
    t.dateTime = d.toISOString();
    t.title = fullFormat.format(d);
    return t;
  }

  // ---- requests with acks ----

  const outstanding = new Set(); // resolvers of requests awaiting acks

  // request emits event with payload and resolves with the ack, or with
  // {ok:false, error} on an error ack, a timeout or a lost connection. It
  // never emits while disconnected: the Socket.IO client would buffer the
  // packet and send it after the next connect, before we have re-joined.
  function request(event, payload, timeoutMs) {
    return new Promise((resolve) => {
      if (!socket.connected) {
        resolve({ ok: false, error: localError('disconnected') });
        return;
      }
      let done = false;
      const finish = (result) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        outstanding.delete(finish);
        resolve(result);
      };
      const timer = setTimeout(() => finish({ ok: false, error: localError('timeout') }), timeoutMs || ACK_TIMEOUT_MS);
      outstanding.add(finish);
      socket.emit(event, payload, (ack) => {
        finish(ack && typeof ack === 'object' && ack.ok === true ? ack : { ok: false, error: toError(ack) });
      });
    });
  }

  function failOutstanding() {
    for (const finish of Array.from(outstanding)) finish({ ok: false, error: localError('disconnected') });
  }

  // ---- the socket ----

  if (typeof window.io !== 'function') {
    ui.status.dataset.state = 'disconnected';
    ui.statusText.textContent = 'Could not load the Socket.IO client';
    ui.joinButton.disabled = true;
    showError(ui.joinError, localError('unavailable', 'The chat client could not load. Reload the page to try again.'));
    return;
  }

  // WebSocket first: it needs no sticky sessions behind a balancer. Where it
  // cannot open (a proxy that blocks upgrades), the client falls back to
  // HTTP long-polling (tryAllTransports).
  const socket = window.io({ transports: ['websocket', 'polling'], tryAllTransports: true });
  const watchedEngines = new WeakSet();

  function watchEngine() {
    const engine = socket.io.engine;
    if (!engine || watchedEngines.has(engine)) return;
    watchedEngines.add(engine);
    engine.on('upgrade', (transport) => {
      state.transport = transport && transport.name ? transport.name : engine.transport.name;
      renderStatus();
    });
  }

  socket.io.on('open', watchEngine);

  socket.on('connect', () => {
    watchEngine();
    state.connection = 'connected';
    state.attempt = 0;
    state.transport = socket.io.engine && socket.io.engine.transport ? socket.io.engine.transport.name : null;
    renderStatus();
    if (socket.recovered && state.view === 'chat' && state.desired) {
      // The server restored our connection (Socket.IO's connection state
      // recovery): still joined, and what we missed follows as events.
      state.joined = true;
      if (state.lostConnection) addSystem('Reconnected.');
      state.lostConnection = false;
      requestMembers();
      renderControls();
      flushQueued();
      return;
    }
    if (state.desired) join(state.desired, { auto: true });
  });

  socket.on('disconnect', (reason) => {
    state.joinSeq++; // acks of this connection are void
    state.joined = false;
    state.joining = false;
    state.joiningRoom = null;
    state.transport = null;
    clearTimeout(state.rejoinTimer);
    failOutstanding();
    stopOwnTyping(false);
    clearTyping();
    if (socket.active) {
      state.connection = 'reconnecting';
      if (state.view === 'chat' && !state.lostConnection) {
        addSystem('Connection lost. Reconnecting…', 'system-error');
      }
      state.lostConnection = true;
    } else {
      state.connection = 'disconnected';
      if (state.view === 'chat' && reason === 'io server disconnect') {
        addSystem('The server closed the connection.', 'system-error');
      }
    }
    if (state.view === 'join') setJoinBusy(false);
    renderStatus();
    renderControls();
  });

  socket.on('connect_error', () => {
    if (!socket.active) {
      state.connection = 'disconnected';
      setJoinBusy(false);
    } else if (state.connection !== 'reconnecting') {
      state.connection = state.attempt > 0 ? 'reconnecting' : 'connecting';
    }
    renderStatus();
  });

  socket.io.on('reconnect_attempt', (n) => {
    state.attempt = n;
    state.connection = 'reconnecting';
    renderStatus();
  });

  socket.io.on('reconnect_failed', () => {
    state.connection = 'disconnected';
    renderStatus();
  });

  function renderStatus() {
    const s = ui.status;
    s.dataset.state = state.connection;
    if (state.transport && state.connection === 'connected') s.dataset.transport = state.transport;
    else delete s.dataset.transport;
    let text;
    switch (state.connection) {
      case 'connected':
        text = 'Connected' + (state.transport ? ' · ' + state.transport : '');
        break;
      case 'reconnecting':
        text = state.attempt > 0 ? 'Reconnecting (attempt ' + state.attempt + ')…' : 'Reconnecting…';
        break;
      case 'disconnected':
        text = 'Disconnected';
        break;
      default:
        text = 'Connecting…';
    }
    ui.statusText.textContent = text;
    ui.reconnectButton.hidden = state.connection !== 'disconnected';
  }

  // ---- joining ----

  function normalizeName(s) {
    return String(s).normalize('NFC').trim();
  }

  function normalizeRoom(s) {
    return String(s).normalize('NFC').trim() || DEFAULT_ROOM;
  }

  function setJoinBusy(busy, label) {
    ui.joinButton.disabled = busy;
    ui.joinButton.textContent = busy ? label || 'Joining…' : 'Join';
    ui.joinForm.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  // join asks the server to put this connection in target.room as
  // target.username. opts.auto: on (re)connect; opts.switching: a room change
  // while joined.
  function join(target, opts) {
    opts = opts || {};
    clearTimeout(state.rejoinTimer);
    const seq = ++state.joinSeq;
    const payload = { username: target.username, room: target.room || DEFAULT_ROOM };
    // The token proves we are the earlier holder of this name.
    if (state.token && store.get(NAME_KEY) === target.username) payload.token = state.token;
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
    state.room = typeof ack.room === 'string' && ack.room ? ack.room : payload.room;
    if (typeof ack.token === 'string' && ack.token) state.token = ack.token;
    store.set(TOKEN_KEY, state.token);
    store.set(NAME_KEY, state.username);
    store.set(ROOM_KEY, state.room);
    state.desired = { username: state.username, room: state.room };
    state.joined = true;
    state.rejoinAttempt = 0;

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
      addSystem('You joined #' + state.room + ' as ' + state.username + '.');
    } else if (gap) {
      addSystem('Reconnected. Older messages are no longer available; showing the newest.', 'system-error');
    } else if (state.lostConnection) {
      addSystem('Reconnected.');
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
    for (const m of state.early) if (m.room === state.room) renderChatMessage(m, false);
    state.early = [];
    clearTimeout(state.historyTimer);
    if (ack.historyError) {
      // Joined, but history did not answer: what came before, and what we
      // missed while away, is loaded as soon as it does.
      addSystem('The room\'s history could not be loaded; trying again…', 'system-error');
      loadMissedHistory(state.room, 0);
    }
    ui.messages.setAttribute('aria-busy', 'false');
    if (roomChanged) scrollToBottom();

    if (!roomChanged) flushQueued();
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
      request('history', { room, limit: 100 }).then((ack) => {
        if (!state.joined || state.room !== room) return;
        if (!ack.ok || !Array.isArray(ack.messages)) {
          loadMissedHistory(room, attempt + 1);
          return;
        }
        const messages = ack.messages.slice();
        messages.sort((a, b) => validTs(a && a.ts) - validTs(b && b.ts));
        for (const m of messages) renderChatMessage(m, true);
        addSystem('The room\'s history is loaded.');
      });
    }, delay);
  }

  function onJoinFailed(err, payload, opts) {
    if (opts.switching) {
      // Still in the old room.
      showError(ui.roomSwitchError, err);
      ui.roomSwitchInput.focus();
      return;
    }
    if (opts.auto && TRANSIENT.has(err.code) && socket.connected) {
      const delay = REJOIN_DELAYS_MS[Math.min(state.rejoinAttempt, REJOIN_DELAYS_MS.length - 1)];
      state.rejoinAttempt++;
      const note = err.message + ' Retrying in ' + Math.round(delay / 1000) + ' s…';
      if (state.view === 'chat') addSystem(note, 'system-error');
      else {
        showError(ui.joinError, { code: err.code, message: note });
        setJoinBusy(true, 'Retrying…');
      }
      state.rejoinTimer = setTimeout(() => {
        if (state.desired && socket.connected && !state.joined) join(state.desired, opts);
      }, delay);
      return;
    }
    // Back to the form with the server's word on it.
    if (err.code === 'name_taken' || err.code === 'invalid_name') {
      state.token = null;
      store.set(TOKEN_KEY, null);
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
    ui.roomName.hidden = false;
    ui.roomName.textContent = '#' + state.room;
    ui.roomName.title = 'Signed in as ' + state.username;
    ui.messageInput.placeholder = 'Message #' + state.room;
    setJoinBusy(false);
    showError(ui.joinError, null);
    renderTitle();
  }

  ui.joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (state.joining) return;
    const username = normalizeName(ui.nameInput.value);
    const room = normalizeRoom(ui.roomInput.value);
    if (!username) {
      showError(ui.joinError, localError('invalid_name', 'Please enter a name.'));
      ui.nameInput.focus();
      return;
    }
    if (store.get(NAME_KEY) !== username) state.token = null; // the token belongs to another name
    state.desired = { username, room };
    state.rejoinAttempt = 0;
    showError(ui.joinError, null);
    if (socket.connected) {
      setJoinBusy(true);
      join(state.desired, { auto: false });
    } else {
      // The connect handler joins as soon as the connection is up.
      setJoinBusy(true, 'Waiting for connection…');
      if (!socket.active) socket.connect();
    }
  });

  ui.reconnectButton.addEventListener('click', () => {
    state.connection = 'connecting';
    renderStatus();
    socket.connect();
  });

  // Change name: forget the session and start over on a new connection, so
  // the server lets go of the old name.
  ui.signoutButton.addEventListener('click', () => {
    const name = state.username;
    state.desired = null;
    state.token = null;
    store.set(TOKEN_KEY, null);
    store.set(NAME_KEY, null);
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

  // ---- the room ----

  function clearRoom() {
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

  function renderTitle() {
    const base = state.room ? '#' + state.room + ' · natter' : 'natter';
    document.title = state.unread > 0 ? '(' + state.unread + ') ' + base : base;
  }

  function isNearBottom() {
    const m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 48;
  }

  function scrollToBottom() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
    ui.jumpButton.hidden = true;
  }

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

  // insert puts li in the list in timestamp order (nearly always at the end)
  // and keeps the view pinned to the bottom when it was there.
  function insert(li, ts, opts) {
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

  function addSystem(text, extraClass) {
    const ts = Date.now();
    const li = makeEl('li', 'system' + (extraClass ? ' ' + extraClass : ''));
    li.dataset.testid = 'system';
    li.appendChild(timeEl(ts));
    li.appendChild(makeEl('span', 'body', text));
    insert(li, ts, { quiet: true });
    return li;
  }

  function addNotice(username, color, verb) {
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

  function isChatMessage(m) {
    return m && typeof m === 'object' && typeof m.message === 'string' && typeof m.username === 'string';
  }

  function buildMessage(kind, fields) {
    const li = makeEl('li', kind === 'whisper' ? 'msg whisper' : 'msg');
    li.dataset.testid = kind;
    li.appendChild(timeEl(fields.ts));
    const body = makeEl('div', 'body');
    if (kind === 'whisper') {
      const label = makeEl('span', 'whisper-label');
      label.appendChild(makeEl('span', 'whisper-tag', 'whisper'));
      const from = makeEl('span', 'whisper-from', fields.from);
      paint(from, state.members.get(fields.from));
      const to = makeEl('span', 'whisper-to', fields.to);
      paint(to, state.members.get(fields.to));
      label.appendChild(from);
      label.appendChild(document.createTextNode(' → '));
      label.appendChild(to);
      label.appendChild(document.createTextNode(':'));
      body.appendChild(label);
      li.setAttribute('aria-label', 'Whisper from ' + fields.from + ' to ' + fields.to);
      li.dataset.from = fields.from;
      li.dataset.to = fields.to;
    } else {
      const author = makeEl('span', 'author', fields.username);
      paint(author, fields.color);
      body.appendChild(author);
      li.dataset.username = fields.username;
      if (fields.username === state.username) li.classList.add('mine');
    }
    body.appendChild(makeEl('span', 'text', fields.message));
    li.appendChild(body);
    if (fields.id) li.dataset.id = fields.id;
    li.dataset.state = fields.pendingState || 'sent';
    return li;
  }

  function markSeen(id, ts, isChat) {
    if (!id) return;
    state.seen.add(id);
    if (isChat && ts >= state.lastTs) {
      state.lastTs = ts;
      state.lastId = id;
    }
  }

  function renderChatMessage(m, fromHistory) {
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
    const li = buildMessage('message', { id, ts, username: m.username, color: m.color, message: m.message });
    markSeen(id, ts, true);
    insert(li, ts, { quiet: fromHistory });
    if (!fromHistory) dropTyping(m.username);
  }

  function renderWhisper(w) {
    if (!w || typeof w !== 'object' || typeof w.message !== 'string' || typeof w.from !== 'string') return;
    const id = typeof w.id === 'string' || typeof w.id === 'number' ? String(w.id) : '';
    if (id && state.seen.has(id)) return;
    const ts = validTs(w.ts);
    const to = typeof w.to === 'string' ? w.to : state.username || '';
    const li = buildMessage('whisper', { id, ts, from: w.from, to, message: w.message });
    markSeen(id, ts, false);
    insert(li, ts, { own: w.from === state.username });
  }

  // ---- server events ----

  socket.on('server message', (m) => {
    if (!isChatMessage(m)) return;
    if (state.joined && m.room === state.room) renderChatMessage(m, false);
    else if (state.joining && m.room === state.joiningRoom) state.early.push(m);
  });

  socket.on('whisper', (w) => {
    if (state.view === 'chat') renderWhisper(w);
  });

  socket.on('join', (n) => {
    if (!n || typeof n.username !== 'string' || !state.joined || n.room !== state.room) return;
    const known = state.members.has(n.username);
    ensureMember(n.username, n.color);
    if (!known && n.username !== state.username) addNotice(n.username, n.color, ' joined');
  });

  socket.on('leave', (n) => {
    if (!n || typeof n.username !== 'string' || !state.joined || n.room !== state.room) return;
    dropTyping(n.username);
    if (n.username === state.username) return; // another tab of ours; we are still here
    const color = state.members.get(n.username);
    if (state.members.delete(n.username)) {
      renderMembers();
      addNotice(n.username, color, ' left');
    }
  });

  socket.on('typing', (t) => {
    if (!t || typeof t.username !== 'string' || !state.joined) return;
    if (t.room !== undefined && t.room !== state.room) return;
    if (t.username === state.username) return;
    if (t.on) {
      clearTimeout(state.typingUsers.get(t.username));
      state.typingUsers.set(t.username, setTimeout(() => dropTyping(t.username), TYPING_EXPIRE_MS));
      renderTyping();
    } else {
      dropTyping(t.username);
    }
  });

  // ---- members ----

  function setMembers(list) {
    state.members.clear();
    addMembers(list);
  }

  function addMembers(list) {
    for (const m of list) {
      if (m && typeof m.username === 'string') state.members.set(m.username, m.color);
    }
    renderMembers();
  }

  function ensureMember(username, color) {
    if (!username) return;
    if (state.members.get(username) === color && state.members.has(username)) return;
    state.members.set(username, color);
    renderMembers();
  }

  // requestMembers reads the room's members a page at a time: from the
  // first, in place of the list, or from the one after the member named
  // after, added to it; then the next page, until the last.
  function requestMembers(after) {
    const room = state.room;
    request('members', after ? { room, after } : { room }).then((ack) => {
      // The members event is optional; without it the list comes from
      // the join ack and join/leave events.
      if (!ack.ok || !Array.isArray(ack.members) || room !== state.room) return;
      if (after) addMembers(ack.members);
      else setMembers(ack.members);
      ensureMember(state.username, state.color);
      const last = ack.members[ack.members.length - 1];
      if (ack.more === true && last) requestMembers(last.username);
    });
  }

  function renderMembers() {
    const names = Array.from(state.members.keys()).sort((a, b) => a.localeCompare(b));
    const items = names.map((name) => {
      const li = makeEl('li');
      const button = makeEl('button', 'member');
      button.type = 'button';
      button.dataset.testid = 'member';
      button.dataset.username = name;
      const swatch = makeEl('span', 'swatch');
      const color = safeColor(state.members.get(name));
      if (color) swatch.style.backgroundColor = color;
      swatch.setAttribute('aria-hidden', 'true');
      const label = makeEl('span', 'member-name', name);
      paint(label, color);
      button.appendChild(swatch);
      button.appendChild(label);
      if (name === state.username) {
        button.appendChild(makeEl('span', 'you', '(you)'));
        button.disabled = true;
        button.title = 'You';
      } else {
        button.title = 'Whisper to ' + name;
        button.setAttribute('aria-label', name + ', whisper');
        button.addEventListener('click', () => prefillWhisper(name));
      }
      li.appendChild(button);
      return li;
    });
    ui.members.replaceChildren(...items);
    ui.memberCount.textContent = names.length ? '(' + names.length + ')' : '';
  }

  function quoteName(name) {
    return /\s/.test(name) ? '"' + name + '"' : name;
  }

  function prefillWhisper(name) {
    const input = ui.messageInput;
    input.value = '/w ' + quoteName(name) + ' ';
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    autosize();
    updateCounter();
  }

  // ---- typing ----

  function dropTyping(username) {
    const t = state.typingUsers.get(username);
    if (t === undefined) return;
    clearTimeout(t);
    state.typingUsers.delete(username);
    renderTyping();
  }

  function clearTyping() {
    for (const t of state.typingUsers.values()) clearTimeout(t);
    state.typingUsers.clear();
    renderTyping();
  }

  function renderTyping() {
    const names = Array.from(state.typingUsers.keys());
    let text = '';
    if (names.length === 1) text = names[0] + ' is typing…';
    else if (names.length === 2) text = names[0] + ' and ' + names[1] + ' are typing…';
    else if (names.length === 3) text = names[0] + ', ' + names[1] + ' and ' + names[2] + ' are typing…';
    else if (names.length > 3) text = 'Several people are typing…';
    ui.typing.textContent = text;
  }

  const ownTyping = { on: false, lastSent: 0, idleTimer: null };

  function emitTyping(on) {
    if (!state.joined || !socket.connected) return;
    socket.emit('typing', { on });
  }

  function noteTyping() {
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

  function stopOwnTyping(notify) {
    clearTimeout(ownTyping.idleTimer);
    if (ownTyping.on && notify) emitTyping(false);
    ownTyping.on = false;
  }

  // ---- sending ----

  function renderControls() {
    const canSend = state.joined && socket.connected;
    // While the connection is being restored, what is written waits for it.
    ui.sendButton.disabled = !canSend && !canQueue();
    ui.roomSwitchButton.disabled = !canSend || state.joining;
  }

  function canQueue() {
    return state.view === 'chat' && state.lostConnection;
  }

  function autosize() {
    const t = ui.messageInput;
    t.style.height = 'auto';
    t.style.height = t.scrollHeight + 2 + 'px';
  }

  function updateCounter() {
    const n = charCount(ui.messageInput.value);
    if (n >= COUNTER_FROM) {
      ui.counter.hidden = false;
      ui.counter.textContent = n + ' / ' + MAX_MESSAGE_CHARS;
      ui.counter.classList.toggle('over', n > MAX_MESSAGE_CHARS);
    } else {
      ui.counter.hidden = true;
    }
  }

  ui.messageInput.addEventListener('input', () => {
    autosize();
    updateCounter();
    noteTyping();
  });

  ui.messageInput.addEventListener('blur', () => stopOwnTyping(true));

  ui.messageInput.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.isComposing || e.keyCode === 229) return; // an IME (Korean, …) is composing
    e.preventDefault();
    if (!ui.sendButton.disabled) ui.sendButton.click();
  });

  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!state.joined && !canQueue()) {
      showError(ui.sendError, localError('not_joined', 'Not connected to the room yet.'));
      return;
    }
    const raw = ui.messageInput.value;
    if (!raw.trim()) return;
    if (!state.joined && /^\/join(\s|$)/iu.test(raw)) {
      showError(ui.sendError, localError('not_joined', 'Not connected; change rooms once the connection is back.'));
      return;
    }
    let ok;
    if (raw.startsWith('/') && !raw.startsWith('//')) ok = runCommand(raw);
    else ok = sendChat(raw.startsWith('//') ? raw.slice(1) : raw);
    if (ok) {
      ui.messageInput.value = '';
      autosize();
      updateCounter();
      stopOwnTyping(true);
      showError(ui.sendError, null);
    }
  });

  function checkLength(text) {
    const n = charCount(text);
    if (n > MAX_MESSAGE_CHARS) {
      showError(ui.sendError, localError('message_too_long',
        'A message is at most ' + MAX_MESSAGE_CHARS + ' characters; this one has ' + n + '.'));
      return false;
    }
    return true;
  }

  function tidy(text) {
    return text.replace(/\s+$/u, '').replace(/^\n+/u, '');
  }

  function sendChat(raw) {
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
    entry.li.dataset.clientId = entry.clientId;
    setMeta(entry, 'sending…');
    state.pending.set(entry.clientId, entry);
    insert(entry.li, Date.now(), { own: true });
    if (state.joined && socket.connected) transmit(entry);
    else holdForConnection(entry);
    return true;
  }

  function sendWhisper(to, raw) {
    const text = tidy(raw);
    if (!text.trim() || !checkLength(text)) return false;
    const entry = { kind: 'whisper', clientId: newClientId(), text, to, room: state.room, li: null };
    entry.li = buildMessage('whisper', {
      ts: Date.now(), from: state.username, to, message: text, pendingState: 'pending',
    });
    entry.li.dataset.clientId = entry.clientId;
    setMeta(entry, 'sending…');
    state.pending.set(entry.clientId, entry);
    insert(entry.li, Date.now(), { own: true });
    if (state.joined && socket.connected) transmit(entry);
    else holdForConnection(entry);
    return true;
  }

  function transmit(entry) {
    entry.li.dataset.state = 'pending';
    setMeta(entry, 'sending…');
    const event = entry.kind === 'whisper' ? 'whisper' : 'client message';
    const payload = entry.kind === 'whisper'
      ? { to: entry.to, message: entry.text, clientId: entry.clientId }
      : { message: entry.text, clientId: entry.clientId };
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

  function confirmPending(entry, id, ts) {
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
      const retry = makeEl('button', 'retry', 'Retry');
      retry.type = 'button';
      retry.dataset.testid = 'retry';
      retry.addEventListener('click', () => {
        if (!state.joined) {
          showError(ui.sendError, localError('not_joined', 'Not connected to the room yet.'));
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
    addDismiss(entry, setMeta(entry, 'Not sent yet: it will go when the connection is back.'));
  }

  function addDismiss(entry, meta) {
    const dismiss = makeEl('button', 'retry', 'Dismiss');
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
  function flushQueued() {
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

  // ---- commands ----

  function runCommand(raw) {
    const m = /^\/(\S+)(?:\s+([\s\S]*))?$/u.exec(raw);
    const cmd = m ? m[1].toLowerCase() : '';
    const rest = m && m[2] ? m[2] : '';
    switch (cmd) {
      case 'w':
      case 'msg':
      case 'whisper': {
        const parsed = parseWhisper(rest);
        if (!parsed) {
          showError(ui.sendError, localError('bad_request', 'Usage: /w name message  (quote names with spaces: /w "Jo Park" hi)'));
          return false;
        }
        return sendWhisper(parsed.to, parsed.message);
      }
      case 'join': {
        const room = rest.trim();
        if (!room) {
          showError(ui.sendError, localError('bad_request', 'Usage: /join room'));
          return false;
        }
        switchRoom(room);
        return true;
      }
      case 'help':
        addSystem('Commands: /w name message — whisper; /join room — change room; //text — send text that starts with /.');
        return true;
      default:
        showError(ui.sendError, localError('bad_request',
          'Unknown command /' + cmd + '. Start with // to send a message that begins with /.'));
        return false;
    }
  }

  // parseWhisper reads `name message`; a name with spaces is quoted or
  // matches a member of the room.
  function parseWhisper(rest) {
    rest = rest.replace(/^\s+/u, '');
    if (rest.startsWith('"')) {
      const end = rest.indexOf('"', 1);
      if (end > 1) {
        const to = rest.slice(1, end).trim();
        const message = rest.slice(end + 1).replace(/^\s+/u, '');
        return to && message.trim() ? { to, message } : null;
      }
    }
    let best = '';
    for (const name of state.members.keys()) {
      if (name.length > best.length && /\s/u.test(rest.charAt(name.length)) &&
          rest.slice(0, name.length).toLowerCase() === name.toLowerCase()) {
        best = name;
      }
    }
    if (best) {
      const message = rest.slice(best.length).replace(/^\s+/u, '');
      return message.trim() ? { to: best, message } : null;
    }
    const m = /^(\S+)\s+([\s\S]*\S[\s\S]*)$/u.exec(rest);
    return m ? { to: m[1], message: m[2] } : null;
  }

  function switchRoom(raw) {
    showError(ui.roomSwitchError, null);
    const room = normalizeRoom(raw);
    if (room === state.room) {
      showError(ui.roomSwitchError, localError('invalid_room', 'You are already in #' + room + '.'));
      return;
    }
    if (!state.joined || state.joining) return;
    stopOwnTyping(true);
    join({ username: state.username, room }, { switching: true });
  }

  ui.roomSwitch.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = ui.roomSwitchInput.value;
    if (!v.trim()) {
      ui.roomSwitchInput.focus();
      return;
    }
    switchRoom(v);
    ui.roomSwitchInput.value = '';
  });

  // ---- start ----

  const savedName = store.get(NAME_KEY);
  const savedRoom = store.get(ROOM_KEY);
  ui.nameInput.value = savedName || '';
  ui.roomInput.value = savedRoom && savedRoom !== DEFAULT_ROOM ? savedRoom : '';
  if (savedName && state.token) {
    // Rejoin as before once connected; the form waits meanwhile.
    state.desired = { username: savedName, room: savedRoom || DEFAULT_ROOM };
    setJoinBusy(true, 'Rejoining…');
  } else {
    ui.nameInput.focus();
  }
  renderStatus();
  renderControls();
  renderMembers();

  window.natter = Object.freeze({ socket, state, version: 1 });
})();
