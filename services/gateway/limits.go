package gateway

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// Flood control. Every client event is counted against three token
// buckets, each of its own rate and burst: the connection's, its user's
// (the name key, once known) and its client address's (see clientAddr).
// An event that finds any of them empty is refused without touching the
// others, acked rate_limited, and counted. Typing has no ack: it is
// dropped and counted. Besides, typing notices are coalesced per user and
// room (typingGate), where they are sent and where they are received.
//
// The buckets are the gateway's own: a user or an address whose
// connections are spread over N gateways gets N times the user and
// address rates (see docs/reliability.md, "Flood control").

// Flood-controlled events: the names of Config.Limits keys. Messages and
// whispers share one budget, as they always did.
const (
	limitMessage  = "message" // client message and whisper
	limitTyping   = "typing"
	limitJoin     = "join"
	limitHistory  = "history"
	limitWhispers = "whispers"
	limitMembers  = "members"
	limitRooms    = "rooms"
	limitRead     = "read"
)

// Scopes of a limit: the second half of a Config.Limits key.
const (
	scopeConn = "conn"
	scopeUser = "user"
	scopeAddr = "addr"
)

var limitEvents = []string{limitMessage, limitTyping, limitJoin, limitHistory, limitWhispers, limitMembers, limitRooms, limitRead}

var scopes = [3]string{scopeConn, scopeUser, scopeAddr}

// Rate is a token bucket's refill rate and size. PerSecond +Inf (Off) is
// no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Off is a Rate that never refuses.
var Off = Rate{PerSecond: math.Inf(1)}

func (r Rate) off() bool { return math.IsInf(r.PerSecond, 1) }

// DefaultTypingInterval is the default Config.TypingInterval.
const DefaultTypingInterval = time.Second

// defaultLimits are the rates of every event but messages, by scope. The
// web page stays well within them: it sends typing at most twice a
// second, joins once per connection or room change, asks members once
// per recovery and history once per failed join. Addresses get more,
// for the users behind one NAT.
var defaultLimits = map[string][3]Rate{
	limitTyping:   {{5, 10}, {10, 20}, {50, 100}},
	limitJoin:     {{1, 10}, {2, 20}, {10, 100}},
	limitHistory:  {{2, 10}, {5, 20}, {20, 100}},
	limitWhispers: {{2, 10}, {5, 20}, {20, 100}},
	limitMembers:  {{2, 10}, {5, 20}, {20, 100}},
	limitRooms:    {{1, 5}, {2, 10}, {10, 50}},
	limitRead:     {{2, 10}, {5, 20}, {20, 100}},
}

// Messages: the connection's rate is MessageRate and MessageBurst; a user
// gets this many times it, an address that many.
const (
	messageUserFactor = 2
	messageAddrFactor = 5
)

// ParseLimits parses NATTER_RATE_LIMITS: comma-separated
// event.scope=rate/burst or event.scope=off, where event is one of
// message, typing, join, history, whispers, members, rooms, read or * (all),
// and scope is conn, user, addr or * (all); e.g.
// "join.addr=50/500,*.user=off".
func ParseLimits(s string) (map[string]Rate, error) {
	out := map[string]Rate{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		event, scope, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 {
			return nil, fmt.Errorf("rate limit %q: want event.scope=rate/burst or event.scope=off", item)
		}
		var r Rate
		if val == "off" {
			r = Off
		} else {
			ps, bs, ok := strings.Cut(val, "/")
			var err1, err2 error
			r.PerSecond, err1 = strconv.ParseFloat(ps, 64)
			r.Burst, err2 = strconv.Atoi(bs)
			if !ok || err1 != nil || err2 != nil || r.PerSecond <= 0 || r.Burst < 1 {
				return nil, fmt.Errorf("rate limit %q: want a positive rate per second, /, and a burst of at least 1", item)
			}
		}
		events, sc := []string{event}, []string{scope}
		if event == "*" {
			events = limitEvents
		} else if _, known := defaultLimits[event]; !known && event != limitMessage {
			return nil, fmt.Errorf("rate limit %q: no event %q (%s, or *)", item, event, strings.Join(limitEvents, ", "))
		}
		if scope == "*" {
			sc = scopes[:]
		} else if scope != scopeConn && scope != scopeUser && scope != scopeAddr {
			return nil, fmt.Errorf("rate limit %q: no scope %q (conn, user, addr, or *)", item, scope)
		}
		for _, e := range events {
			for _, s := range sc {
				out[e+"."+s] = r
			}
		}
	}
	return out, nil
}

// floods holds the gateway's buckets and typing gates.
type floods struct {
	events   map[string]*bucketSet
	typingTo *typingGate // what local typists send to the room
	typingIn *typingGate // what the room's typists send to local members
	limited  *prometheus.CounterVec
	proxies  trustedProxies
}

func newFloods(cfg Config, limited *prometheus.CounterVec) *floods {
	f := &floods{
		events:   make(map[string]*bucketSet),
		typingTo: newTypingGate(cfg.TypingInterval),
		typingIn: newTypingGate(cfg.TypingInterval),
		limited:  limited,
		proxies:  cfg.TrustedProxies,
	}
	conn := Rate{cfg.MessageRate, cfg.MessageBurst}
	rates := map[string][3]Rate{limitMessage: {
		conn,
		{conn.PerSecond * messageUserFactor, conn.Burst * messageUserFactor},
		{conn.PerSecond * messageAddrFactor, conn.Burst * messageAddrFactor},
	}}
	for event, r := range defaultLimits {
		rates[event] = r
	}
	for event, r := range rates {
		for i, scope := range scopes {
			if o, ok := cfg.Limits[event+"."+scope]; ok {
				r[i] = o
			}
			limited.WithLabelValues(event, scope) // a series from the start, at 0
		}
		f.events[event] = newBucketSet(r)
	}
	return f
}

// admit counts one event of the connection cn (of user, "" when not
// known) against its budgets; when one is spent, it returns the
// rate_limited error to answer with, and counts the refusal.
func (f *floods) admit(cn *conn, event, user string) *proto.Error {
	scope, wait := f.events[event].take(time.Now(), [3]string{cn.id, user, cn.addr})
	if scope == "" {
		return nil
	}
	f.limited.WithLabelValues(event, scope).Inc()
	return proto.Errorf(proto.CodeRateLimited, "too many %s from %s; retry in %s",
		limitNouns[event], scopeNouns[scope], max(wait, time.Millisecond).Round(time.Millisecond))
}

// For rate_limited messages.
var (
	limitNouns = map[string]string{
		limitMessage: "messages", limitTyping: "typing notices", limitJoin: "joins",
		limitHistory: "history requests", limitWhispers: "whisper history requests",
		limitMembers: "member list requests", limitRooms: "room list requests",
		limitRead: "read positions",
	}
	scopeNouns = map[string]string{scopeConn: "this connection", scopeUser: "this user", scopeAddr: "this address"}
)

// userOf returns the name key of the connection's user, "" before a join.
func userOf(cn *conn) string {
	if m := cn.cur.Load(); m != nil {
		return m.key()
	}
	return ""
}

// joinUser returns whose budget a join spends: the name asked for, or for
// a token alone, the token's.
func joinUser(req proto.JoinRequest) string {
	if req.Username != "" {
		if name, err := proto.NormalizeName(req.Username); err == nil {
			return proto.NameKey(name)
		}
	}
	if req.Token != "" {
		return "token:" + req.Token
	}
	return ""
}

// bucketSet is one event's buckets, by scope and key.
type bucketSet struct {
	rates [3]Rate

	mu      sync.Mutex
	buckets map[bucketKey]*bucket
	sweepAt int // sweep when the map grows past this
}

type bucketKey struct {
	scope int
	key   string
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was reckoned
}

// sweepFloor is the size under which a bucketSet is never swept.
const sweepFloor = 1024

func newBucketSet(rates [3]Rate) *bucketSet {
	return &bucketSet{rates: rates, buckets: make(map[bucketKey]*bucket), sweepAt: sweepFloor}
}

// take takes a token from the bucket of each scope with a key ("" is no
// key) and a limit, if every one has one. If not, it takes none and
// returns the first scope that had none, and how long until it will.
func (b *bucketSet) take(now time.Time, keys [3]string) (scope string, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var got [3]*bucket
	for i, key := range keys {
		r := b.rates[i]
		if key == "" || r.off() {
			continue
		}
		k := bucketKey{i, key}
		bk := b.buckets[k]
		if bk == nil {
			bk = &bucket{tokens: float64(r.Burst), at: now}
			b.buckets[k] = bk
		}
		bk.refill(now, r)
		if bk.tokens < 1 {
			return scopes[i], time.Duration((1 - bk.tokens) / r.PerSecond * float64(time.Second))
		}
		got[i] = bk
	}
	for _, bk := range got {
		if bk != nil {
			bk.tokens--
		}
	}
	if len(b.buckets) > b.sweepAt {
		b.sweep(now)
	}
	return "", 0
}

func (bk *bucket) refill(now time.Time, r Rate) {
	if d := now.Sub(bk.at); d > 0 {
		bk.tokens = min(float64(r.Burst), bk.tokens+d.Seconds()*r.PerSecond)
		bk.at = now
	}
}

// sweep drops the buckets that have filled up again: a new one is the
// same. What is left are keys active within burst/rate seconds.
func (b *bucketSet) sweep(now time.Time) {
	for k, bk := range b.buckets {
		r := b.rates[k.scope]
		bk.refill(now, r)
		if bk.tokens >= float64(r.Burst) {
			delete(b.buckets, k)
		}
	}
	b.sweepAt = max(sweepFloor, 2*len(b.buckets))
}

// typingGate coalesces typing notices per user and room: it passes an
// "on" if none passed within the interval, and an "off" only after a
// passed "on". So a room hears at most one on and one off per user per
// interval, whatever the user sends, from however many connections.
type typingGate struct {
	interval time.Duration

	mu      sync.Mutex
	typists map[typistKey]typist
	sweepAt int
}

type typistKey struct{ room, user string }

type typist struct {
	on     bool      // the last notice passed was an on
	lastOn time.Time // when it passed
}

// typingLinger is how long a typist who never said off is remembered.
const typingLinger = time.Minute

func newTypingGate(interval time.Duration) *typingGate {
	return &typingGate{interval: interval, typists: make(map[typistKey]typist), sweepAt: sweepFloor}
}

// pass reports whether a typing notice of user in room goes on.
func (g *typingGate) pass(now time.Time, room, user string, on bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := typistKey{room, user}
	t, seen := g.typists[k]
	switch {
	case on && seen && now.Sub(t.lastOn) < g.interval:
		return false
	case on:
		t = typist{on: true, lastOn: now}
	case !t.on:
		return false
	default:
		t.on = false
	}
	g.typists[k] = t
	if len(g.typists) > g.sweepAt {
		for k, t := range g.typists {
			if age := now.Sub(t.lastOn); (!t.on && age >= g.interval) || age >= typingLinger {
				delete(g.typists, k)
			}
		}
		g.sweepAt = max(sweepFloor, 2*len(g.typists))
	}
	return true
}

// passNotice is pass for a typing notice received for the room with
// token room.
func (g *typingGate) passNotice(room string, data []byte) bool {
	var t proto.Typing
	return json.Unmarshal(data, &t) == nil && g.pass(time.Now(), room, proto.NameKey(t.Username), t.On)
}

// sendTyping publishes a typing notice of m's, if the gate lets it.
func (c *chat) sendTyping(m *member, on bool) {
	if !c.floods.typingTo.pass(time.Now(), m.room, m.key(), on) {
		c.floods.limited.WithLabelValues(limitTyping, "coalesced").Inc()
		return
	}
	data, _ := json.Marshal(proto.Typing{Username: m.username(), Room: m.room, On: on})
	c.nc.Publish(proto.RoomTypingSubject(m.room), data)
}

// admitQuery admits one query of event from the socket, joined or not,
// failing e when it is refused.
func (c *chat) admitQuery(s *socketio.Socket, e *socketio.EventMessage, event string) bool {
	cn := connOf(s)
	if cn == nil {
		return true // not connected to the namespace: nothing is answered anyway
	}
	if err := c.floods.admit(cn, event, userOf(cn)); err != nil {
		fail(e, err)
		return false
	}
	return true
}
