package gateway

import (
	"encoding/json"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// The handlers of a session's rename: the client's request, and presence's
// word that a session has a new name (proto.SessionRenamed).

// errIdentityRename refuses a rename on an authenticated connection: its
// name is its token's.
var errIdentityRename = proto.Errorf(proto.CodeForbidden, "your name is your login's; it cannot be changed here")

// onRename gives the connection's session a new name: its token, colour,
// whispers, read positions and rooms stay. Presence tells the rooms and
// every gateway; this one switches its connections of the session before
// the ack, so that what the client sends after it carries the new name.
func (c *chat) onRename(s *socketio.Socket, e *socketio.EventMessage) {
	cn, m := joined(s, e)
	if m == nil {
		return
	}
	if cn.ident != nil {
		fail(e, errIdentityRename)
		return
	}
	if err := c.floods.admit(cn, limitJoin, userOf(cn)); err != nil {
		fail(e, err)
		return
	}
	var req proto.RenameRequest
	if err := decodeArg(e, &req); err != nil {
		fail(e, err)
		return
	}
	name, err := proto.NormalizeName(req.Username)
	if err != nil {
		fail(e, err)
		return
	}
	// A muted user keeps the mute: it holds on the name, which a rename
	// would shed.
	for _, o := range cn.members() {
		if err := c.mod.mutes.check(o.room, targets(cn, o)); err != nil {
			fail(e, err)
			return
		}
	}
	pr, err := c.up.rename(proto.PresenceRename{
		ConnRef:  proto.ConnRef{Gateway: c.id, Conn: m.ref},
		Token:    m.token,
		Username: name,
	})
	if err != nil {
		fail(e, err)
		return
	}
	c.renamed(proto.SessionRenamed{SessionID: m.sid, From: pr.From, Username: pr.Username, Color: pr.Color, Gen: pr.Gen})
	reply(e, proto.RenameAck{OK: true, Username: pr.Username, Color: pr.Color, Token: m.token})
}

// onSessionRenamed switches this gateway's connections of a renamed
// session to its new name.
func (c *chat) onSessionRenamed(msg *nats.Msg) {
	var n proto.SessionRenamed
	if json.Unmarshal(msg.Data, &n) != nil || !proto.ValidSessionID(n.SessionID) {
		return
	}
	if name, err := proto.NormalizeName(n.Username); err != nil || name != n.Username {
		return // not a name presence gave
	}
	c.renamed(n)
}

// renamed gives every member of the local connections of the session
// n.SessionID the name n.Username, unless they have it or a later one,
// tells each connection whose name changed ("renamed"), and keeps its
// recovery state, so that a recovered connection resumes the new name.
func (c *chat) renamed(n proto.SessionRenamed) {
	data, _ := json.Marshal(proto.Renamed{From: n.From, Username: n.Username, Color: n.Color})
	frame, err := socketio.EncodeEvent("/", proto.EventRenamed, -1, []json.RawMessage{data}, 0)
	if err != nil {
		return
	}
	for _, cur := range c.hub.user(n.SessionID) {
		cn := connOf(cur.sock)
		if cn == nil {
			continue
		}
		changed := false
		for _, m := range cn.members() {
			changed = m.rename(n.Username, n.Gen) || changed
		}
		if changed {
			cur.send(frame, 0, false)
			c.rec.keepConn(cur.sock, cn)
		}
	}
}
