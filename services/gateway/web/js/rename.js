// Changing name: "Change name" renames the session (every tab of it, on
// any server), which keeps its token, colour, whispers and rooms; the
// room sees "민지 is now 지수", and the member list follows.

import { showError, ui } from './dom.js';
import { localError } from './errors.js';
import { state } from './state.js';
import { renameSession, setTabName } from './identity.js';
import { request } from './socket.js';
import { addSystem } from './room.js';
import { ensureMember, removeMember } from './members.js';
import { dropTyping } from './typing.js';
import { normalizeName } from './join.js';
import { t } from './i18n.js';

function isName(s) {
  return typeof s === 'string' && s !== '';
}

function openForm(open) {
  ui.renameForm.hidden = !open;
  ui.renameButton.setAttribute('aria-expanded', open ? 'true' : 'false');
  showError(ui.renameError, null);
  if (open) {
    ui.renameInput.value = state.username || '';
    ui.renameInput.focus();
    ui.renameInput.select();
  } else if (state.view === 'chat') ui.messageInput.focus();
}

function setBusy(busy) {
  ui.renameSave.disabled = busy;
  ui.renameSave.textContent = busy ? t('renaming') : t('save');
  ui.renameForm.setAttribute('aria-busy', busy ? 'true' : 'false');
}

// renamed makes this tab the session's new name: its remembered session,
// its own name for reloads, and the member list.
function renamed(from, to, color) {
  if (!state.joined || !isName(to) || to === state.username) return;
  const old = state.username;
  renameSession(old, to, state.token);
  setTabName(to);
  state.username = to;
  if (isName(color)) state.color = color;
  if (state.desired) state.desired = { username: to, room: state.desired.room };
  removeMember(old);
  ensureMember(to, state.color);
  ui.roomName.title = t('signedInAs', to);
  addSystem(t('youRenamed', to));
}

export function wireRename(socket) {
  ui.renameButton.addEventListener('click', () => openForm(ui.renameForm.hidden));
  ui.renameCancel.addEventListener('click', () => openForm(false));
  ui.renameForm.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') openForm(false);
  });
  ui.renameForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (ui.renameSave.disabled) return;
    const username = normalizeName(ui.renameInput.value);
    if (!username) {
      showError(ui.renameError, localError('invalid_name', t('enterName')));
      ui.renameInput.focus();
      return;
    }
    setBusy(true);
    request('rename', { username }).then((ack) => {
      setBusy(false);
      if (!ack.ok) {
        // banned: not this user, but the name they asked for, in one of their rooms.
        const banned = ack.error && ack.error.code === 'banned';
        showError(ui.renameError, banned ? localError('banned', t('nameBanned')) : ack.error);
        ui.renameInput.focus();
        ui.renameInput.select();
        return;
      }
      renamed(state.username, ack.username, ack.color);
      openForm(false);
    });
  });

  // Every tab of the session, this one included, hears of the rename.
  socket.on('renamed', (n) => {
    if (n && isName(n.username)) renamed(n.from, n.username, n.color);
  });

  socket.on('user renamed', (n) => {
    if (!n || !isName(n.from) || !isName(n.username) || !state.joined || n.room !== state.room) return;
    if (n.username === state.username) return; // ours: told by "renamed"
    dropTyping(n.from);
    removeMember(n.from);
    ensureMember(n.username, n.color);
    addSystem(t('renamedTo', n.from, n.username));
  });
}
