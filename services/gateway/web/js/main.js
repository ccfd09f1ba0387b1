// natter browser client, as ES modules with no build step. It talks to the
// gateway through the official Socket.IO client (the classic script
// /socket.io/socket.io.js, which index.html loads before this module and
// which defines the global io) and never inserts user data as HTML: every
// name and message goes in through textContent. The only global it
// defines is window.natter, for debugging and tests.

import { showError, ui } from './dom.js';
import { localError } from './errors.js';
import { state } from './state.js';
import { openSocket, renderStatus } from './socket.js';
import { restoreSession, wireJoin } from './join.js';
import { renderChatMessage, wireRoom } from './room.js';
import { wireEvents } from './events.js';
import { renderMembers } from './members.js';
import { renderControls, wireComposer } from './composer.js';
import { wireRoomSwitch } from './commands.js';
import { applyStatic, t } from './i18n.js';
import { wireRooms } from './rooms.js';
import { wireDayLines } from './daylines.js';
import { wireHint } from './hint.js';
import { wireEdits } from './edit.js';
import { takeToken, wireAuth } from './auth.js';
import { wireRename } from './rename.js';

// First of all, a sign-in token off the address bar.
takeToken();

function start(io) {
  applyStatic();
  wireAuth();
  const socket = openSocket(io);
  wireEvents(socket);
  wireEdits(socket, renderChatMessage);
  wireJoin();
  wireRename(socket);
  wireRoom();
  wireComposer();
  wireRoomSwitch();
  wireRooms();
  wireDayLines();
  wireHint();
  restoreSession();
  renderStatus();
  renderControls();
  renderMembers();
  window.natter = Object.freeze({ socket, state, version: 1 });
}

if (typeof window.io === 'function') {
  start(window.io);
} else {
  ui.status.dataset.state = 'disconnected';
  ui.statusText.textContent = t('clientMissing');
  ui.joinButton.disabled = true;
  showError(ui.joinError, localError('unavailable', t('clientFailed')));
}
