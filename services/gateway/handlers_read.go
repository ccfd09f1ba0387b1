package gateway

import (
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// The handlers of read positions and the room list: read moves the joined
// session's read position in a room (kept by history, so that every tab
// and device of the session shares it); rooms lists the rooms with users
// and the session's recent rooms, with their unread counts.

func (c *chat) onRead(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	if err := c.floods.admit(cn, limitRead, m.key()); err != nil {
		fail(e, err)
		return
	}
	var req proto.ReadRequest
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	room, ok := roomOf(s, e, req.Room)
	if !ok {
		return
	}
	if req.ID != "" && !proto.ValidID(req.ID) {
		fail(e, proto.Errorf(proto.CodeBadRequest, "id is the id of a message, or absent for all"))
		return
	}
	rr, err := c.up.markRead(proto.ReadMark{User: m.sid, Room: room, ID: req.ID})
	if err != nil {
		fail(e, err)
		return
	}
	reply(e, proto.ReadAck{OK: true, Room: room, Read: rr.Read, Unread: rr.Unread})
}

func (c *chat) onRooms(s *socketio.Socket, e *socketio.EventMessage) {
	if !c.admitQuery(s, e, limitRooms) {
		return
	}
	rr, err := c.up.rooms()
	if err != nil {
		fail(e, err)
		return
	}
	var unread []proto.RoomUnread
	if cn := connOf(s); cn != nil {
		if m := cn.cur.Load(); m != nil {
			ur, err := c.up.unread(proto.UnreadQuery{User: m.sid})
			if err != nil {
				// The list without its counts rather than none.
				c.log.Warn("rooms without unread counts", "err", err)
			}
			unread = ur.Rooms
		}
	}
	reply(e, proto.RoomListAck{OK: true, Rooms: listRooms(rr.Rooms, unread)})
}

// listRooms is the room list of a session: the rooms with users, in
// presence's order, then the session's other read rooms (with none), most
// recently read first; each read room with its read position and unread
// count.
func listRooms(withUsers []proto.RoomCount, read []proto.RoomUnread) []proto.RoomListing {
	out := make([]proto.RoomListing, 0, len(withUsers)+len(read))
	at := make(map[string]int, len(withUsers))
	for _, r := range withUsers {
		at[r.Room] = len(out)
		out = append(out, proto.RoomListing{Room: r.Room, Count: r.Count})
	}
	for _, r := range read {
		i, ok := at[r.Room]
		if !ok {
			i = len(out)
			at[r.Room] = i
			out = append(out, proto.RoomListing{Room: r.Room})
		}
		n := r.Unread
		out[i].Read, out[i].Unread = r.Read, &n
	}
	return out
}

// markRead moves a session's read position in a room.
func (u *upstream) markRead(q proto.ReadMark) (proto.ReadMarkReply, error) {
	var r proto.ReadMarkReply
	err := u.call(proto.ReadMarkSubject, q, &r)
	return r, err
}

// unread reads a session's read positions, with their unread counts.
func (u *upstream) unread(q proto.UnreadQuery) (proto.UnreadReply, error) {
	var r proto.UnreadReply
	err := u.call(proto.UnreadQuerySubject, q, &r)
	return r, err
}
