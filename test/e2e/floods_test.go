package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// floodClient is a raw Socket.IO client over WebSocket that keeps every
// event it receives and matches acks to requests, so that it can send
// many requests at once. Its address is the X-Real-IP it sends: the
// gateway trusts loopback as its proxy.
type floodClient struct {
	tb   testing.TB
	c    *websocket.Conn
	name string
	tok  string

	wmu  sync.Mutex // one writer at a time: the reader answers pings
	next int

	mu     sync.Mutex
	acks   map[int]chan floodAck
	events []floodEvent
	got    chan struct{} // cap 1: an event came
	done   chan struct{} // closed when the reader ends
}

type floodAck struct {
	OK    bool         `json:"ok"`
	Token string       `json:"token"`
	Error *proto.Error `json:"error"`
}

type floodEvent struct {
	name string
	// From the payload: who it is about, a message's text, a typing on.
	Username string `json:"username"`
	Message  string `json:"message"`
	On       bool   `json:"on"`
}

func dialFlood(tb testing.TB, base, addr string) *floodClient {
	tb.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.DefaultDialer.Dial(url, http.Header{"X-Real-IP": {addr}})
	if err != nil {
		tb.Fatal(err)
	}
	f := &floodClient{tb: tb, c: c, acks: map[int]chan floodAck{}, got: make(chan struct{}, 1), done: make(chan struct{})}
	for _, want := range []string{"0{", "40"} {
		if want == "40" {
			f.write("40")
		}
		_, data, err := c.ReadMessage()
		if err != nil || !strings.HasPrefix(string(data), want) {
			tb.Fatalf("handshake: %q %v", data, err)
		}
	}
	go f.read()
	tb.Cleanup(func() {
		c.Close()
		<-f.done
	})
	return f
}

func (f *floodClient) write(s string) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if err := f.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		f.tb.Errorf("write: %v", err)
	}
}

func (f *floodClient) read() {
	defer close(f.done)
	for {
		_, data, err := f.c.ReadMessage()
		if err != nil {
			return
		}
		frame := string(data)
		switch {
		case frame == "2":
			f.write("3")
		case strings.HasPrefix(frame, "43"):
			rest := frame[2:]
			i := strings.IndexByte(rest, '[')
			id, _ := strconv.Atoi(rest[:max(i, 0)])
			var args []floodAck
			json.Unmarshal([]byte(rest[max(i, 0):]), &args)
			f.mu.Lock()
			ch := f.acks[id]
			delete(f.acks, id)
			f.mu.Unlock()
			if ch != nil && len(args) > 0 {
				ch <- args[0]
			}
		case strings.HasPrefix(frame, "42["):
			var args []json.RawMessage
			if json.Unmarshal([]byte(frame[2:]), &args) != nil || len(args) < 2 {
				continue
			}
			var e floodEvent
			json.Unmarshal(args[0], &e.name)
			json.Unmarshal(args[1], &e)
			f.mu.Lock()
			f.events = append(f.events, e)
			f.mu.Unlock()
			select {
			case f.got <- struct{}{}:
			default:
			}
		}
	}
}

// emit sends an event that asks for an ack, and returns where it comes.
func (f *floodClient) emit(event string, payload any) <-chan floodAck {
	b, _ := json.Marshal([]any{event, payload})
	ch := make(chan floodAck, 1)
	f.mu.Lock()
	id := f.next
	f.next++
	f.acks[id] = ch
	f.mu.Unlock()
	f.write("42" + strconv.Itoa(id) + string(b))
	return ch
}

// send sends an event without asking for an ack.
func (f *floodClient) send(event string, payload any) {
	b, _ := json.Marshal([]any{event, payload})
	f.write("42" + string(b))
}

func (f *floodClient) wait(ch <-chan floodAck) floodAck {
	f.tb.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(20 * time.Second):
		f.tb.Fatal("no ack")
		return floodAck{}
	}
}

// join joins room as name, with the token of an earlier join of name.
func (f *floodClient) join(name, token, room string) {
	f.tb.Helper()
	a := f.wait(f.emit("join", map[string]string{"username": name, "token": token, "room": room}))
	if !a.OK {
		f.tb.Fatalf("join %s: %+v", name, a.Error)
	}
	f.name, f.tok = name, a.Token
}

// count returns how many received events match.
func (f *floodClient) count(match func(floodEvent) bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.events {
		if match(e) {
			n++
		}
	}
	return n
}

// await waits until an event that matches has come.
func (f *floodClient) await(what string, match func(floodEvent) bool) {
	f.tb.Helper()
	deadline := time.After(20 * time.Second)
	for f.count(match) == 0 {
		select {
		case <-f.got:
		case <-deadline:
			f.tb.Fatalf("waited in vain for %s", what)
		}
	}
}

// joinFlooders dials n connections from addr, the i-th to gateway(i), and
// joins them to room: as one user named after prefix (the first's session
// resumed) if sameUser, else as n users.
func joinFlooders(tb testing.TB, n int, sameUser bool, prefix, room, addr string, gateway func(i int) string) []*floodClient {
	tb.Helper()
	var conns []*floodClient
	for i := range n {
		f := dialFlood(tb, gateway(i), addr)
		name, token := fmt.Sprintf("%s u%d", prefix, i), ""
		if sameUser {
			name = prefix + " u"
			if i > 0 {
				token = conns[0].tok
			}
		}
		f.join(name, token, room)
		conns = append(conns, f)
	}
	return conns
}

// canary chats in the room all along the floods, from its own address, at
// a rate within its budget; check says whether each of its messages was
// acked and delivered, to itself and to a listener on the other gateway.
type canary struct {
	tb       testing.TB
	c        *floodClient
	listener *floodClient
	stop     chan struct{}
	done     chan struct{}
	sent     []string
	failed   []string
	acked    atomic.Int32 // sends answered, ok or not
}

func startCanary(tb testing.TB, s *system, room string) *canary {
	c := &canary{tb: tb, stop: make(chan struct{}), done: make(chan struct{})}
	c.c = dialFlood(tb, s.gateways[0].URL, "192.0.2.200")
	c.c.join("canary", "", room)
	c.listener = dialFlood(tb, s.gateways[1].URL, "192.0.2.201")
	c.listener.join("canary listener", "", room)
	go func() {
		defer close(c.done)
		t := time.NewTicker(600 * time.Millisecond) // floodMessages allows 2 a second
		defer t.Stop()
		for i := 0; ; i++ {
			if i > 0 {
				select {
				case <-c.stop:
					return
				case <-t.C:
				}
			}
			text := fmt.Sprintf("canary %d", i)
			ch := c.c.emit("client message", map[string]string{"message": text, "clientId": text})
			c.sent = append(c.sent, text)
			select {
			case a := <-ch:
				if !a.OK {
					c.failed = append(c.failed, fmt.Sprintf("%s: %+v", text, a.Error))
				}
				c.acked.Add(1)
			case <-time.After(20 * time.Second):
				c.failed = append(c.failed, text+": no ack")
				return
			}
		}
	}()
	return c
}

func (c *canary) check() {
	c.tb.Helper()
	// One more message answered after the floods: the canary chatted from
	// before them (its first goes at once) to after, however fast they were.
	want := c.acked.Load() + 1
	wait.Eventually(c.tb, 20*time.Second, func() bool { return c.acked.Load() >= want },
		"the canary's next message was not answered within 20 s of the floods")
	close(c.stop)
	<-c.done
	if len(c.failed) > 0 {
		c.tb.Errorf("the canary's messages refused: %v", c.failed)
	}
	if len(c.sent) == 0 {
		c.tb.Error("the canary sent nothing")
	}
	for _, text := range c.sent {
		for _, to := range []*floodClient{c.c, c.listener} {
			to.await("the canary's "+text, func(e floodEvent) bool { return e.name == "server message" && e.Message == text })
		}
	}
	c.tb.Logf("canary: %d messages acked and delivered during the floods", len(c.sent))
}

// limited returns natter_gateway_limited_total{event, scope} of a gateway.
func limited(tb testing.TB, reg *prometheus.Registry, event, scope string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "natter_gateway_limited_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["event"] == event && labels["scope"] == scope {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// budget is a default flood limit: a rate per second and a burst.
type budget struct{ rate, burst float64 }

// most is how many requests the budget admits in d.
func (b budget) most(d time.Duration) int { return int(b.burst + b.rate*d.Seconds() + 1) }

// floodSources are the three shapes of a flood: one connection; several
// connections of one user; connections of many users from one address.
// Each source gets its own address, so that they do not share budgets.
var floodSources = []struct {
	scope         string
	conns, perReq int
	sameUser      bool
}{
	{"conn", 1, 120, false},
	{"user", 4, 60, true},
	{"addr", 25, 24, false},
}

// floodMessages is the message budget of TestFloods: lower than the
// default, so that the budget of an address (5 times it) is well below
// what JetStream stores a second on a loaded machine, and a flood that
// was not limited shows.
var floodMessages = gateway.Config{MessageRate: 2, MessageBurst: 5}

// TestFloods floods a gateway with each acked event, from each source,
// and checks that what is admitted stays within the budget of the
// source's scope (the defaults; floodMessages for messages), that the refusals are rate_limited and counted,
// that the room hears no more join notices than joins were admitted, and
// that a canary in the room keeps chatting.
func TestFloods(t *testing.T) {
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, floodMessages)
	const room = "floods"
	c := startCanary(t, s, room)
	sink := dialFlood(t, s.gateways[1].URL, "192.0.2.202")
	sink.join("sink", "", room)

	// The defaults of limits.go, by scope, as proto/README.md lists them;
	// a user gets twice the connection's message budget, an address five times.
	message := map[string]budget{"conn": {2, 5}, "user": {4, 10}, "addr": {10, 25}}
	events := []struct {
		event   string
		budgets map[string]budget
		payload func(f *floodClient, i int) any
	}{
		{"client message", message, func(_ *floodClient, i int) any { return map[string]string{"message": fmt.Sprint("flood ", i)} }},
		{"whisper", message, func(_ *floodClient, i int) any {
			return map[string]string{"to": "sink", "message": fmt.Sprint("flood ", i)}
		}},
		{"join", map[string]budget{"conn": {1, 10}, "user": {2, 20}, "addr": {10, 100}}, func(f *floodClient, i int) any {
			return map[string]string{"username": f.name, "token": f.tok, "room": []string{room + "-b", room}[i%2]}
		}},
		{"history", map[string]budget{"conn": {2, 10}, "user": {5, 20}, "addr": {20, 100}}, func(*floodClient, int) any {
			return map[string]any{"room": room, "limit": 1}
		}},
		{"whispers", map[string]budget{"conn": {2, 10}, "user": {5, 20}, "addr": {20, 100}}, func(*floodClient, int) any {
			return map[string]any{"limit": 1}
		}},
		{"members", map[string]budget{"conn": {2, 10}, "user": {5, 20}, "addr": {20, 100}}, func(*floodClient, int) any {
			return map[string]any{"room": room}
		}},
		{"rooms", map[string]budget{"conn": {1, 5}, "user": {2, 10}, "addr": {10, 50}}, func(*floodClient, int) any {
			return map[string]any{}
		}},
		{"read", map[string]budget{"conn": {2, 10}, "user": {5, 20}, "addr": {20, 100}}, func(*floodClient, int) any {
			return map[string]any{"room": room} // all the room holds: a room without messages reads too
		}},
	}
	gw := s.gateways[0].URL
	next := 0
	for _, ev := range events {
		for _, src := range floodSources {
			next++
			n := next
			t.Run(ev.event+"/"+src.scope, func(t *testing.T) {
				addr := fmt.Sprintf("198.51.100.%d", n)
				prefix := fmt.Sprintf("f%d", n)
				conns := joinFlooders(t, src.conns, src.sameUser, prefix, room, addr, func(int) string { return gw })
				before := limited(t, s.metrics[0], limitName(ev.event), src.scope)

				start := time.Now()
				var mu sync.Mutex
				ok, refused := 0, 0
				var wg sync.WaitGroup
				for _, f := range conns {
					wg.Go(func() {
						var acks []<-chan floodAck
						for i := range src.perReq {
							acks = append(acks, f.emit(ev.event, ev.payload(f, i)))
						}
						for _, ch := range acks {
							a := f.wait(ch)
							mu.Lock()
							switch {
							case a.OK:
								ok++
							case a.Error != nil && a.Error.Code == proto.CodeRateLimited && a.Error.Message != "":
								refused++
							default:
								t.Errorf("%s answered %+v", ev.event, a)
							}
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				took := time.Since(start)
				b := ev.budgets[src.scope]
				sent := src.conns * src.perReq
				t.Logf("%d %s from %d connection(s): %d ok, %d rate_limited in %v (budget: %d)",
					sent, ev.event, src.conns, ok, refused, took.Round(time.Millisecond), b.most(took))
				if ok > b.most(took) {
					t.Errorf("%d admitted in %v, over the %s budget of %d", ok, took, src.scope, b.most(took))
				}
				if ok == 0 || refused == 0 {
					t.Errorf("%d ok, %d refused: want some of each", ok, refused)
				}
				if got := limited(t, s.metrics[0], limitName(ev.event), src.scope) - before; got < 1 {
					t.Errorf("natter_gateway_limited_total{event=%q,scope=%q} grew by %v", limitName(ev.event), src.scope, got)
				}
				if ev.event != "join" {
					return
				}
				// Each admitted join tells the room at most once (a join or a
				// leave); a marker's join, announced after them, ends the count.
				marker := dialFlood(t, gw, "192.0.2.203")
				marker.join(prefix+" marker", "", room)
				sink.await("the marker's join", func(e floodEvent) bool { return e.name == "join" && e.Username == prefix+" marker" })
				notices := sink.count(func(e floodEvent) bool {
					return (e.name == "join" || e.name == "leave") && strings.HasPrefix(e.Username, prefix+" u")
				})
				t.Logf("the room heard %d join and leave notices of theirs", notices)
				if notices > ok+src.conns {
					t.Errorf("the room heard %d notices of %d admitted joins", notices, ok)
				}
			})
		}
	}
	c.check()
}

// limitName is the event label of the flood control of a client event.
func limitName(event string) string {
	switch event {
	case "client message", "whisper":
		return "message"
	}
	return event
}

// TestTypingFloods floods a room with typing from one connection, from
// several connections of one user, from many users of one address, and
// from one user's connections on both gateways; the room's listeners
// hear at most one typing on of each user per interval, and an off only
// after an on, and a canary keeps chatting. The interval is 5 s (1 s by
// default), longer than a flood takes: then two ons, one from each
// gateway, are two too many.
func TestTypingFloods(t *testing.T) {
	const interval = 5 * time.Second
	cfg := floodMessages
	cfg.TypingInterval = interval
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, cfg)
	const room = "typing"
	c := startCanary(t, s, room)
	listeners := []*floodClient{dialFlood(t, s.gateways[0].URL, "192.0.2.210"), dialFlood(t, s.gateways[1].URL, "192.0.2.211")}
	listeners[0].join("listener 0", "", room)
	listeners[1].join("listener 1", "", room)

	for n, src := range []struct {
		name          string
		conns, frames int
		sameUser      bool
		gateways      int
	}{
		{"conn", 1, 2000, false, 1},
		{"user", 5, 400, true, 1},
		{"addr", 20, 100, false, 1},
		{"user on both gateways", 6, 300, true, 2},
	} {
		t.Run(src.name, func(t *testing.T) {
			addr := fmt.Sprintf("203.0.113.%d", n+1)
			prefix := fmt.Sprintf("t%d", n)
			conns := joinFlooders(t, src.conns, src.sameUser, prefix, room, addr, func(i int) string { return s.gateways[i%src.gateways].URL })
			start := time.Now()
			var wg sync.WaitGroup
			for _, f := range conns {
				wg.Go(func() {
					for i := range src.frames {
						f.send("typing", map[string]bool{"on": i%2 == 0})
					}
					// Any answer means that the typing before it was handled.
					f.wait(f.emit("members", map[string]string{}))
				})
			}
			wg.Wait()
			// A marker's typing, sent on each gateway after the flood's,
			// comes to each listener after it.
			for g := range src.gateways {
				m := dialFlood(t, s.gateways[g].URL, "192.0.2.212")
				m.join(fmt.Sprintf("%s marker %d", prefix, g), "", room)
				m.send("typing", map[string]bool{"on": true})
			}
			for _, l := range listeners {
				for g := range src.gateways {
					who := fmt.Sprintf("%s marker %d", prefix, g)
					l.await(who+"'s typing", func(e floodEvent) bool { return e.name == "typing" && e.Username == who })
				}
			}
			took := time.Since(start)
			users := map[string]bool{}
			for _, f := range conns {
				users[f.name] = true
			}
			most := int(took/interval) + 1 // ons per user
			for i, l := range listeners {
				total := 0
				for u := range users {
					on := l.count(func(e floodEvent) bool { return e.name == "typing" && e.Username == u && e.On })
					off := l.count(func(e floodEvent) bool { return e.name == "typing" && e.Username == u && !e.On })
					total += on + off
					if on > most || off > on {
						t.Errorf("listener %d heard %d ons and %d offs of %s in %v: want at most %d ons, and no more offs", i, on, off, u, took, most)
					}
				}
				t.Logf("%d typing frames from %d connection(s) of %d user(s): listener %d heard %d notices in %v",
					src.conns*src.frames, src.conns, len(users), i, total, took.Round(time.Millisecond))
			}
		})
	}
	var coalesced float64
	for _, reg := range s.metrics {
		coalesced += limited(t, reg, "typing", "coalesced") + limited(t, reg, "typing", "coalesced_in")
	}
	if coalesced == 0 {
		t.Error("natter_gateway_limited_total{event=\"typing\"} counted no coalesced notice")
	}
	if limited(t, s.metrics[0], "typing", "addr") == 0 {
		t.Error("natter_gateway_limited_total{event=\"typing\",scope=\"addr\"} counted nothing")
	}
	c.check()
}
