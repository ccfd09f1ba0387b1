package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// conn is the chat state of one Socket.IO socket.
type conn struct {
	id, addr string                 // the socket's, and its client's (see clientAddr)
	cur      atomic.Pointer[member] // the current room's (rooms.go); nil until joined
	// mu guards rooms and refs (rooms.go).
	mu sync.Mutex
	// rooms are its members, one a room, the current one last; changed
	// by the hub only.
	rooms []*member
	// refs are the presence connections it has asked presence to join
	// (rooms.go): presence may hold one even when the answer never came
	// (a timeout), so its close is told to presence for each.
	refs map[string]bool
	// resume is what a recovered connection missed, to be sent once its
	// CONNECT is answered.
	resume *resumption
	// inflight counts its messages and whispers waiting for the stream's
	// answer (see maxInFlight).
	inflight atomic.Int32
	// ident is the user its token names; nil for an anonymous connection.
	ident *identity
	// expiry ends the connection when its token expires (watchExpiry).
	expiry  atomic.Pointer[time.Timer]
	expired prometheus.Counter // counts the expiries
	// dismissed is set when the server API disconnects it: its close is
	// a leave at once, as a deliberate one is.
	dismissed atomic.Bool
}

// newConn returns the chat state of a socket new to the chat.
func newConn(s *socketio.Socket, proxies trustedProxies) *conn {
	return &conn{id: s.ID(), addr: proxies.clientAddr(s.Session().Request())}
}

func connOf(s *socketio.Socket) *conn {
	cn, _ := s.Data().(*conn)
	return cn
}

// sink is where a member's frames go: its socket.
type sink interface {
	SendFrame(frame []byte, attachments [][]byte) error
	CloseSession()
}

// member is a connection joined to a room. It does not change, but for
// its name, which its session's rename changes: a new join makes a new
// member.
type member struct {
	sock *socketio.Socket
	out  sink // sock, but for tests
	name atomic.Pointer[memberName]
	// sid is the session's id (proto.SessionID): what its whispers are
	// routed and read by. The name is not: another session may hold it
	// once this one has ended.
	sid    string
	color  string
	token  string
	room   string
	origin string // gateway/conn, for HeaderOrigin

	joining holdback // what the room sends while its join is answered
	// shared, when set, is used instead of joining: the holdback of the
	// first member recovered with it (recovery.go), so that what waited
	// for the connection's rooms goes out in the order it came.
	shared *holdback
	// ref is its presence connection (rooms.go): the socket's id for the
	// room of a plain join, another for each room kept besides.
	ref string
	// through is the stream sequence its join's history went through,
	// kept for recovery.
	through atomic.Uint64
}

// memberName is what a member is called, as of its session's gen-th
// rename (0: as opened), as presence's join or a rename since said.
type memberName struct {
	username string
	key      string // proto.NameKey(username)
	gen      int64
}

func (m *member) username() string { return m.nameNow().username }
func (m *member) key() string      { return m.nameNow().key }

// nameNow is m's name; none for a member made without one (in tests).
func (m *member) nameNow() *memberName {
	if n := m.name.Load(); n != nil {
		return n
	}
	return &memberName{}
}

// rename gives m the name username, its session's gen-th, unless it has
// that rename or a later one: renames may come in any order. It reports
// whether the name changed.
func (m *member) rename(username string, gen int64) bool {
	next := &memberName{username: username, key: proto.NameKey(username), gen: gen}
	for {
		p := m.name.Load()
		cur := p
		if cur == nil {
			cur = &memberName{}
		}
		if gen <= cur.gen {
			return false
		}
		if m.name.CompareAndSwap(p, next) {
			return cur.username != username
		}
	}
}

// holdback returns the holdback that m's frames wait in.
func (m *member) holdback() *holdback {
	if m.shared != nil {
		return m.shared
	}
	return &m.joining
}

// holdback is what waits while a member's join (or recovery) is answered,
// so that nothing falls between the history in the answer and live
// delivery, and nothing is in both (see send and goLive).
type holdback struct {
	live    atomic.Bool
	mu      sync.Mutex
	pending []pendingFrame
	// The answer held room messages through the stream sequence rooms,
	// whispers through whispers: a copy of one that reaches this gateway
	// only after it (history may be ahead of the fan-out) is not sent.
	rooms, whispers atomic.Uint64
}

// answered reports whether the join's answer held the stored message or
// whisper of stream sequence seq (0 for a notice, which none holds).
func (h *holdback) answered(seq uint64, whisper bool) bool {
	if seq == 0 {
		return false
	}
	if whisper {
		return seq <= h.whispers.Load()
	}
	return seq <= h.rooms.Load()
}

type pendingFrame struct {
	frame   []byte
	seq     uint64 // stream sequence of a stored message; 0 for notices
	whisper bool
}

// newMember makes the member that presence's join reply pr puts on s, a
// socket of the gateway with id gateway. Its session id is presence's; for
// a presence that sends none (older than the field) it is made here of
// the token, as presence makes it.
func newMember(gateway string, s *socketio.Socket, pr *proto.PresenceJoinReply) *member {
	sid := pr.SessionID
	if !proto.ValidSessionID(sid) {
		sid = proto.SessionID(pr.Token)
	}
	m := &member{
		sock:   s,
		out:    s,
		sid:    sid,
		color:  pr.Color,
		token:  pr.Token,
		room:   pr.Room,
		origin: gateway + "/" + s.ID(),
		ref:    s.ID(),
	}
	m.name.Store(&memberName{username: pr.Username, key: proto.NameKey(pr.Username), gen: pr.NameGen})
	return m
}
