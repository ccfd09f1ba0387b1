// The page's state, and the saved session it starts from. Every module
// reads and writes this one object; window.natter.state exposes it to
// debugging and tests.

export const TOKEN_KEY = 'natter.token'; // read once, into identity.js's sessions
export const NAME_KEY = 'natter.name';
export const ROOM_KEY = 'natter.room';

// store is localStorage where it works; it may be unavailable or full.
export const store = {
  get(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (_) {
      return null;
    }
  },
  set(key, value) {
    try {
      if (value === null || value === undefined || value === '') {
        window.localStorage.removeItem(key);
      } else {
        window.localStorage.setItem(key, String(value));
      }
    } catch (_) {
      // Not fatal: the session just won't survive a reload.
    }
  },
};

export const state = {
  connection: 'connecting', // connecting | connected | reconnecting | disconnected
  transport: null, // polling | websocket
  attempt: 0, // reconnection attempt
  view: 'join', // join | chat
  joined: false, // the server has acked our join on this connection
  joining: false,
  joinSeq: 0, // bumped by every join and disconnect; stale acks are ignored
  joiningRoom: null,
  username: null,
  color: null,
  moderator: false, // the join ack says we may delete anyone's messages
  room: null,
  token: null, // the session's, once joined; identity.js keeps each name's
  desired: null, // {username, room} to (re)join on connect; null at the join form
  members: new Map(), // username → colour
  seen: new Set(), // ids of messages and whispers in the list
  lastId: null, // id of the newest message seen
  lastTs: 0,
  pending: new Map(), // clientId → outgoing message or whisper awaiting its ack
  typingUsers: new Map(), // username → expiry timer
  early: [], // messages for the room being joined that came before the join ack
  lostConnection: false,
  rejoinTimer: null,
  historyTimer: null, // the next try to load history a join came without
  rejoinAttempt: 0,
  unread: 0,
  unreadWhispers: 0, // received since the page last showed the user's whispers
};
