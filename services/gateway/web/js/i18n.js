// The page's own words in English and Korean, following the browser's
// language (navigator.language: ko, ko-KR… is Korean, anything else
// English). Users' words are never translated. applyStatic fills the
// elements of index.html that carry data-i18n (their text) and
// data-i18n-placeholder; t gives the rest.

import { MAX_NAME_RUNES } from './limits.js';

// words holds each text as [English, Korean]: a string, or a function of
// the text's arguments.
const words = {
  connecting: ['Connecting…', '연결 중…'],
  connected: ['Connected', '연결됨'],
  reconnecting: ['Reconnecting…', '다시 연결 중…'],
  reconnectingAttempt: [(n) => 'Reconnecting (attempt ' + n + ')…', (n) => '다시 연결 중 (' + n + '번째)…'],
  disconnected: ['Disconnected', '연결 끊김'],
  reconnect: ['Reconnect', '다시 연결'],
  changeName: ['Change name', '이름 바꾸기'],
  switchUser: ['Join as someone else', '다른 사람으로 참여'],
  newName: ['New name', '새 이름'],
  renameHint: ['Your whispers and colour stay, in every tab.', '귓속말과 색은 모든 탭에서 그대로 유지됩니다.'],
  renamedTo: [(from, to) => from + ' is now ' + to + '.', (from, to) => from + ' 님은 이제 ' + to + '입니다.'],
  youRenamed: [(to) => 'You are now ' + to + '.', (to) => '이제 이름이 ' + to + '입니다.'],
  renaming: ['Saving…', '저장 중…'],
  joinHeading: ['Join the chat', '채팅 참여'],
  name: ['Name', '이름'],
  nameHint: ['1–' + MAX_NAME_RUNES + ' letters, digits, spaces, _ or -', '글자, 숫자, 공백, _, - 로 1–' + MAX_NAME_RUNES + '자'],
  room: ['Room', '방'],
  optional: ['(optional)', '(선택)'],
  roomHint: ['Leave empty for the lobby.', '비워 두면 lobby 방에 들어갑니다.'],
  join: ['Join', '참여'],
  joining: ['Joining…', '참여 중…'],
  rejoining: ['Rejoining…', '다시 참여 중…'],
  retrying: ['Retrying…', '다시 시도 중…'],
  waitingConnection: ['Waiting for connection…', '연결을 기다리는 중…'],
  message: ['Message', '메시지'],
  messageRoom: [(room) => 'Message #' + room, (room) => '#' + room + '에 메시지 보내기'],
  send: ['Send', '보내기'],
  composerHint: ['Enter sends, Shift+Enter adds a line. /w name text whispers, /join room changes room.', 'Enter로 보내고 Shift+Enter로 줄을 바꿉니다. /w 이름 내용: 귓속말, /join 방: 방 바꾸기.'],
  members: ['Members', '참여자'],
  changeRoom: ['Change room', '방 바꾸기'],
  go: ['Go', '이동'],
  newMessages: ['New messages ↓', '새 메시지 ↓'],
  you: ['(you)', '(나)'],
  youTitle: ['You', '나'],
  whisperTo: [(name) => 'Whisper to ' + name, (name) => name + '님에게 귓속말'],
  whisperTag: ['whisper', '귓속말'],
  whisperLabel: [(from, to) => 'Whisper from ' + from + ' to ' + to, (from, to) => from + '님이 ' + to + '님에게 보낸 귓속말'],
  joined: [(room, name) => 'You joined #' + room + ' as ' + name + '.', (room, name) => name + ' 이름으로 #' + room + ' 방에 들어왔습니다.'],
  signedInAs: [(name) => 'Signed in as ' + name, (name) => name + '(으)로 로그인함'],
  reconnected: ['Reconnected.', '다시 연결되었습니다.'],
  connectionLost: ['Connection lost. Reconnecting…', '연결이 끊겼습니다. 다시 연결 중…'],
  unreadWhispers: [(n) => (n === 1 ? '1 unread whisper.' : n + ' unread whispers.'), (n) => '읽지 않은 귓속말 ' + n + '개.'],
  edit: ['Edit', '수정'],
  delete: ['Delete', '삭제'],
  confirmDelete: ['Delete?', '삭제할까요?'],
  save: ['Save', '저장'],
  cancel: ['Cancel', '취소'],
  editLabel: ['Edit the message', '메시지 수정'],
  edited: ['(edited)', '(수정됨)'],
  deleted: ['This message was deleted.', '삭제된 메시지입니다.'],
  deletedBy: [(name) => 'Deleted by ' + name + '.', (name) => name + '님이 삭제한 메시지입니다.'],
  whispersFailed: ['Your whispers could not be loaded.', '귓속말을 불러오지 못했습니다.'],
  rooms: ['Rooms', '방 목록'],
  memberCount: [(n) => (n === 1 ? '1 member' : n + ' members'), (n) => '참여자 ' + n + '명'],
  unreadCount: [(n) => n + ' unread', (n) => '읽지 않은 메시지 ' + n + '개'],
  newSince: ['New messages', '여기서부터 새 메시지'],
  today: ['Today', '오늘'],
  yesterday: ['Yesterday', '어제'],
  commands: ['Commands', '명령어'],
};

// languages are the languages the page speaks, by primary subtag, each
// with its place in words' entries.
const languages = { en: 0, ko: 1 };

function pick(tag) {
  const primary = String(tag || '').toLowerCase().split('-')[0];
  return Object.prototype.hasOwnProperty.call(languages, primary) ? primary : 'en';
}

// lang is the page's language: 'ko' or 'en'.
export const lang = pick(typeof navigator === 'undefined' ? '' : navigator.language);

// t returns the text of key in the page's language, given args when it
// takes some; the key itself when there is no such text.
export function t(key, ...args) {
  const entry = Object.prototype.hasOwnProperty.call(words, key) ? words[key] : null;
  if (!entry) return key;
  const v = entry[languages[lang]];
  return typeof v === 'function' ? v(...args) : v;
}

// applyStatic translates index.html's marked elements, and its lang.
export function applyStatic() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
}
