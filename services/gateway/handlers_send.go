package gateway

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// The handlers of what a client says: messages and whispers (stored by the
// publisher), and typing notices.

func (c *chat) onMessage(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	var req proto.ClientMessage
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	m, err := inRoom(cn, m, req.Room)
	if err != nil {
		fail(e, err)
		return
	}
	if !c.admit(e, cn, req.Message, req.ClientID) {
		return
	}
	if err := c.mod.mutes.check(m.room, targets(cn, m)); err != nil {
		fail(e, err)
		return
	}
	msg := proto.Message{
		ID:       newID(),
		Room:     m.room,
		Username: m.username(),
		Color:    m.color,
		Message:  req.Message,
		TS:       time.Now().UnixMilli(),
	}
	data, _ := json.Marshal(msg)
	out := nats.NewMsg(proto.RoomMsgSubject(m.room))
	out.Header.Set(proto.HeaderSender, m.sid) // whose it is to edit (handlers_edit.go)
	out.Data = data
	c.pub.store(e, out, m, req.ClientID, proto.SentAck{OK: true, ID: msg.ID, TS: msg.TS}, c.metrics.messagesIn)
}

func (c *chat) onWhisper(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	var req proto.WhisperRequest
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	to, err := proto.NormalizeName(req.To)
	if err != nil {
		fail(e, proto.ErrNoSuchUser)
		return
	}
	if !c.admit(e, cn, req.Message, req.ClientID) {
		return
	}
	lr, err := c.up.lookup(to)
	if err != nil {
		fail(e, err)
		return
	}
	if lr.Username == "" {
		// Nobody holds the name, and no session that last held it lives.
		fail(e, proto.ErrNoSuchUser)
		return
	}
	// Online or not: a session that lives offline finds the whisper in
	// its whisper history at its next join (proto/README.md, whisper).
	if !proto.ValidSessionID(lr.SessionID) {
		// A presence older than the field: the whisper cannot be routed to
		// the session, and the name is no address.
		c.log.Error("presence looked up a user without a session id")
		fail(e, proto.ErrUnavailable)
		return
	}
	w := proto.Whisper{ID: newID(), From: m.username(), To: lr.Username, Message: req.Message, TS: time.Now().UnixMilli()}
	data, _ := json.Marshal(w)
	// To the session that holds the name now (or held it last, offline):
	// if it ends and another takes the name, this whisper stays the first
	// one's.
	out := nats.NewMsg(proto.WhisperMsgSubject(m.sid, lr.SessionID))
	out.Header.Set(proto.HeaderOrigin, m.origin)
	out.Data = data
	c.pub.store(e, out, m, req.ClientID, proto.SentAck{OK: true, ID: w.ID, TS: w.TS}, c.metrics.whispers)
}

func (c *chat) onTyping(s *socketio.Socket, e *socketio.EventMessage) {
	cn := connOf(s)
	if cn == nil {
		return
	}
	m := cn.cur.Load()
	if m == nil {
		return
	}
	var req proto.TypingRequest
	if decodeArg(e, &req) != nil || c.floods.admit(cn, limitTyping, m.key()) != nil {
		return // typing has no answer: dropped, and counted
	}
	if m, _ = inRoom(cn, m, req.Room); m == nil {
		return // not in that room: dropped
	}
	c.sendTyping(m, req.On)
}

// admit checks a message's text and clientId and the connection's rate,
// failing e when any is wrong.
func (c *chat) admit(e *socketio.EventMessage, cn *conn, text, clientID string) bool {
	if err := proto.ValidateMessage(text); err != nil {
		fail(e, err)
		return false
	}
	if err := proto.ValidateClientID(clientID); err != nil {
		fail(e, err)
		return false
	}
	if err := c.floods.admit(cn, limitMessage, userOf(cn)); err != nil {
		c.metrics.rateLimited.Inc()
		fail(e, err)
		return false
	}
	return true
}
