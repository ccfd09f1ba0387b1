package gateway

import (
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// The handlers of a client's queries, answered by presence or history:
// members, history and whispers (rooms: handlers_read.go).

func (c *chat) onMembers(s *socketio.Socket, e *socketio.EventMessage) {
	if !c.admitQuery(s, e, limitMembers) {
		return
	}
	var req proto.MembersRequest
	if !optionalArg(e, &req) {
		return
	}
	room, ok := roomOf(s, e, req.Room)
	if !ok {
		return
	}
	if _, _, err := proto.MembersPage(req.After, req.Limit); err != nil {
		fail(e, err)
		return
	}
	mr, err := c.up.members(proto.PresenceMembers{Room: room, After: req.After, Limit: req.Limit})
	if err != nil {
		fail(e, err)
		return
	}
	mr.Members = proto.NonNil(mr.Members)
	reply(e, proto.MembersAck{OK: true, Room: room, Members: mr.Members, MemberCount: mr.Count, More: mr.More})
}

func (c *chat) onHistory(s *socketio.Socket, e *socketio.EventMessage) {
	if !c.admitQuery(s, e, limitHistory) {
		return
	}
	var req proto.HistoryRequest
	if !optionalArg(e, &req) {
		return
	}
	room, ok := roomOf(s, e, req.Room)
	if !ok {
		return
	}
	if err := proto.ValidatePage(req.Before, req.Limit); err != nil {
		fail(e, err)
		return
	}
	hr, err := c.up.history(proto.HistoryQuery{Room: room, Before: req.Before, Limit: req.Limit})
	if err != nil {
		fail(e, err)
		return
	}
	reply(e, proto.HistoryAck{OK: true, Room: room, Messages: proto.NonNil(hr.Messages)})
}

// onWhispers answers a user's query of their own whispers: the session
// joined on the connection, never a parameter. With names the session
// that holds that name now; with a name nobody holds there are none.
func (c *chat) onWhispers(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	if err := c.floods.admit(cn, limitWhispers, m.key()); err != nil {
		fail(e, err)
		return
	}
	var req proto.WhispersRequest
	if !optionalArg(e, &req) {
		return
	}
	if err := proto.ValidatePage(req.Before, req.Limit); err != nil {
		fail(e, err)
		return
	}
	q := proto.WhispersQuery{User: m.sid, Before: req.Before, Limit: req.Limit}
	if req.With != "" {
		with, err := proto.NormalizeName(req.With)
		if err != nil {
			fail(e, err)
			return
		}
		lr, err := c.up.lookup(with)
		if err != nil {
			fail(e, err)
			return
		}
		if !proto.ValidSessionID(lr.SessionID) {
			reply(e, proto.WhispersAck{OK: true, Whispers: []proto.Whisper{}})
			return
		}
		q.With = lr.SessionID
	}
	wr, err := c.up.whispers(q)
	if err != nil {
		fail(e, err)
		return
	}
	wr.Whispers = proto.NonNil(wr.Whispers)
	reply(e, proto.WhispersAck{OK: true, Whispers: wr.Whispers})
}

// roomOf returns the room a query names, by default the connection's;
// it fails e, and returns false, for an invalid room.
func roomOf(s *socketio.Socket, e *socketio.EventMessage, room string) (string, bool) {
	if room == "" {
		if cn := connOf(s); cn != nil {
			if m := cn.cur.Load(); m != nil {
				room = m.room
			}
		}
	}
	room, err := proto.NormalizeRoom(room)
	if err != nil {
		fail(e, err)
		return "", false
	}
	return room, true
}

// optionalArg decodes the event's argument, if it has one, into v; it
// fails e, and returns false, when that argument is not what v takes.
func optionalArg(e *socketio.EventMessage, v any) bool {
	if len(e.Args) == 0 {
		return true
	}
	if err := decodeArg(e, v); err != nil {
		fail(e, err)
		return false
	}
	return true
}
