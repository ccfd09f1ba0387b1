// The composer: the message box, its counter and Send button, and what
// Enter and Send do with what is written (a command or a message).

import { MAX_MESSAGE_RUNES } from './limits.js';
import { showError, ui } from './dom.js';
import { localError } from './errors.js';
import { state } from './state.js';
import { socket } from './socket.js';
import { noteTyping, stopOwnTyping } from './typing.js';
import { charCount, sendChat } from './send.js';
import { runCommand } from './commands.js';
import { t } from './i18n.js';

// Show the character counter from nine tenths of the limit on.
const COUNTER_FROM = Math.floor(MAX_MESSAGE_RUNES * 0.9);

export function renderControls() {
  const canSend = state.joined && socket.connected;
  // While the connection is being restored, what is written waits for it.
  ui.sendButton.disabled = !canSend && !canQueue();
  ui.roomSwitchButton.disabled = !canSend || state.joining;
}

function canQueue() {
  return state.view === 'chat' && state.lostConnection;
}

export function autosize() {
  const box = ui.messageInput;
  box.style.height = 'auto';
  box.style.height = box.scrollHeight + 2 + 'px';
}

export function updateCounter() {
  const n = charCount(ui.messageInput.value);
  if (n >= COUNTER_FROM) {
    ui.counter.hidden = false;
    ui.counter.textContent = n + ' / ' + MAX_MESSAGE_RUNES;
    ui.counter.classList.toggle('over', n > MAX_MESSAGE_RUNES);
  } else {
    ui.counter.hidden = true;
  }
}

export function wireComposer() {
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
      showError(ui.sendError, localError('not_joined', t('notConnectedYet')));
      return;
    }
    const raw = ui.messageInput.value;
    if (!raw.trim()) return;
    if (!state.joined && /^\/join(\s|$)/iu.test(raw)) {
      showError(ui.sendError, localError('not_joined', t('notConnectedSwitch')));
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
}
