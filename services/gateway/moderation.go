package gateway

import (
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// Moderation, the gateway's side. Presence keeps the bans, mutes, roles
// and log, refuses a banned user's join and announces every action to
// its room (services/presence/moderation.go). The gateway:
//
//   - takes the moderation events of its sockets (mute, unmute, kick,
//     ban, unban) from moderators, and passes them to presence;
//   - keeps the mutes of the rooms it hears of (from the announcements,
//     and from each join's answer), and refuses a muted user's message;
//   - disconnects the kicked or banned user's connections of the room;
//   - carries each connection's role: its token's, or one granted through
//     the server API (at the next join, or at once: RoleGrantedSubject).

// sessionRole is an authenticated connection's role (identity.role): the
// token's role claim, unless one was granted through the server API.
type sessionRole struct {
	claim   string
	granted atomic.Pointer[string] // nil or "": none granted
}

// get returns the role in force: the granted one, else the claim.
func (r *sessionRole) get() string {
	if g := r.granted.Load(); g != nil && *g != "" {
		return *g
	}
	return r.claim
}

// grant sets the granted role ("" revokes it).
func (r *sessionRole) grant(role string) { r.granted.Store(&role) }

// role returns the connection's role: "" for an anonymous one.
func (cn *conn) role() string {
	if cn == nil || cn.ident == nil {
		return ""
	}
	return cn.ident.role.get()
}

// identityID returns the connection's proto.IdentityID; "" when anonymous.
func (cn *conn) identityID() string {
	if cn == nil || cn.ident == nil {
		return ""
	}
	return cn.ident.id
}

// targets returns what bans and mutes of m hold on (proto.NameTarget,
// proto.IdentityTarget).
func targets(cn *conn, m *member) []string {
	t := []string{proto.NameTarget(m.key())}
	if id := cn.identityID(); id != "" {
		t = append(t, proto.IdentityTarget(id))
	}
	return t
}

// mutes holds the mutes this gateway knows of, by room and target.
type mutes struct {
	now func() time.Time
	mu  sync.Mutex
	by  map[muteKey]time.Time // until; zero for good
}

type muteKey struct{ room, target string }

// mutesPruned is how many mutes mutes keeps before it drops the ended ones.
const mutesPruned = 10_000

func (ms *mutes) set(room, target string, until time.Time) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if len(ms.by) >= mutesPruned {
		for k, u := range ms.by {
			if !u.IsZero() && !ms.now().Before(u) {
				delete(ms.by, k)
			}
		}
	}
	ms.by[muteKey{room, target}] = until
}

func (ms *mutes) lift(room, target string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	delete(ms.by, muteKey{room, target})
}

// check returns the muted error of a user with targets in room, or nil.
func (ms *mutes) check(room string, targets []string) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if len(ms.by) == 0 {
		return nil
	}
	for _, t := range targets {
		k := muteKey{room, t}
		u, ok := ms.by[k]
		if !ok {
			continue
		}
		if !u.IsZero() && !ms.now().Before(u) {
			delete(ms.by, k) // ended
			continue
		}
		e := proto.Errorf(proto.CodeMuted, "you are muted in %s", room)
		if !u.IsZero() {
			e.Message += " until " + u.UTC().Format(time.RFC3339)
			e.Until = u.UnixMilli()
		}
		return e
	}
	return nil
}

// moderation is the gateway's moderation: the mutes it knows, and what
// it does with the announcements and grants it hears.
type moderation struct {
	nc     *nats.Conn
	hub    *hub
	log    *slog.Logger
	mutes  mutes
	forget func(s *socketio.Socket) // the recovery's: a kicked user is not recovered
	sub    *nats.Subscription
}

func newModeration(nc *nats.Conn, h *hub, forget func(*socketio.Socket), log *slog.Logger) *moderation {
	return &moderation{
		nc: nc, hub: h, log: log, forget: forget,
		mutes: mutes{now: time.Now, by: make(map[muteKey]time.Time)},
	}
}

// start subscribes to the grants of roles; close drops the subscription.
func (md *moderation) start() error {
	sub, err := md.nc.Subscribe(proto.RoleGrantedSubject, md.onRoleGranted)
	md.sub = sub
	return err
}

func (md *moderation) close() {
	if md.sub != nil {
		md.sub.Unsubscribe()
	}
}

// joined takes what presence's answer to m's join says of it: its granted
// role, and whether it is muted in the room.
func (md *moderation) joined(cn *conn, m *member, pr *proto.PresenceJoinReply) {
	if cn != nil && cn.ident != nil {
		cn.ident.role.grant(pr.Role)
	}
	for _, t := range targets(cn, m) {
		md.mutes.lift(m.room, t)
	}
	if pr.Muted {
		var until time.Time
		if pr.MutedUntil > 0 {
			until = time.UnixMilli(pr.MutedUntil)
		}
		md.mutes.set(m.room, proto.NameTarget(m.key()), until)
	}
}

// onRoleGranted gives the connections of an identity, joined here now,
// the role granted to it.
func (md *moderation) onRoleGranted(msg *nats.Msg) {
	var g proto.RoleGranted
	if json.Unmarshal(msg.Data, &g) != nil || g.Identity == "" {
		return
	}
	for _, m := range md.hub.snapshot() {
		if cn := connOf(m.sock); cn.identityID() == g.Identity {
			cn.ident.role.grant(g.Role)
		}
	}
}

// announced reads a moderation notice: its action and its target.
func announced(msg *nats.Msg) (proto.Moderation, string, bool) {
	var a proto.Moderation
	target := msg.Header.Get(proto.HeaderModerationTarget)
	if json.Unmarshal(msg.Data, &a) != nil || target == "" {
		return a, "", false
	}
	return a, target, true
}

// record keeps an announced mute or unmute on this gateway, before the
// room is told of it: a member told of its mute finds its next message
// refused here.
func (md *moderation) record(msg *nats.Msg) {
	a, target, ok := announced(msg)
	if !ok {
		return
	}
	switch a.Action {
	case proto.EventMute:
		var until time.Time
		if a.Until > 0 {
			until = time.UnixMilli(a.Until)
		}
		md.mutes.set(a.Room, target, until)
	case proto.EventUnmute:
		md.mutes.lift(a.Room, target)
	}
}

// enforce carries out an announced kick or ban on this gateway: members
// are the room's here, already told of it.
func (md *moderation) enforce(members []*member, msg *nats.Msg) {
	a, target, ok := announced(msg)
	if !ok {
		return
	}
	switch a.Action {
	case proto.EventKick, proto.EventBan:
		for _, m := range members {
			cn := connOf(m.sock)
			for _, t := range targets(cn, m) {
				if t == target {
					md.dismiss(cn, m, a)
					break
				}
			}
		}
	}
}

// dismiss disconnects a kicked or banned member, telling it why; it
// leaves the room at once, and is not recovered.
func (md *moderation) dismiss(cn *conn, m *member, a proto.Moderation) {
	if cn != nil {
		cn.dismissed.Store(true)
	}
	md.forget(m.sock)
	e := proto.Errorf(proto.CodeKicked, "%s kicked you out of %s", a.By, a.Room)
	if a.Action == proto.EventBan {
		e = proto.Errorf(proto.CodeBanned, "%s banned you from %s", a.By, a.Room)
		e.Until = a.Until
	}
	if a.Reason != "" {
		e.Message += ": " + a.Reason
	}
	m.sock.Emit(proto.EventDisconnectReason, e)
	m.sock.Disconnect()
}

// onModerate handles the moderation event action of a socket.
func (c *chat) onModerate(action string) func(*socketio.Socket, *socketio.EventMessage) {
	return func(s *socketio.Socket, e *socketio.EventMessage) {
		cn := connOf(s)
		if cn == nil {
			fail(e, proto.Errorf(proto.CodeForbidden, "only a moderator may %s", action))
			return
		}
		if err := c.floods.admit(cn, limitJoin, userOf(cn)); err != nil {
			fail(e, err)
			return
		}
		if !proto.CanModerate(cn.role()) {
			fail(e, proto.Errorf(proto.CodeForbidden, "only a moderator may %s", action))
			return
		}
		var req proto.ModerateRequest
		if err := decodeArg(e, &req); err != nil {
			fail(e, err)
			return
		}
		if req.Room == "" {
			if m := cn.cur.Load(); m != nil {
				req.Room = m.room
			} else {
				fail(e, proto.Errorf(proto.CodeInvalidRoom, "name a room, or join one"))
				return
			}
		}
		req, err := proto.ValidateModerate(action, req)
		if err != nil {
			fail(e, err)
			return
		}
		r, err := c.up.moderate(proto.PresenceModerate{Action: action, ModerateRequest: req, By: cn.ident.name})
		if err != nil {
			fail(e, err)
			return
		}
		reply(e, proto.ModerationAck{OK: true, Moderation: r.Moderation})
	}
}

// moderate asks presence to carry out an action.
func (u *upstream) moderate(req proto.PresenceModerate) (proto.PresenceModerateReply, error) {
	var r proto.PresenceModerateReply
	err := u.call(proto.PresenceModerateSubject, req, &r)
	return r, err
}

// setRole asks presence to grant a role.
func (u *upstream) setRole(req proto.PresenceRole) error {
	var r proto.ErrorAck
	return u.call(proto.PresenceRoleSubject, req, &r)
}

// moderationLog asks presence for the recent actions.
func (u *upstream) moderationLog(req proto.PresenceModerationLog) (proto.ModerationLogReply, error) {
	var r proto.ModerationLogReply
	err := u.call(proto.PresenceModerationLogSubject, req, &r)
	return r, err
}
