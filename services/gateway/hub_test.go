package gateway

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
)

func newTestHub(tb testing.TB, nc *nats.Conn, notices nats.MsgHandler) (*hub, chan *nats.Msg, prometheus.Gauge) {
	tb.Helper()
	stored := make(chan *nats.Msg, 16)
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "rooms"})
	if notices == nil {
		notices = func(*nats.Msg) {}
	}
	h := newHub(nc, slog.New(slog.DiscardHandler), gauge, stored, notices)
	tb.Cleanup(h.close)
	return h, stored, gauge
}

// testMember returns a member of room for session sid, writing to out.
func testMember(room, sid, name string, out sink) *member {
	m := &member{out: out, sid: sid, room: room, origin: "gw/" + name}
	m.name.Store(&memberName{username: name, key: proto.NameKey(name)})
	m.joining.live.Store(true)
	return m
}

// TestHubSubscribesOnFirstUnsubscribesOnLast: a room holds one pair of
// subscriptions (notices, stored messages) while it has local members, a
// session one pair (its stored whispers) while it has local connections;
// the last one out drops them.
func TestHubSubscribesOnFirstUnsubscribesOnLast(t *testing.T) {
	nc := natstest.Connect(t, natstest.Run(t).ClientURL())
	notices := make(chan *nats.Msg, 16)
	h, stored, gauge := newTestHub(t, nc, func(m *nats.Msg) { notices <- m })
	a, b := proto.SessionID("token-a"), proto.SessionID("token-b")
	m1, m2 := testMember("lobby", a, "민지", nil), testMember("lobby", b, "ana", nil)
	c1, c2 := &conn{}, &conn{}

	subs := func(want int) {
		t.Helper()
		if got := nc.NumSubscriptions(); got != want {
			t.Fatalf("%d subscriptions, want %d", got, want)
		}
	}
	receives := func(subject string, ch chan *nats.Msg, want bool) {
		t.Helper()
		if err := nc.Publish(subject, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil { // the server sends it back before the PONG
			t.Fatal(err)
		}
		select {
		case <-ch:
			if !want {
				t.Fatalf("%s delivered, with nobody subscribed", subject)
			}
		case <-time.After(map[bool]time.Duration{true: 5 * time.Second, false: 50 * time.Millisecond}[want]):
			if want {
				t.Fatalf("%s not delivered", subject)
			}
		}
	}

	subs(0)
	h.place(c1, m1)
	subs(4) // the room's two, a's two
	receives(proto.RoomStoredSubject("lobby"), stored, true)
	receives(proto.RoomPresenceSubject("lobby"), notices, true)
	h.place(c2, m2)
	subs(6) // the room's are shared; b's two
	if got := len(h.room(proto.Token("lobby"))); got != 2 {
		t.Fatalf("%d members, want 2", got)
	}
	if got := testutil.ToFloat64(gauge); got != 1 {
		t.Fatalf("rooms gauge %v, want 1", got)
	}
	h.removeConn(c1)
	subs(4)
	if got := h.room(proto.Token("lobby")); len(got) != 1 || got[0] != m2 {
		t.Fatalf("members %v, want m2 alone", got)
	}
	if got := h.user(a); got != nil {
		t.Fatalf("a's connections %v after it left", got)
	}
	h.removeConn(c2)
	subs(0)
	receives(proto.RoomStoredSubject("lobby"), stored, false)
	if got := testutil.ToFloat64(gauge); got != 0 {
		t.Fatalf("rooms gauge %v, want 0", got)
	}

	// A new join of a connection moves it.
	h.place(c1, m1)
	m3 := testMember("kitchen", a, "민지", nil)
	h.place(c1, m3)
	if h.room(proto.Token("lobby")) != nil || len(h.room(proto.Token("kitchen"))) != 1 || c1.cur.Load() != m3 {
		t.Fatal("the connection's join did not move it from lobby to kitchen")
	}
	subs(4)
}

// TestHubConcurrentPlaceRemove: joins, moves and leaves from many
// connections at once, with fan-out reading, leave nothing behind (run
// with -race).
func TestHubConcurrentPlaceRemove(t *testing.T) {
	nc := natstest.Connect(t, natstest.Run(t).ClientURL())
	h, _, gauge := newTestHub(t, nc, nil)
	rooms := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			cn := &conn{}
			sid := proto.SessionID(fmt.Sprint("token-", i%3))
			for j := range 100 {
				m := testMember(rooms[(i+j)%len(rooms)], sid, fmt.Sprint("u", i), nil)
				if j%2 == 0 {
					h.place(cn, m)
				} else {
					h.add(cn, m) // kept besides the others
				}
				if j%3 == 0 {
					h.leave(cn, rooms[j%len(rooms)])
				}
			}
			h.removeConn(cn)
		}()
		go func() {
			defer wg.Done()
			for j := range 100 {
				for _, m := range h.room(proto.Token(rooms[j%len(rooms)])) {
					_ = m.key()
				}
				_ = h.snapshot()
				_ = h.user(proto.SessionID(fmt.Sprint("token-", j%3)))
			}
		}()
	}
	wg.Wait()
	if got := nc.NumSubscriptions(); got != 0 {
		t.Errorf("%d subscriptions left", got)
	}
	if got := h.snapshot(); len(got) != 0 {
		t.Errorf("%d members left", len(got))
	}
	if got := testutil.ToFloat64(gauge); got != 0 {
		t.Errorf("rooms gauge %v, want 0", got)
	}
}
