// What the server sends unasked: room messages, whispers, joins, leaves
// and typing, each checked for shape and for its room: the room shown
// has them on screen; the tab's other open rooms count them (unread
// messages, members).

import { state } from './state.js';
import { addNotice, isChatMessage, renderChatMessage, renderWhisper } from './room.js';
import { ensureMember, removeMember } from './members.js';
import { dropTyping, showTyping } from './typing.js';
import { countMember, countUnread } from './rooms.js';
import { t } from './i18n.js';

export function wireEvents(socket) {
  socket.on('server message', (m) => {
    if (!isChatMessage(m)) return;
    if (state.joined && m.room === state.room) renderChatMessage(m, false);
    else if (state.joining && m.room === state.joiningRoom) state.early.push(m);
    else if (typeof m.room === 'string' && m.room !== state.room) countUnread(m.room);
  });

  socket.on('whisper', (w) => {
    if (state.view === 'chat') renderWhisper(w);
  });

  socket.on('join', (n) => {
    if (!n || typeof n.username !== 'string' || !state.joined) return;
    if (n.room !== state.room) {
      if (typeof n.room === 'string' && n.username !== state.username) countMember(n.room, 1);
      return;
    }
    const known = state.members.has(n.username);
    ensureMember(n.username, n.color);
    if (!known && n.username !== state.username) addNotice(n.username, n.color, t('joinedNotice'));
  });

  socket.on('leave', (n) => {
    if (!n || typeof n.username !== 'string' || !state.joined) return;
    if (n.room !== state.room) {
      if (typeof n.room === 'string' && n.username !== state.username) countMember(n.room, -1);
      return;
    }
    dropTyping(n.username);
    if (n.username === state.username) return; // another tab of ours; we are still here
    const color = state.members.get(n.username);
    if (removeMember(n.username)) addNotice(n.username, color, t('leftNotice'));
  });

  socket.on('typing', (n) => {
    if (!n || typeof n.username !== 'string' || !state.joined) return;
    if (n.room !== undefined && n.room !== state.room) return;
    if (n.username === state.username) return;
    if (n.on) showTyping(n.username);
    else dropTyping(n.username);
  });
}
