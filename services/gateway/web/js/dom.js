// The page's elements and the helpers that build DOM from text. User data
// only ever goes in through textContent (the CSP's Trusted Types would
// make an HTML sink throw anyway).

import { PALETTE } from './limits.js';
import { lang } from './i18n.js';

const byId = (id) => document.getElementById(id);

export const ui = {
  status: byId('status'),
  statusText: byId('status-text'),
  reconnectButton: byId('reconnect-button'),
  signoutButton: byId('signout-button'),
  authSignoutButton: byId('auth-signout-button'),
  renameButton: byId('rename-button'),
  renameForm: byId('rename-form'),
  renameInput: byId('rename-input'),
  renameSave: byId('rename-save'),
  renameCancel: byId('rename-cancel'),
  renameError: byId('rename-error'),
  roomName: document.querySelector('[data-testid="room-name"]'),
  joinView: byId('join-view'),
  joinForm: byId('join-form'),
  nameInput: byId('name-input'),
  nameHint: byId('name-hint'),
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
  roomsSection: byId('rooms-section'),
  rooms: byId('rooms'),
  hintToggle: byId('hint-toggle'),
  composerHint: byId('composer-hint'),
};

export function makeEl(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// safeColor returns the theme's variant of a user's colour c: the CSS
// variable --user-<i> of its place in PALETTE (style.css defines one for
// light and one for dark, each readable on that theme's backgrounds). A
// colour of no palette (a message stored under an older one) takes the
// place of its hash, so it is still one readable colour; '' for no colour.
export function safeColor(c) {
  if (typeof c !== 'string' || c === '') return '';
  let i = PALETTE.indexOf(c.toLowerCase());
  if (i < 0) {
    let h = 0;
    for (const ch of c) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    i = h % PALETTE.length;
  }
  return 'var(--user-' + i + ')';
}

export function paint(node, color) {
  const c = safeColor(color);
  if (c) node.style.color = c; // CSSOM, allowed by the CSP
}

// showError shows err ({code, message}) in node, or hides node for null.
export function showError(node, err) {
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

const timeFormat = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
const dayTimeFormat = new Intl.DateTimeFormat(lang, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'full', timeStyle: 'medium' });

export function validTs(ts) {
  return typeof ts === 'number' && Number.isFinite(ts) && ts > 0 ? ts : Date.now();
}

export function timeEl(ts) {
  const d = new Date(ts);
  const t = makeEl('time', 'ts');
  const today = new Date();
  t.textContent = d.toDateString() === today.toDateString() ? timeFormat.format(d) : dayTimeFormat.format(d);
  t.dateTime = d.toISOString();
  t.title = fullFormat.format(d);
  return t;
}

// A link in a message: http or https, up to white space or a character
// that cannot be in one unescaped; trailing punctuation is the sentence's.
const LINK = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?)\]}'"»」』。、]+$/u;

// appendLinked appends text to node as text nodes, its http and https
// URLs as links that open apart from the page (rel noopener noreferrer).
// Built with the DOM, never from HTML: a link's text is textContent, its
// href a URL the parser accepted with an http: or https: scheme.
export function appendLinked(node, text) {
  text = String(text);
  let at = 0;
  for (const m of text.matchAll(LINK)) {
    let raw = m[0];
    const trail = raw.match(TRAILING);
    if (trail) raw = raw.slice(0, raw.length - trail[0].length);
    let url = null;
    try {
      url = new URL(raw);
    } catch (_) {
      url = null;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) continue;
    if (m.index > at) node.appendChild(document.createTextNode(text.slice(at, m.index)));
    const a = document.createElement('a');
    a.href = url.href;
    a.rel = 'noopener noreferrer';
    a.target = '_blank';
    a.className = 'link';
    a.textContent = raw;
    node.appendChild(a);
    at = m.index + raw.length;
  }
  if (at < text.length) node.appendChild(document.createTextNode(text.slice(at)));
}
