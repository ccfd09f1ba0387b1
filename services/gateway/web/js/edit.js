// Editing and deleting room messages: an Edit and a Delete button on
// one's own messages (Delete on everyone's for a moderator), an editor
// in place of the text, "(edited)" on an edited message and a tombstone
// in place of a deleted one, as the server tells the room (message
// edited, message deleted) and as history has them after a reload. The
// old text is dropped from the page as it is from the server.

import { MAX_MESSAGE_RUNES } from './limits.js';
import { appendLinked, makeEl, showError, ui, validTs } from './dom.js';
import { localError } from './errors.js';
import { state } from './state.js';
import { request } from './socket.js';
import { lang, t } from './i18n.js';

// decorateMessage marks the line li of the room message m (its fields as
// buildMessage had them) as edited or deleted, and gives it its actions.
export function decorateMessage(li, m) {
  const body = li.querySelector('.body');
  const text = li.querySelector('.text');
  if (!body || !text) return;
  if (m.deleted === true) {
    li.classList.add('deleted');
    li.dataset.deleted = 'true';
    text.replaceChildren(makeEl('span', 'tombstone', m.deletedBy ? t('deletedBy', m.deletedBy) : t('deleted')));
    for (const el of li.querySelectorAll('.edited-tag, .msg-actions, .edit-form, .msg-error')) el.remove();
    return;
  }
  let tag = li.querySelector('.edited-tag');
  if (typeof m.editedAt === 'number' && m.editedAt > 0) {
    if (!tag) {
      tag = makeEl('span', 'edited-tag', t('edited'));
      tag.dataset.testid = 'edited';
      text.after(tag);
    }
    tag.title = new Date(m.editedAt).toLocaleString(lang);
  }
  if (li.querySelector('.msg-actions') || !li.dataset.id) return;
  const own = m.username === state.username;
  if (!own && !state.moderator) return;
  const actions = makeEl('span', 'msg-actions');
  if (own) actions.appendChild(actionButton('edit', t('edit'), () => openEditor(li)));
  const del = actionButton('delete', t('delete'), () => confirmRemove(li, del, own ? null : m.username));
  actions.appendChild(del);
  body.appendChild(actions);
}

function actionButton(kind, label, onClick) {
  const b = makeEl('button', 'msg-action', label);
  b.type = 'button';
  b.dataset.testid = kind + '-button';
  b.addEventListener('click', onClick);
  return b;
}

// openEditor puts a text box with the message's text in place of it:
// Enter (or Save) saves, Escape (or Cancel) leaves it as it was.
function openEditor(li) {
  if (li.querySelector('.edit-form')) return;
  const text = li.querySelector('.text');
  const form = makeEl('form', 'edit-form');
  form.noValidate = true;
  const box = makeEl('textarea', 'edit-input');
  box.dataset.testid = 'edit-input';
  box.value = text.textContent;
  box.rows = 2;
  box.setAttribute('aria-label', t('editLabel'));
  const save = makeEl('button', 'button button-primary', t('save'));
  save.type = 'submit';
  save.dataset.testid = 'edit-save';
  const cancel = makeEl('button', 'button', t('cancel'));
  cancel.type = 'button';
  const error = makeEl('p', 'error');
  error.hidden = true;
  error.setAttribute('role', 'alert');
  form.append(box, save, cancel, error);
  const close = () => {
    form.remove();
    text.hidden = false;
  };
  cancel.addEventListener('click', close);
  box.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') close();
    else if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const message = box.value;
    if (message.trim() === text.textContent.trim()) return close();
    if ([...message].length > MAX_MESSAGE_RUNES) {
      showError(error, localError('message_too_long'));
      return;
    }
    save.disabled = true;
    request('edit message', { id: li.dataset.id, message, room: state.room }).then((ack) => {
      save.disabled = false;
      if (!ack.ok) {
        showError(error, ack.error);
        return;
      }
      close();
      applyChange(ack.message);
    });
  });
  text.hidden = true;
  text.after(form);
  box.focus();
}

// CONFIRM_MS is how long a Delete pressed once waits to be pressed again.
const CONFIRM_MS = 4000;

// confirmRemove deletes at the second press of the button, while it asks
// "Delete?" ("Delete Bob's message?" for a moderator's deletion of
// another's, author); else it turns back.
function confirmRemove(li, button, author) {
  if (button.dataset.confirming !== 'true') {
    button.dataset.confirming = 'true';
    button.textContent = author ? t('confirmDeleteOf', author) : t('confirmDelete');
    setTimeout(() => {
      button.dataset.confirming = 'false';
      button.textContent = t('delete');
    }, CONFIRM_MS);
    return;
  }
  remove(li);
}

function remove(li) {
  request('delete message', { id: li.dataset.id, room: state.room }).then((ack) => {
    if (ack.ok) applyChange(ack.message);
    else showLineError(li, ack.error);
  });
}

// showLineError says under the line li why its deletion failed, in the
// page's words for the refusals of the message itself.
function showLineError(li, err) {
  let node = li.querySelector('.msg-error');
  if (!node) {
    node = makeEl('p', 'error msg-error');
    node.dataset.testid = 'action-error';
    node.setAttribute('role', 'alert');
    li.querySelector('.body').appendChild(node);
  }
  if (err.code === 'forbidden') err = { code: err.code, message: t('deleteForbidden') };
  showError(node, err);
}

// setModerator takes the join ack's word on whether this connection may
// delete anyone's messages, and gives the lines shown the actions that
// follow from it when it changed (a reconnect with a role granted or
// revoked meanwhile).
export function setModerator(on) {
  if (state.moderator === on) return;
  state.moderator = on;
  for (const li of ui.messages.querySelectorAll('li.msg[data-id][data-username]')) {
    if (li.dataset.deleted === 'true') continue;
    li.querySelector('.msg-actions')?.remove();
    decorateMessage(li, { username: li.dataset.username });
  }
}

function lineOf(id) {
  for (const li of ui.messages.querySelectorAll('li.msg[data-id]')) if (li.dataset.id === id) return li;
  return null;
}

// applyChange shows the message m as it is now in place of its line, if
// the page has it; it reports whether it had.
export function applyChange(m) {
  if (!m || typeof m !== 'object' || typeof m.id !== 'string' || m.room !== state.room) return false;
  const li = lineOf(m.id);
  if (!li) return false;
  if (m.deleted !== true && typeof m.message === 'string') {
    const text = li.querySelector('.text');
    text.replaceChildren();
    appendLinked(text, m.message);
  }
  decorateMessage(li, m);
  return true;
}

// wireEdits follows the room's edits and deletions. One of a message the
// page does not have (it came and went while the page was away, and is
// replayed) shows as a message when it is as new as those shown.
export function wireEdits(socket, render) {
  const onChange = (m) => {
    if (!state.joined || applyChange(m)) return;
    const first = ui.messages.querySelector('li.msg[data-id]');
    if (m && m.room === state.room && !m.deleted && (!first || validTs(m.ts) >= Number(first.dataset.ts))) render(m, false);
  };
  socket.on('message edited', onChange);
  socket.on('message deleted', onChange);
}

// applyChanges shows a join's changes (ack.changed): messages it has,
// edited or deleted while it was away.
export function applyChanges(list) {
  if (Array.isArray(list)) for (const m of list) applyChange(m);
}
