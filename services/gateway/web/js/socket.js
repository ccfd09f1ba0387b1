// The Socket.IO connection: opening it, following its state in the status
// bar, and requests that wait for their ack.

import { showError, ui } from './dom.js';
import { authError, localError, toError } from './errors.js';
import { state } from './state.js';
import { addSystem } from './room.js';
import { join, setJoinBusy } from './join.js';
import { requestMembers } from './members.js';
import { clearTyping, stopOwnTyping } from './typing.js';
import { renderControls } from './composer.js';
import { flushQueued } from './send.js';
import { t } from './i18n.js';
import { sendToken } from './auth.js';

const ACK_TIMEOUT_MS = 10000;

// socket is the connection once openSocket has made it.
export let socket = null;

const outstanding = new Set(); // resolvers of requests awaiting acks

// request emits event with payload and resolves with the ack, or with
// {ok:false, error} on an error ack, a timeout or a lost connection. It
// never emits while disconnected: the Socket.IO client would buffer the
// packet and send it after the next connect, before we have re-joined.
export function request(event, payload, timeoutMs) {
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

// openSocket connects with io, the global of the vendored Socket.IO
// client, and follows the connection's state.
export function openSocket(io) {
  // WebSocket first: it needs no sticky sessions behind a balancer. Where it
  // cannot open (a proxy that blocks upgrades), the client falls back to
  // HTTP long-polling (tryAllTransports). auth is called on every
  // (re)connection: the sign-in token, if the tab has one.
  socket = io({ transports: ['websocket', 'polling'], tryAllTransports: true, auth: sendToken });
  // Why the server is about to disconnect us (token_expired, kicked…).
  let closing = null;
  socket.on('disconnect reason', (r) => {
    closing = r && typeof r === 'object' && typeof r.code === 'string' ? r : null;
  });

  socket.io.on('open', watchEngine);

  socket.on('connect', () => {
    closing = null;
    watchEngine();
    state.connection = 'connected';
    state.attempt = 0;
    state.transport = socket.io.engine && socket.io.engine.transport ? socket.io.engine.transport.name : null;
    renderStatus();
    if (socket.recovered && state.view === 'chat' && state.desired) {
      // The server restored our connection (Socket.IO's connection state
      // recovery): still joined, and what we missed follows as events.
      state.joined = true;
      if (state.lostConnection) addSystem(t('reconnected'));
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
        addSystem(t('connectionLost'), 'system-error');
      }
      state.lostConnection = true;
    } else {
      state.connection = 'disconnected';
      if (state.view === 'chat' && reason === 'io server disconnect') {
        const why = authError(closing) || (closing ? toError({ error: closing }) : null);
        addSystem(why ? why.message : t('serverClosed'), 'system-error');
      }
      closing = null;
    }
    if (state.view === 'join') setJoinBusy(false);
    renderStatus();
    renderControls();
  });

  socket.on('connect_error', (err) => {
    // A refused sign-in is not retried (the socket is no longer active):
    // it says why, where the user looks.
    const refused = authError(err);
    if (refused && state.view === 'chat') addSystem(refused.message, 'system-error');
    else if (refused) showError(ui.joinError, refused);
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

  ui.reconnectButton.addEventListener('click', () => {
    state.connection = 'connecting';
    renderStatus();
    socket.connect();
  });
  return socket;
}

export function renderStatus() {
  const s = ui.status;
  s.dataset.state = state.connection;
  if (state.transport && state.connection === 'connected') s.dataset.transport = state.transport;
  else delete s.dataset.transport;
  let text;
  switch (state.connection) {
    case 'connected':
      text = t('connected') + (state.transport ? ' · ' + state.transport : '');
      break;
    case 'reconnecting':
      text = state.attempt > 0 ? t('reconnectingAttempt', state.attempt) : t('reconnecting');
      break;
    case 'disconnected':
      text = t('disconnected');
      break;
    default:
      text = t('connecting');
  }
  ui.statusText.textContent = text;
  ui.reconnectButton.hidden = state.connection !== 'disconnected';
}
