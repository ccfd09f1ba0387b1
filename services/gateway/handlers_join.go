package gateway

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// The handlers of a connection's place in the chat: join, disconnect (and
// presence's leave), logout, and the end of its session elsewhere.

func (c *chat) onJoin(s *socketio.Socket, e *socketio.EventMessage) {
	cn := connOf(s)
	var req proto.JoinRequest
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	var err error
	if req.Token, err = cn.sessionToken(req.Token); err != nil {
		fail(e, err)
		return
	}
	if cn.ident != nil {
		req.Username = cn.ident.name // an authenticated user's name is theirs
	}
	keep, err := keeping(cn, &req)
	if err != nil {
		fail(e, err)
		return
	}
	if err := c.floods.admit(cn, limitJoin, joinUser(req)); err != nil {
		fail(e, err)
		return
	}
	if req.Username != "" || req.Token == "" {
		if _, err := proto.NormalizeName(req.Username); err != nil {
			fail(e, err)
			return
		}
	}
	roomName, err := proto.NormalizeRoom(req.Room)
	if err != nil {
		fail(e, err)
		return
	}
	ref, err := c.joinRef(s, cn, roomName, keep)
	if err != nil {
		fail(e, err)
		return
	}
	join := proto.PresenceJoin{
		ConnRef:  proto.ConnRef{Gateway: c.id, Conn: ref},
		Username: req.Username,
		Room:     roomName,
		Token:    req.Token,
		Identity: cn.identityID(),
	}
	pr, asked, err := c.askJoin(s, cn, join)
	if !asked {
		return // closed while it waited its turn: nothing asked, nothing to answer
	}
	if err != nil {
		fail(e, err)
		return
	}
	m := newMember(c.id, s, &pr)
	c.mod.joined(cn, m, &pr)
	m.ref = ref
	if !s.Connected() {
		return // gone while presence answered; its leave is on the way
	}
	c.settle(s, cn, m, keep)

	var hr proto.HistoryReply
	if req.Since == "" {
		hr, err = c.up.joinHistory(pr.Room) // shared with the room's other joins
	} else {
		hr, err = c.up.history(proto.HistoryQuery{Room: pr.Room, After: req.Since, Limit: proto.MaxHistoryPage})
	}
	var historyErr *proto.Error
	if err != nil {
		c.log.Warn("join without history", "err", err)
		hr, historyErr = proto.HistoryReply{}, proto.ErrUnavailable
	}
	hr.Messages = proto.NonNil(hr.Messages)
	pr.Members = proto.NonNil(pr.Members)
	// Without history, the client has nothing from before the join, and
	// everything after comes live (goLive with 0 holds nothing back);
	// recovery begins at the stream's head.
	c.rec.joined(s, m, hr.Through, historyErr != nil)
	reply(e, proto.JoinAck{
		OK:           true,
		Username:     pr.Username,
		Color:        pr.Color,
		Token:        pr.Token,
		Room:         pr.Room,
		Members:      pr.Members,
		MemberCount:  max(pr.MemberCount, len(pr.Members)),
		History:      hr.Messages,
		Gap:          hr.Gap,
		Changed:      hr.Changed,
		Moderator:    moderates(cn),
		HistoryError: historyErr,
	})
	m.goLive(hr.Through, 0)
}

// askJoin asks presence for join once one of the gateway's slots for
// presence work is free (see admission), and once more if that went
// unanswered; asked is false if s closed while it waited, and then
// nothing was asked.
func (c *chat) askJoin(s *socketio.Socket, cn *conn, join proto.PresenceJoin) (pr proto.PresenceJoinReply, asked bool, err error) {
	c.presenceWork.enter()
	defer c.presenceWork.done()
	if !s.Connected() {
		return pr, false, nil
	}
	cn.ask(join.Conn)
	pr, err = c.up.join(join)
	if noAnswer(err) && s.Connected() {
		// No answer in time (a storm of joins): once more. Presence may
		// have served the first, and serves a repeat on the same
		// connection as that same join.
		pr, err = c.up.join(join)
	}
	return pr, true, err
}

func (c *chat) onDisconnect(s *socketio.Socket, reason string) {
	cn := connOf(s)
	if cn == nil {
		return
	}
	cn.stopExpiry()
	refs := cn.asked()
	if len(refs) == 0 {
		return
	}
	// Every room it is in, and a join whose answer was lost (it timed
	// out), which may have put it in presence: taken out, at once when
	// it is not joined.
	joinedSome := len(c.hub.removeConn(cn)) > 0
	deliberate := !joinedSome || reason == "client namespace disconnect" || cn.dismissed.Load()
	c.tellLeft(s, refs, deliberate, deliberate)
}

// tellLeft tells presence that s's presence connections refs have closed
// (on purpose, or its transport was lost), without holding up the
// transport that is closing; forget drops its recovery state too.
func (c *chat) tellLeft(s *socketio.Socket, refs []string, deliberate, forget bool) {
	c.leaves.running.Add(1)
	go func() {
		defer c.leaves.running.Done()
		if forget {
			c.rec.forget(s) // a client that left on purpose does not come back
		}
		for _, ref := range refs {
			c.tellLeftRef(ref, deliberate)
		}
	}()
}

// tellLeftRef tells presence that the presence connection ref has closed.
func (c *chat) tellLeftRef(ref string, deliberate bool) {
	req := proto.PresenceLeave{ConnRef: proto.ConnRef{Gateway: c.id, Conn: ref}, Deliberate: deliberate}
	// Nobody answered (NATS or presence away), or presence's store
	// was (unavailable: a Redis failing over): asked again, for a
	// leave that presence never heard would leave the user in the
	// room for as long as this gateway lives (a resync announces the
	// connections it has, not those it lost). Presence answers ok a
	// leave of a connection it no longer has, so asking twice
	// announces once.
	err := askUntilAnswered(c.leaves.closing, leaveRetry, leaveRetryMost, leaveTries, func() error {
		c.presenceWork.enter()
		defer c.presenceWork.done()
		return c.up.leave(req)
	})
	if err != nil {
		c.log.Warn("presence leave", "err", err)
	}
}

// askUntilAnswered calls ask until it returns nil or an answered error
// other than unavailable (see noAnswer), at most tries times, or until
// closing is closed; it pauses first between the first two calls, twice
// as long after each, but never longer than most, and returns ask's last
// error.
func askUntilAnswered(closing <-chan struct{}, first, most time.Duration, tries int, ask func() error) error {
	for try, pause := 1, first; ; try, pause = try+1, min(2*pause, most) {
		err := ask()
		if !(noAnswer(err) || errors.Is(err, proto.ErrUnavailable)) || try >= tries {
			return err
		}
		select {
		case <-time.After(pause):
		case <-closing:
			return err
		}
	}
}

// A leave that nobody answered is asked again after leaveRetry, then twice
// as long each time up to leaveRetryMost, leaveTries times in all: through
// a NATS outage of a minute, and asked again within a second of its end
// (each request waits up to the request timeout besides).
const (
	leaveRetry     = 250 * time.Millisecond
	leaveRetryMost = time.Second
	leaveTries     = 60
)

// onLogout ends the connection's session, on its client's request: the
// connection stays, joined to nothing; every other tab of the session, on
// any gateway, is disconnected (onSessionEnded); presence frees the name
// at once, and the token resumes nothing.
func (c *chat) onLogout(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	if err := c.floods.admit(cn, limitJoin, userOf(cn)); err != nil {
		fail(e, err)
		return
	}
	if len(c.hub.removeConn(cn)) == 0 {
		fail(e, proto.ErrNotJoined) // left meanwhile
		return
	}
	c.rec.forget(s)
	if err := c.up.endSession(proto.PresenceEndSession{
		ConnRef: proto.ConnRef{Gateway: c.id, Conn: s.ID()},
		Token:   m.token,
	}); err != nil {
		fail(e, err)
		return
	}
	reply(e, proto.OKAck{OK: true})
}

// onSessionEnded disconnects this gateway's connections of a session that
// has ended (proto.SessionEnded); their recovery state goes with them.
func (c *chat) onSessionEnded(msg *nats.Msg) {
	var ended proto.SessionEnded
	if json.Unmarshal(msg.Data, &ended) != nil || !proto.ValidSessionID(ended.SessionID) {
		return
	}
	for _, m := range c.hub.user(ended.SessionID) {
		c.disconnect(m)
	}
}

// disconnect closes m's connection for good: its client does not get the
// session back by Socket.IO's recovery, and joins again if it would stay.
func (c *chat) disconnect(m *member) {
	c.rec.forget(m.sock)
	m.sock.Disconnect()
}
