package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

// upstream is the gateway's client of the presence and history services:
// one method for each request, over rpc.Call, each bounded by the request
// timeout. A reply that carries an error returns that error, a
// *proto.Error; a request that got no usable answer returns an error for
// which noAnswer holds (and errors.Is(err, proto.ErrUnavailable)).
type upstream struct {
	nc      *nats.Conn
	timeout time.Duration
	log     *slog.Logger
	onJoin  *joinHistory // plain joins' history queries, shared per room
}

func newUpstream(nc *nats.Conn, timeout time.Duration, log *slog.Logger) *upstream {
	u := &upstream{nc: nc, timeout: timeout, log: log}
	u.onJoin = newJoinHistory(u.history)
	return u
}

// noAnswer reports whether err is a request that was not answered (in
// time, or with anything that decodes), rather than answered with an
// error: only the first is worth asking again, and only the second is a
// refusal.
func noAnswer(err error) bool {
	if err == nil {
		return false
	}
	_, answered := err.(*proto.Error) // rpc.Call returns a reply's error as it is
	return !answered
}

func (u *upstream) call(subject string, req any, resp rpc.Reply) error {
	ctx, cancel := context.WithTimeout(context.Background(), u.timeout)
	defer cancel()
	err := rpc.Call(ctx, u.nc, subject, req, resp)
	if noAnswer(err) {
		u.log.Warn("request failed", "subject", subject, "err", err)
	}
	return err
}

// join opens or resumes a session on a connection, in a room.
func (u *upstream) join(req proto.PresenceJoin) (proto.PresenceJoinReply, error) {
	var r proto.PresenceJoinReply
	err := u.call(proto.PresenceJoinSubject, req, &r)
	return r, err
}

// leave tells presence that a connection has closed.
func (u *upstream) leave(req proto.PresenceLeave) error {
	var r proto.ErrorAck
	return u.call(proto.PresenceLeaveSubject, req, &r)
}

// endSession ends the session of a token.
func (u *upstream) endSession(req proto.PresenceEndSession) error {
	var r proto.ErrorAck
	return u.call(proto.PresenceEndSessionSubject, req, &r)
}

// rename gives a session a new name.
func (u *upstream) rename(req proto.PresenceRename) (proto.PresenceRenameReply, error) {
	var r proto.PresenceRenameReply
	err := u.call(proto.PresenceRenameSubject, req, &r)
	return r, err
}

// lookup finds who holds a name now.
func (u *upstream) lookup(name string) (proto.PresenceLookupReply, error) {
	var r proto.PresenceLookupReply
	err := u.call(proto.PresenceLookupSubject, proto.PresenceLookup{Username: name}, &r)
	return r, err
}

// members pages a room's members.
func (u *upstream) members(q proto.PresenceMembers) (proto.PresenceMembersReply, error) {
	var r proto.PresenceMembersReply
	err := u.call(proto.PresenceMembersSubject, q, &r)
	return r, err
}

// rooms lists the rooms with members.
func (u *upstream) rooms() (proto.PresenceRoomsReply, error) {
	var r proto.PresenceRoomsReply
	err := u.call(proto.PresenceRoomsSubject, struct{}{}, &r)
	return r, err
}

// history reads a page of a room's messages.
func (u *upstream) history(q proto.HistoryQuery) (proto.HistoryReply, error) {
	var r proto.HistoryReply
	err := u.call(proto.HistoryQuerySubject, q, &r)
	return r, err
}

// joinHistory reads the newest proto.HistoryOnJoin messages of a room,
// for a join placed in the hub already, in a query that the joins of the
// room asking at the same time share (joinHistory). The reply is shared:
// read it, do not change it.
func (u *upstream) joinHistory(room string) (proto.HistoryReply, error) {
	return u.onJoin.latest(room)
}

// whispers reads a page of a session's whispers.
func (u *upstream) whispers(q proto.WhispersQuery) (proto.WhispersReply, error) {
	var r proto.WhispersReply
	err := u.call(proto.WhispersQuerySubject, q, &r)
	return r, err
}
