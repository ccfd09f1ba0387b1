// Commands typed in the composer (/w, /join, /help) and the room switch.

import { showError, ui } from './dom.js';
import { localError } from './errors.js';
import { state } from './state.js';
import { join, normalizeRoom } from './join.js';
import { addSystem } from './room.js';
import { stopOwnTyping } from './typing.js';
import { sendWhisper } from './send.js';
import { t } from './i18n.js';

// runCommand runs raw, which starts with a single /; false if it did not
// (the error is shown) and the composer should keep the text.
export function runCommand(raw) {
  const m = /^\/(\S+)(?:\s+([\s\S]*))?$/u.exec(raw);
  const cmd = m ? m[1].toLowerCase() : '';
  const rest = m && m[2] ? m[2] : '';
  switch (cmd) {
    case 'w':
    case 'msg':
    case 'whisper': {
      const parsed = parseWhisper(rest);
      if (!parsed) {
        showError(ui.sendError, localError('bad_request', t('usageWhisper')));
        return false;
      }
      return sendWhisper(parsed.to, parsed.message);
    }
    case 'join': {
      const room = rest.trim();
      if (!room) {
        showError(ui.sendError, localError('bad_request', t('usageJoin')));
        return false;
      }
      switchRoom(room);
      return true;
    }
    case 'help':
      addSystem(t('commandsHelp'));
      return true;
    default:
      showError(ui.sendError, localError('bad_request', t('unknownCommand', cmd)));
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

// switchRoom joins the room raw names, from the room switch, the room
// list or /join.
export function switchRoom(raw) {
  showError(ui.roomSwitchError, null);
  const room = normalizeRoom(raw);
  if (room === state.room) {
    showError(ui.roomSwitchError, localError('invalid_room', t('alreadyInRoom', room)));
    return;
  }
  if (!state.joined || state.joining) return;
  stopOwnTyping(true);
  join({ username: state.username, room }, { switching: true });
}

export function wireRoomSwitch() {
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
}
