package gateway

import (
	"context"
	"errors"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// The handlers of edits and deletions of room messages (proto/edit.go):
// history makes the change, in the stream, and the room hears it as the
// stream republishes the change record ("message edited", "message
// deleted"), in order with its messages.

func (c *chat) onEditMessage(s *socketio.Socket, e *socketio.EventMessage) {
	var req proto.EditRequest
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	if err := proto.ValidateMessage(req.Message); err != nil {
		fail(e, err)
		return
	}
	c.change(s, e, req.Room, proto.HistoryEdit{ID: req.ID, Message: req.Message})
}

func (c *chat) onDeleteMessage(s *socketio.Socket, e *socketio.EventMessage) {
	var req proto.DeleteRequest
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	c.change(s, e, req.Room, proto.HistoryEdit{ID: req.ID, Delete: true})
}

// change asks history for the change q of a message of room (one of the
// connection's; "" its current one), on behalf of the connection's
// session, and acks e with the message as it is now. Changes spend the
// connection's message budget.
func (c *chat) change(s *socketio.Socket, e *socketio.EventMessage, room string, q proto.HistoryEdit) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	m, err := inRoom(cn, m, room)
	if err != nil {
		fail(e, err)
		return
	}
	if !proto.ValidID(q.ID) {
		fail(e, proto.Errorf(proto.CodeBadRequest, "%s takes the id of a message", e.Name))
		return
	}
	if err := c.floods.admit(cn, limitMessage, userOf(cn)); err != nil {
		c.metrics.rateLimited.Inc()
		fail(e, err)
		return
	}
	if !q.Delete {
		// A new text is a message: a muted user writes none (deleting
		// one's own is still theirs to do).
		if err := c.mod.mutes.check(m.room, targets(cn, m)); err != nil {
			fail(e, err)
			return
		}
	}
	q.Room, q.Session, q.By = m.room, m.sid, m.username()
	q.Moderator = moderates(cn)
	ack, err := c.deleteOrEdit(q)
	if err != nil {
		fail(e, err)
		return
	}
	reply(e, ack)
}

// deleteOrEdit asks history for the change q; a moderator's deletion of
// someone else's message (the tombstone names its deleter) is then
// recorded in presence's moderation log, best effort: the deletion is
// made, whatever presence answers.
func (c *chat) deleteOrEdit(q proto.HistoryEdit) (proto.EditAck, error) {
	ack, err := editAck(c.up.edit(q))
	if err != nil || !q.Delete || ack.Message.DeletedBy == "" {
		return ack, err
	}
	rec := proto.PresenceDeleted{Room: q.Room, ID: q.ID, Username: ack.Message.Username, By: ack.Message.DeletedBy}
	if _, err := c.up.deleted(rec); err != nil {
		c.log.Warn("moderation log of a deletion", "room", q.Room, "id", q.ID, "err", err)
	}
	return ack, nil
}

// editAck turns history's answer to an edit or deletion into the ack of
// the socket event or the API route.
func editAck(r proto.HistoryEditReply, err error) (proto.EditAck, error) {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// Asked and not answered in time: history may have made it.
		return proto.EditAck{}, proto.ErrUnknownOutcome
	case err != nil:
		return proto.EditAck{}, err
	case r.Message == nil:
		return proto.EditAck{}, proto.ErrUnavailable
	}
	return proto.EditAck{OK: true, Message: *r.Message}, nil
}

// edit asks history to edit or delete a room message.
func (u *upstream) edit(q proto.HistoryEdit) (proto.HistoryEditReply, error) {
	var r proto.HistoryEditReply
	err := u.call(proto.HistoryEditSubject, q, &r)
	return r, err
}

// deleted tells presence of a moderator's deletion, for its log.
func (u *upstream) deleted(q proto.PresenceDeleted) (proto.PresenceModerateReply, error) {
	var r proto.PresenceModerateReply
	err := u.call(proto.PresenceDeletedSubject, q, &r)
	return r, err
}

// moderates reports whether the connection may delete anyone's message:
// its role (the token's, or one granted through the server API) says so.
func moderates(cn *conn) bool { return proto.CanModerate(cn.role()) }
