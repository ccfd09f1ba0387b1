// The page's own words in English and Korean, following the browser's
// language (navigator.language: ko, ko-KR… is Korean, anything else
// English). Users' words are never translated. applyStatic fills the
// elements of index.html that carry data-i18n (their text),
// data-i18n-placeholder and data-i18n-title; t gives the rest.

const en = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  reconnectingAttempt: (n) => 'Reconnecting (attempt ' + n + ')…',
  disconnected: 'Disconnected',
  reconnect: 'Reconnect',
  changeName: 'Change name',
  joinHeading: 'Join the chat',
  name: 'Name',
  room: 'Room',
  optional: '(optional)',
  roomHint: 'Leave empty for the lobby.',
  join: 'Join',
  joining: 'Joining…',
  rejoining: 'Rejoining…',
  retrying: 'Retrying…',
  waitingConnection: 'Waiting for connection…',
  message: 'Message',
  messageRoom: (room) => 'Message #' + room,
  send: 'Send',
  composerHint: 'Enter sends, Shift+Enter adds a line. /w name text whispers, /join room changes room.',
  members: 'Members',
  changeRoom: 'Change room',
  go: 'Go',
  newMessages: 'New messages ↓',
  you: '(you)',
  youTitle: 'You',
  whisperTo: (name) => 'Whisper to ' + name,
  whisperTag: 'whisper',
  whisperLabel: (from, to) => 'Whisper from ' + from + ' to ' + to,
  joined: (room, name) => 'You joined #' + room + ' as ' + name + '.',
  signedInAs: (name) => 'Signed in as ' + name,
  reconnected: 'Reconnected.',
  connectionLost: 'Connection lost. Reconnecting…',
  unreadWhispers: (n) => (n === 1 ? '1 unread whisper.' : n + ' unread whispers.'),
  whispersFailed: 'Your whispers could not be loaded.',
  ownMessage: 'your message',
};

const ko = {
  connecting: '연결 중…',
  connected: '연결됨',
  reconnecting: '다시 연결 중…',
  reconnectingAttempt: (n) => '다시 연결 중 (' + n + '번째)…',
  disconnected: '연결 끊김',
  reconnect: '다시 연결',
  changeName: '이름 바꾸기',
  joinHeading: '채팅 참여',
  name: '이름',
  room: '방',
  optional: '(선택)',
  roomHint: '비워 두면 lobby 방에 들어갑니다.',
  join: '참여',
  joining: '참여 중…',
  rejoining: '다시 참여 중…',
  retrying: '다시 시도 중…',
  waitingConnection: '연결을 기다리는 중…',
  message: '메시지',
  messageRoom: (room) => '#' + room + '에 메시지 보내기',
  send: '보내기',
  composerHint: 'Enter로 보내고 Shift+Enter로 줄을 바꿉니다. /w 이름 내용: 귓속말, /join 방: 방 바꾸기.',
  members: '참여자',
  changeRoom: '방 바꾸기',
  go: '이동',
  newMessages: '새 메시지 ↓',
  you: '(나)',
  youTitle: '나',
  whisperTo: (name) => name + '님에게 귓속말',
  whisperTag: '귓속말',
  whisperLabel: (from, to) => from + '님이 ' + to + '님에게 보낸 귓속말',
  joined: (room, name) => name + ' 이름으로 #' + room + ' 방에 들어왔습니다.',
  signedInAs: (name) => name + '(으)로 로그인함',
  reconnected: '다시 연결되었습니다.',
  connectionLost: '연결이 끊겼습니다. 다시 연결 중…',
  unreadWhispers: (n) => '읽지 않은 귓속말 ' + n + '개.',
  whispersFailed: '귓속말을 불러오지 못했습니다.',
  ownMessage: '내 메시지',
};

// dictionaries are the languages the page speaks, by primary subtag.
export const dictionaries = { en, ko };

function pick(tag) {
  const primary = String(tag || '').toLowerCase().split('-')[0];
  return Object.prototype.hasOwnProperty.call(dictionaries, primary) ? primary : 'en';
}

// lang is the page's language: 'ko' or 'en'.
export const lang = pick(typeof navigator === 'undefined' ? '' : navigator.language);

// t returns the text of key in the page's language, given args when it
// takes some; English when the language lacks it, the key when both do.
export function t(key, ...args) {
  const v = dictionaries[lang][key] ?? en[key] ?? key;
  return typeof v === 'function' ? v(...args) : v;
}

// applyStatic translates index.html's marked elements, and its lang.
export function applyStatic() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}
