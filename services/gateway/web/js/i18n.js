// The page's own words in English and Korean, following the browser's
// language (navigator.language: ko, ko-KR… is Korean, anything else
// English). Users' words are never translated. applyStatic fills the
// elements of index.html that carry data-i18n (their text) and
// data-i18n-placeholder, -aria-label, -title; t gives the rest.

import { MAX_MESSAGE_RUNES, MAX_NAME_RUNES, MAX_ROOM_RUNES } from './limits.js';

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
  signOut: ['Sign out', '로그아웃'],
  nameFromToken: ['The name of your sign-in.', '로그인한 계정의 이름입니다.'],
  serverClosed: ['The server closed the connection.', '서버가 연결을 끊었습니다.'],
  switchUser: ['Join as someone else', '다른 사람으로 참여'],
  newName: ['New name', '새 이름'],
  renameHint: ['Your whispers and colour stay, in every tab.', '귓속말과 색은 모든 탭에서 그대로 유지됩니다.'],
  renamedTo: [(from, to) => from + ' is now ' + to + '.', (from, to) => from + ' 님은 이제 ' + to + '입니다.'],
  youRenamed: [(to) => 'You are now ' + to + '.', (to) => '이제 이름이 ' + to + '입니다.'],
  renaming: ['Saving…', '저장 중…'],
  nameBanned: ['That name is banned from a room you are in; pick another.', '지금 들어가 있는 방에서 차단된 이름입니다. 다른 이름을 골라 주세요.'],
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
  confirmDeleteOf: [(name) => 'Delete ' + name + '\'s message?', (name) => name + '님의 메시지를 삭제할까요?'],
  deleteForbidden: ['You may not delete that message.', '이 메시지를 삭제할 권한이 없습니다.'],
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
  leaveRoom: [(room) => 'Leave #' + room, (room) => '#' + room + ' 방 나가기'],
  tooManyRooms: [(room) => '#' + room + ' is not open: a tab has as many rooms open as it may. Leave one (×) first.',
    (room) => '#' + room + ' 방을 열지 못했습니다. 한 탭에서 열 수 있는 방이 가득 찼습니다. 먼저 방 하나를 나가 주세요(×).'],
  newSince: ['New messages', '여기서부터 새 메시지'],
  today: ['Today', '오늘'],
  yesterday: ['Yesterday', '어제'],
  commands: ['Commands', '명령어'],
  chat: ['Chat', '채팅'],
  messages: ['Messages', '메시지 목록'],
  roomPlaceholder: ['room', '방 이름'],
  joinedNotice: [' joined', ' 님이 들어왔습니다.'],
  leftNotice: [' left', ' 님이 나갔습니다.'],
  typingOne: [(a) => a + ' is typing…', (a) => a + ' 님이 입력 중…'],
  typingTwo: [(a, b) => a + ' and ' + b + ' are typing…', (a, b) => a + ' 님과 ' + b + ' 님이 입력 중…'],
  typingThree: [(a, b, c) => a + ', ' + b + ' and ' + c + ' are typing…', (a, b, c) => a + ' 님, ' + b + ' 님, ' + c + ' 님이 입력 중…'],
  typingMany: ['Several people are typing…', '여러 명이 입력 중…'],
  memberLabel: [(name) => name + ', whisper', (name) => name + ', 귓속말 보내기'],
  usageWhisper: ['Usage: /w name message  (quote names with spaces: /w "Jo Park" hi)', '사용법: /w 이름 메시지 (이름에 공백이 있으면 따옴표로: /w "김 민지" 안녕)'],
  usageJoin: ['Usage: /join room', '사용법: /join 방이름'],
  commandsHelp: ['Commands: /w name message — whisper; /join room — change room; //text — send text that starts with /.',
    '명령어: /w 이름 메시지 — 귓속말, /join 방 — 방 바꾸기, //내용 — /로 시작하는 내용 보내기.'],
  unknownCommand: [(cmd) => 'Unknown command /' + cmd + '. Start with // to send a message that begins with /.',
    (cmd) => '알 수 없는 명령어입니다: /' + cmd + '. /로 시작하는 메시지는 앞에 /를 하나 더 붙여 보내세요.'],
  alreadyInRoom: [(room) => 'You are already in #' + room + '.', (room) => '이미 #' + room + ' 방에 있습니다.'],
  notConnectedYet: ['Not connected to the room yet.', '아직 방에 연결되지 않았습니다.'],
  notConnectedSwitch: ['Not connected; change rooms once the connection is back.', '연결이 끊겨 있습니다. 다시 연결되면 방을 바꿔 주세요.'],
  enterName: ['Please enter a name.', '이름을 입력해 주세요.'],
  historyGap: ['Reconnected. Older messages are no longer available; showing the newest.', '다시 연결되었습니다. 이전 메시지는 더 이상 볼 수 없어 최신 메시지부터 보여 드립니다.'],
  historyFailed: ['The room\'s history could not be loaded; trying again…', '방의 이전 메시지를 불러오지 못했습니다. 다시 시도하는 중…'],
  historyLoaded: ['The room\'s history is loaded.', '방의 이전 메시지를 불러왔습니다.'],
  retryingIn: [(why, s) => why + ' Retrying in ' + s + ' s…', (why, s) => why + ' ' + s + '초 후 다시 시도합니다…'],
  sending: ['sending…', '보내는 중…'],
  retry: ['Retry', '다시 보내기'],
  dismiss: ['Dismiss', '지우기'],
  notSentYet: ['Not sent yet: it will go when the connection is back.', '아직 보내지 않았습니다. 다시 연결되면 보냅니다.'],
  tooLong: [(n) => 'A message is at most ' + MAX_MESSAGE_RUNES + ' characters; this one has ' + n + '.',
    (n) => '메시지는 ' + MAX_MESSAGE_RUNES + '자까지 보낼 수 있습니다. 지금 ' + n + '자입니다.'],
  clientMissing: ['Could not load the Socket.IO client', 'Socket.IO 클라이언트를 불러오지 못했습니다'],
  clientFailed: ['The chat client could not load. Reload the page to try again.', '채팅 프로그램을 불러오지 못했습니다. 페이지를 새로 고쳐 다시 시도해 주세요.'],

  // The page's words for each error code it can get (proto/README.md's
  // table), in place of the server's English message; error_token for
  // the token_* codes without words of their own. muted and banned take
  // the time their mute or ban ends, if it does (a formatted string).
  error_invalid_name: ['A name is 1 to ' + MAX_NAME_RUNES + ' letters, digits, spaces, _ or -.', '이름은 글자, 숫자, 공백, _, - 로 1–' + MAX_NAME_RUNES + '자여야 합니다.'],
  error_name_taken: ['That name is taken; pick another.', '이미 사용 중인 이름입니다. 다른 이름을 골라 주세요.'],
  error_invalid_room: ['A room name is 1 to ' + MAX_ROOM_RUNES + ' letters, digits, _ or -.', '방 이름은 글자, 숫자, _, - 로 1–' + MAX_ROOM_RUNES + '자여야 합니다.'],
  error_invalid_message: ['That message cannot be sent.', '보낼 수 없는 메시지입니다.'],
  error_message_too_long: ['A message is at most ' + MAX_MESSAGE_RUNES + ' characters.', '메시지는 ' + MAX_MESSAGE_RUNES + '자까지 보낼 수 있습니다.'],
  error_not_joined: ['Join a room first.', '먼저 방에 들어가 주세요.'],
  error_not_in_room: ['You are not in that room; join it first.', '들어가 있지 않은 방입니다. 먼저 방에 들어가 주세요.'],
  error_too_many_rooms: ['A tab has as many rooms open as it may. Leave one (×) first.', '한 탭에서 열 수 있는 방이 가득 찼습니다. 먼저 방 하나를 나가 주세요(×).'],
  error_no_such_message: ['That message is no longer there.', '이미 없는 메시지입니다.'],
  error_no_such_user: ['No such user.', '그 이름의 사용자를 찾을 수 없습니다.'],
  error_rate_limited: ['Too many messages; slow down.', '메시지를 너무 많이 보냈습니다. 잠시 후 다시 보내 주세요.'],
  error_bad_request: ['The server did not understand the request.', '서버가 요청을 이해하지 못했습니다.'],
  error_unavailable: ['The service is unavailable; try again.', '지금은 서비스를 쓸 수 없습니다. 다시 시도해 주세요.'],
  error_unknown_outcome: ['Not known whether it was sent; try again.', '전송되었는지 확인하지 못했습니다. 다시 시도해 주세요.'],
  error_internal: ['Something went wrong on the server.', '서버에 문제가 생겼습니다.'],
  error_timeout: ['The server did not answer in time.', '서버가 제때 응답하지 않았습니다.'],
  error_disconnected: ['The connection was lost.', '연결이 끊겼습니다.'],
  error_forbidden: ['That message is not yours to change.', '내가 쓴 메시지만 바꿀 수 있습니다.'],
  error_muted: [(until) => (until ? 'You are muted in this room until ' + until + '.' : 'You are muted in this room.'),
    (until) => (until ? until + '까지 이 방에서 메시지를 보낼 수 없습니다.' : '이 방에서 메시지를 보낼 수 없도록 제한되었습니다.')],
  error_banned: [(until) => (until ? 'You are banned from this room until ' + until + '.' : 'You are banned from this room.'),
    (until) => (until ? until + '까지 이 방에 들어갈 수 없습니다.' : '이 방에 들어갈 수 없도록 차단되었습니다.')],
  error_kicked: ['A moderator removed you from the room.', '관리자가 나를 방에서 내보냈습니다.'],
  error_token_missing: ['This chat needs you to sign in: open it through your sign-in link.', '이 채팅은 로그인이 필요합니다. 로그인 링크로 열어 주세요.'],
  error_token_expired: ['Your sign-in has expired. Open the chat again through a new sign-in link, or sign out.', '로그인이 만료되었습니다. 새 로그인 링크로 다시 열거나 로그아웃하세요.'],
  error_token_not_yet_valid: ['Your sign-in is not valid yet (check this device\'s clock), or sign out.', '로그인이 아직 유효하지 않습니다. 기기의 시계를 확인하거나 로그아웃하세요.'],
  error_auth_unavailable: ['Sign-in is unavailable right now; try again shortly.', '지금은 로그인할 수 없습니다. 잠시 후 다시 시도하세요.'],
  error_token: [(code) => 'Your sign-in link is not valid for this chat (' + code + '). Get a new one, or sign out.', (code) => '이 채팅에 쓸 수 없는 로그인 링크입니다 (' + code + '). 새 링크를 받거나 로그아웃하세요.'],
  errorCode: [(code) => 'Error: ' + code, (code) => '오류: ' + code],
  unexpectedAnswer: ['Unexpected answer from the server.', '서버가 알 수 없는 응답을 보냈습니다.'],
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

// hasText tells whether key has a text.
export function hasText(key) {
  return Object.prototype.hasOwnProperty.call(words, key);
}

// t returns the text of key in the page's language, given args when it
// takes some; the key itself when there is no such text.
export function t(key, ...args) {
  if (!hasText(key)) return key;
  const entry = words[key];
  const v = entry[languages[lang]];
  return typeof v === 'function' ? v(...args) : v;
}

// The attributes of index.html's elements that hold words: data-i18n-<attribute> names the text of each.
const TEXT_ATTRIBUTES = ['placeholder', 'aria-label', 'title'];

// applyStatic translates index.html's marked elements, and its lang.
export function applyStatic() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const attr of TEXT_ATTRIBUTES) {
    for (const el of document.querySelectorAll('[data-i18n-' + attr + ']')) el.setAttribute(attr, t(el.getAttribute('data-i18n-' + attr)));
  }
}
