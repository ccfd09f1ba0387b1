// The room's members: the list in the sidebar, read a page at a time, and
// a click on a member to whisper to them.

import { makeEl, paint, safeColor, ui } from './dom.js';
import { state } from './state.js';
import { request } from './socket.js';
import { autosize, updateCounter } from './composer.js';
import { t } from './i18n.js';

export function setMembers(list) {
  state.members.clear();
  addMembers(list);
}

function addMembers(list) {
  for (const m of list) {
    if (m && typeof m.username === 'string') state.members.set(m.username, m.color);
  }
  renderMembers();
}

export function ensureMember(username, color) {
  if (!username) return;
  if (state.members.get(username) === color && state.members.has(username)) return;
  state.members.set(username, color);
  renderMembers();
}

// removeMember takes username off the list and says whether it was there.
export function removeMember(username) {
  if (!state.members.delete(username)) return false;
  renderMembers();
  return true;
}

// requestMembers reads the room's members a page at a time: from the
// first, in place of the list, or from the one after the member named
// after, added to it; then the next page, until the last.
export function requestMembers(after) {
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

export function renderMembers() {
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
    paint(label, state.members.get(name));
    button.appendChild(swatch);
    button.appendChild(label);
    if (name === state.username) {
      button.appendChild(makeEl('span', 'you', t('you')));
      button.disabled = true;
      button.title = t('youTitle');
    } else {
      button.title = t('whisperTo', name);
      button.setAttribute('aria-label', t('memberLabel', name));
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
