package gateway

import (
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// The handlers of a connection's several rooms (rooms.go): a join with
// keep, which adds a room, and leave room, which leaves one.

// keeping reports whether req is a join that keeps the connection's other
// rooms: keep set on a connection already joined (keep on one that is not
// is a plain join). Such a join is the connection's session's: it takes
// the session's name and token, and a name or token of another session is
// bad_request.
func keeping(cn *conn, req *proto.JoinRequest) (bool, error) {
	cur := cn.cur.Load()
	if !req.Keep || cur == nil {
		return false, nil
	}
	if req.Username != "" {
		if name, err := proto.NormalizeName(req.Username); err != nil || proto.NameKey(name) != cur.key() {
			return false, proto.Errorf(proto.CodeBadRequest, "a join with keep is the connection's user's: join without keep to change the name")
		}
	}
	if req.Token != "" && req.Token != cur.token {
		return false, proto.Errorf(proto.CodeBadRequest, "a join with keep is the connection's session's: join without keep to change it")
	}
	req.Username, req.Token = cur.username(), cur.token
	return true, nil
}

// joinRef returns the presence connection that a join of s into room
// asks for: the socket's for a plain join, for a kept room its own
// (the one it has already when the connection is in the room). A kept
// room past the gateway's limit is too_many_rooms.
func (c *chat) joinRef(s *socketio.Socket, cn *conn, room string, keep bool) (string, error) {
	if !keep {
		return s.ID(), nil
	}
	if m := cn.memberIn(room); m != nil {
		return m.ref, nil
	}
	if len(cn.members()) >= c.maxRooms {
		return "", proto.Errorf(proto.CodeTooManyRooms, "a connection may be in %d rooms at most: leave one first", c.maxRooms)
	}
	return subRef(s.ID(), room), nil
}

// settle places a joined member on its connection: among its rooms, or
// (a plain join) in place of them all, telling presence that the rooms
// left with another presence connection are left.
func (c *chat) settle(s *socketio.Socket, cn *conn, m *member, keep bool) {
	if keep {
		c.hub.add(cn, m)
		return
	}
	var refs []string
	for _, o := range c.hub.place(cn, m) {
		if o.ref != m.ref {
			cn.told(o.ref)
			refs = append(refs, o.ref)
		}
	}
	if len(refs) > 0 {
		c.tellLeft(s, refs, true, false)
	}
}

// onLeaveRoom leaves one of the connection's rooms: the room is told, as
// of a tab that leaves (once the user has no connection left in it), and
// its traffic stops for this connection. The current room is then the one
// joined before it; leaving the last one leaves the connection joined to
// nothing, and its session online only by its other connections.
func (c *chat) onLeaveRoom(s *socketio.Socket, e *socketio.EventMessage) {
	cn, cur := joined(s, e)
	if cur == nil {
		return
	}
	if err := c.floods.admit(cn, limitJoin, cur.key()); err != nil {
		fail(e, err)
		return
	}
	var req proto.LeaveRoomRequest
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	room, err := proto.NormalizeRoom(req.Room)
	if err != nil {
		fail(e, err)
		return
	}
	m := c.hub.leave(cn, room)
	if m == nil {
		fail(e, proto.Errorf(proto.CodeNotInRoom, "not in room %q", room))
		return
	}
	cn.told(m.ref)
	leave := proto.PresenceLeave{ConnRef: proto.ConnRef{Gateway: c.id, Conn: m.ref}, Deliberate: true}
	if c.up.leave(leave) != nil {
		c.tellLeft(s, []string{m.ref}, true, false) // asked again, in the background
	}
	if len(cn.members()) == 0 {
		c.rec.forget(s)
	} else {
		c.rec.keepConn(s, cn)
	}
	reply(e, proto.LeaveRoomAck{OK: true, Room: room, Rooms: cn.roomNames()})
}
