package gateway

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
)

// hub is this gateway's local membership: which members each room has,
// and which connections each session has, and the NATS subscriptions
// they share. A room's first local member subscribes to its notices and
// its stored messages, a session's first connection to its stored
// whispers; the last one to leave unsubscribes. Stored messages and
// whispers go onto one channel, in the stream's order; notices to a
// handler as they come.
type hub struct {
	nc      *nats.Conn
	log     *slog.Logger
	gauge   prometheus.Gauge // rooms with local members
	stored  chan *nats.Msg   // stored messages and whispers
	notices nats.MsgHandler  // a room's presence and typing notices

	mu    sync.RWMutex
	rooms map[string]*group // by room token
	users map[string]*group // by session id: whispers belong to the session
}

func newHub(nc *nats.Conn, log *slog.Logger, gauge prometheus.Gauge, stored chan *nats.Msg, notices nats.MsgHandler) *hub {
	return &hub{
		nc:      nc,
		log:     log,
		gauge:   gauge,
		stored:  stored,
		notices: notices,
		rooms:   make(map[string]*group),
		users:   make(map[string]*group),
	}
}

// group is a set of local members that share NATS subscriptions: a
// room's, or a user's connections.
type group struct {
	subs    []*nats.Subscription
	members atomic.Pointer[[]*member] // copied on write; read by fan-out
	// delivered is the stream sequence of the last stored message the
	// fan-out delivered to a room's group, 0 before the first; only the
	// fan-out's goroutine reads and writes it.
	delivered uint64
}

func (g *group) load() []*member {
	if p := g.members.Load(); p != nil {
		return *p
	}
	return nil
}

func (g *group) add(m *member) {
	old := g.load()
	next := make([]*member, len(old), len(old)+1)
	copy(next, old)
	next = append(next, m)
	g.members.Store(&next)
}

// remove drops m and reports whether the group is now empty.
func (g *group) remove(m *member) bool {
	old := g.load()
	next := make([]*member, 0, len(old))
	for _, x := range old {
		if x != m {
			next = append(next, x)
		}
	}
	g.members.Store(&next)
	return len(next) == 0
}

func (g *group) unsubscribe() {
	for _, sub := range g.subs {
		if sub != nil {
			sub.Unsubscribe()
		}
	}
}

// enterLocked puts m in its room's group, subscribing the room for its
// first member. The caller holds h.mu.
func (h *hub) enterLocked(m *member) {
	enter(h.rooms, proto.Token(m.room), m, func() []*nats.Subscription {
		return []*nats.Subscription{
			h.subscribe(proto.RoomLiveSubject(m.room), false),
			h.subscribe(proto.RoomStoredSubject(m.room), true),
		}
	})
	h.gauge.Set(float64(len(h.rooms)))
}

// enterUserLocked puts m in its session's group: each connection is there
// once, by its current member. The caller holds h.mu.
func (h *hub) enterUserLocked(m *member) {
	enter(h.users, m.sid, m, func() []*nats.Subscription {
		var subs []*nats.Subscription
		for _, subject := range proto.UserStoredWhisperSubjects(m.sid) {
			subs = append(subs, h.subscribe(subject, true))
		}
		return subs
	})
}

// exitLocked takes m out of its room's group, dropping the room's
// subscriptions with its last member. The caller holds h.mu.
func (h *hub) exitLocked(m *member) {
	exit(h.rooms, proto.Token(m.room), m)
	h.gauge.Set(float64(len(h.rooms)))
}

// subscribe subscribes to subject: onto the stored channel, or to the
// notices handler.
func (h *hub) subscribe(subject string, stored bool) *nats.Subscription {
	var sub *nats.Subscription
	var err error
	if stored {
		sub, err = h.nc.ChanSubscribe(subject, h.stored)
	} else {
		sub, err = h.nc.Subscribe(subject, h.notices)
	}
	if err != nil {
		h.log.Error("subscribe", "err", err)
		return nil
	}
	return sub
}

// enter adds m to groups[key], subscribing for the group's first member.
// The caller holds h.mu.
func enter(groups map[string]*group, key string, m *member, subscribe func() []*nats.Subscription) {
	g := groups[key]
	if g == nil {
		g = &group{subs: subscribe()}
		groups[key] = g
	}
	g.add(m)
}

// exit takes m out of groups[key], unsubscribing with the last member.
// The caller holds h.mu.
func exit(groups map[string]*group, key string, m *member) {
	if g := groups[key]; g != nil && g.remove(m) {
		g.unsubscribe()
		delete(groups, key)
	}
}

// room returns the local members of the room with token room. The slice
// is shared: it is not to be changed.
func (h *hub) room(token string) []*member { return h.load(h.rooms, token) }

// roomCursor returns where the fan-out keeps the last stored message it
// delivered to the room with token room: nil when the room has no local
// members; a new group starts at 0.
func (h *hub) roomCursor(token string) *uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if g := h.rooms[token]; g != nil {
		return &g.delivered
	}
	return nil
}

// user returns the local connections of the session sid, as room does.
func (h *hub) user(sid string) []*member { return h.load(h.users, sid) }

func (h *hub) load(groups map[string]*group, key string) []*member {
	h.mu.RLock()
	g := groups[key]
	h.mu.RUnlock()
	if g == nil {
		return nil
	}
	return g.load()
}

// snapshot returns every local member of every room.
func (h *hub) snapshot() []*member {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var members []*member
	for _, g := range h.rooms {
		members = append(members, g.load()...)
	}
	return members
}

// close drops every group and its subscriptions.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, groups := range []map[string]*group{h.rooms, h.users} {
		for _, g := range groups {
			g.unsubscribe()
		}
	}
	h.rooms, h.users = map[string]*group{}, map[string]*group{}
}
