package presence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

// TestCensus checks that census sets the store's gauges.
func TestCensus(t *testing.T) {
	store := NewMemoryStore(time.Hour, nil)
	join(t, store, JoinParams{Conn: conn("a1"), Username: "Alice", Room: "lobby", NewToken: "ta"})
	join(t, store, JoinParams{Conn: conn("a2"), Room: "hall", Token: "ta"})
	join(t, store, JoinParams{Conn: conn("b"), Username: "Bob", Room: "lobby", NewToken: "tb"})
	reg := prometheus.NewRegistry()
	s := New(Config{}, nil, store, slog.New(slog.DiscardHandler), reg)
	s.census(context.Background())

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if ms := mf.GetMetric(); len(ms) == 1 && ms[0].GetGauge() != nil {
			got[mf.GetName()] = ms[0].GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"natter_presence_rooms":           2,
		"natter_presence_room_users":      3,
		"natter_presence_online_sessions": 2,
	}
	if !maps.Equal(got, want) {
		t.Errorf("gauges = %v, want %v", got, want)
	}
}

// gatedStore holds the joins of one connection until release.
type gatedStore struct {
	Store
	conn    proto.ConnRef
	entered chan struct{} // a held join has started
	open    chan struct{}
	once    sync.Once
}

// gate returns a store that holds the joins of c until release, or until
// they time out (heldFor: the OpTimeout of the tests that hold joins).
const heldFor = 10 * time.Second

func gate(t *testing.T, store Store, c proto.ConnRef) *gatedStore {
	g := &gatedStore{Store: store, conn: c, entered: make(chan struct{}, 1), open: make(chan struct{})}
	t.Cleanup(g.release)
	return g
}

func (g *gatedStore) release() { g.once.Do(func() { close(g.open) }) }

func (g *gatedStore) Join(ctx context.Context, p JoinParams) (JoinResult, error) {
	if p.Conn == g.conn {
		g.entered <- struct{}{}
		select {
		case <-g.open:
		case <-ctx.Done(): // the test failed, and Run waits for the join
			return JoinResult{}, ctx.Err()
		}
	}
	return g.Store.Join(ctx, p)
}

// runService serves presence over store on an embedded NATS until the
// test ends; it returns a client connection, and a channel that Run's
// end closes, with the stop that ends it.
func runService(t *testing.T, cfg Config, store Store) (nc *nats.Conn, stop func(), done <-chan struct{}) {
	t.Helper()
	ns := natstest.Run(t)
	s := New(cfg, natstest.Connect(t, ns.ClientURL()), store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	stop, done = serve(t, s)
	return natstest.Connect(t, ns.ClientURL()), stop, done
}

// TestReadyOnceServing: a replica is ready only while Run serves, and
// then a request sent at once, on another connection, is answered.
func TestReadyOnceServing(t *testing.T) {
	ns := natstest.Run(t)
	s := New(Config{}, natstest.Connect(t, ns.ClientURL()), NewMemoryStore(time.Hour, nil), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if s.Ready() == nil {
		t.Error("ready before Run")
	}
	stop, done := serve(t, s) // returns once ready
	nc := natstest.Connect(t, ns.ClientURL())
	if _, err := nc.Request(proto.PresenceRoomsSubject, nil, 5*time.Second); err != nil {
		t.Errorf("a request once ready: %v", err)
	}
	stop()
	<-done
	if s.Ready() == nil {
		t.Error("ready after Run returned")
	}
}

func joinRequest(c proto.ConnRef, name string) []byte {
	b, _ := json.Marshal(proto.PresenceJoin{ConnRef: c, Username: name, Room: "lobby"})
	return b
}

// TestRequestsServedAtOnce checks that a slow join does not hold up the
// joins of other connections.
func TestRequestsServedAtOnce(t *testing.T) {
	g := gate(t, NewMemoryStore(time.Hour, nil), conn("slow"))
	nc, _, _ := runService(t, Config{OpTimeout: heldFor}, g)
	replies := ask(t, nc, proto.PresenceJoinSubject, joinRequest(g.conn, "Slow"))
	<-g.entered
	// Eight other connections: that all of them share the slow one's lane
	// of 64 has a chance of 2^-48.
	answered := make(chan error, 8)
	for i := range 8 {
		go func() {
			_, err := nc.Request(proto.PresenceJoinSubject, joinRequest(conn(fmt.Sprint("c", i)), fmt.Sprint("user", i)), 10*time.Second)
			answered <- err
		}()
	}
	if err := <-answered; err != nil {
		t.Fatalf("no other join answered while one was held: %v", err)
	}
	g.release()
	select {
	case <-replies:
	case <-time.After(10 * time.Second):
		t.Fatal("the held join was never answered")
	}
	for range 7 {
		<-answered
	}
}

// ask sends a request without waiting for its reply, which comes on the
// channel returned.
func ask(t *testing.T, nc *nats.Conn, subject string, data []byte) <-chan *nats.Msg {
	t.Helper()
	replies := make(chan *nats.Msg, 1)
	inbox := nats.NewInbox()
	sub, err := nc.ChanSubscribe(inbox, replies)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	if err := nc.PublishRequest(subject, inbox, data); err != nil {
		t.Fatal(err)
	}
	return replies
}

// TestJoinThenLeaveInOrder checks that a connection's leave, asked while
// its join is still being served, is applied after the join: the
// connection ends gone, not joined by a join that came first but was
// served last.
func TestJoinThenLeaveInOrder(t *testing.T) {
	mem := NewMemoryStore(time.Hour, nil)
	g := gate(t, mem, conn("c"))
	nc, _, _ := runService(t, Config{OpTimeout: heldFor}, g)
	joined := ask(t, nc, proto.PresenceJoinSubject, joinRequest(g.conn, "Alice"))
	<-g.entered
	leave, _ := json.Marshal(proto.PresenceLeave{ConnRef: g.conn, Deliberate: true})
	left := ask(t, nc, proto.PresenceLeaveSubject, leave)
	nc.Flush()
	// The leave is not served before the join it follows; the test cannot
	// see a request waiting, so it gives a wrong order the time to show.
	select {
	case m := <-left:
		t.Fatalf("the leave was answered (%s) while its connection's join was held", m.Data)
	case <-time.After(200 * time.Millisecond):
	}
	g.release()
	for _, c := range []<-chan *nats.Msg{joined, left} {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Fatal("no reply")
		}
	}
	if got := roomNames(t, mem, "lobby"); len(got) != 0 {
		t.Errorf("lobby = %v after a join and then a leave, want nobody", got)
	}
}

// TestDropsARequestWhoseAskerGaveUp: a leave queued behind a held join of
// its connection (one lane), whose asker stops waiting meanwhile, is
// dropped when its lane comes to it, not served late: the connection
// stays joined, and the drop is counted. A join asked then, with time to
// wait, is served.
func TestDropsARequestWhoseAskerGaveUp(t *testing.T) {
	g := gate(t, NewMemoryStore(time.Hour, nil), conn("c"))
	store := &countedLeaves{Store: g}
	ns := natstest.Run(t)
	s := New(Config{OpTimeout: heldFor}, natstest.Connect(t, ns.ClientURL()), store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	serve(t, s)
	nc := natstest.Connect(t, ns.ClientURL())
	joined := ask(t, nc, proto.PresenceJoinSubject, joinRequest(g.conn, "Alice"))
	<-g.entered

	const budget = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	var r proto.ErrorAck
	err := rpc.Call(ctx, nc, proto.PresenceLeaveSubject, proto.PresenceLeave{ConnRef: g.conn, Deliberate: true}, &r)
	if !errors.Is(err, proto.ErrUnavailable) {
		t.Fatalf("a leave behind a held join: %v, want unavailable", err)
	}
	// The budget counts from the leave's arrival, after it was sent: it
	// has passed once the call's deadline and one more budget have.
	time.Sleep(budget)
	g.release()
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		t.Fatal("the held join was never answered")
	}
	// One more request on the lane, served after wherever the leave was.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var again proto.PresenceJoinReply
	if err := rpc.Call(ctx, nc, proto.PresenceJoinSubject, proto.PresenceJoin{ConnRef: g.conn, Username: "Alice", Room: "lobby"}, &again); err != nil {
		t.Fatalf("a join with time to wait: %v", err)
	}
	if n := store.leaves.Load(); n != 0 {
		t.Errorf("the leave its asker gave up on was served (%d leaves)", n)
	}
	if n := testutil.ToFloat64(s.metrics.expired.WithLabelValues("leave")); n != 1 {
		t.Errorf("natter_presence_expired_total{op=leave} = %v, want 1", n)
	}
	if n := testutil.ToFloat64(s.metrics.expired.WithLabelValues("join")); n != 0 {
		t.Errorf("natter_presence_expired_total{op=join} = %v, want 0", n)
	}
}

// countedLeaves counts the deliberate leaves served by its Store.
type countedLeaves struct {
	Store
	leaves atomic.Int32
}

func (c *countedLeaves) Leave(ctx context.Context, ref proto.ConnRef) (LeaveResult, error) {
	c.leaves.Add(1)
	return c.Store.Leave(ctx, ref)
}

// TestRunDrains checks that Run returns only once the requests it took
// are answered.
func TestRunDrains(t *testing.T) {
	g := gate(t, NewMemoryStore(time.Hour, nil), conn("c"))
	nc, stop, done := runService(t, Config{OpTimeout: heldFor}, g)
	replies := ask(t, nc, proto.PresenceJoinSubject, joinRequest(g.conn, "Alice"))
	<-g.entered
	stop()
	select {
	case <-done:
		t.Fatal("Run returned while a join was being served")
	case <-time.After(200 * time.Millisecond):
	}
	g.release()
	select {
	case m := <-replies:
		var r proto.PresenceJoinReply
		if err := json.Unmarshal(m.Data, &r); err != nil || r.Error != nil || r.Username != "Alice" {
			t.Errorf("join reply %s: %v", m.Data, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the join taken before the stop was never answered")
	}
	<-done
}

// TestStartWatchesTheStoresGateways checks that a replica that starts
// watches the gateways that the store says have connections: one that
// never beats (it died while no replica listened) is let go after the
// timeout, its users' leaves announced and their names freed, while one
// that beats keeps its connections.
func TestStartWatchesTheStoresGateways(t *testing.T) {
	rdb := redisClient(t)
	store := NewRedisStore(rdb, testPrefix(t, rdb), time.Hour)
	ghost := proto.ConnRef{Gateway: "ghost", Conn: "g1"}
	live := proto.ConnRef{Gateway: "live", Conn: "l1"}
	join(t, store, JoinParams{Conn: ghost, Username: "Ghost", Room: "lobby", NewToken: "tg"})
	join(t, store, JoinParams{Conn: live, Username: "Live", Room: "lobby", NewToken: "tl"})

	ns := natstest.Run(t)
	nc := natstest.Connect(t, ns.ClientURL())
	notices := make(chan *nats.Msg, 16)
	if _, err := nc.ChanSubscribe(proto.RoomPresenceSubject("lobby"), notices); err != nil {
		t.Fatal(err)
	}
	// The live gateway beats from before the replica starts.
	hb, _ := json.Marshal(proto.GatewayHeartbeat{Gateway: live.Gateway, Interval: 100})
	beating := make(chan struct{})
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			nc.Publish(proto.GatewayHeartbeatSubject, hb)
			select {
			case <-beating:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(beating); <-beats })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	cfg := Config{GatewayTimeout: 600 * time.Millisecond, Grace: 200 * time.Millisecond, ReapInterval: 50 * time.Millisecond}
	s := New(cfg, natstest.Connect(t, ns.ClientURL()), store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	serve(t, s)

	select {
	case m := <-notices:
		var n proto.LeaveNotice
		if err := json.Unmarshal(m.Data, &n); err != nil || m.Header.Get(proto.HeaderEvent) != "leave" || n.Username != "Ghost" {
			t.Fatalf("notice %s %s (%v), want Ghost's leave", m.Header.Get(proto.HeaderEvent), m.Data, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway that never beats was not let go")
	}
	if got := roomNames(t, store, "lobby"); !slices.Equal(got, []string{"Live"}) {
		t.Errorf("Members = %v, want [Live]", got)
	}
	if gws, err := store.Gateways(context.Background()); err != nil || !slices.Equal(gws, []string{live.Gateway}) {
		t.Errorf("Gateways = %v, %v; want [live]", gws, err)
	}
	// Ghost's name is free: the live connection takes it, as a new session.
	join(t, store, JoinParams{Conn: live, Username: "ghost", Room: "lobby", NewToken: "tn"})
	// The live gateway's connection outlasts several timeouts: a window to
	// watch for a leave that must not come, not a condition to poll.
	window := time.After(4 * cfg.GatewayTimeout)
	for watching := true; watching; {
		select {
		case m := <-notices:
			if ev := m.Header.Get(proto.HeaderEvent); ev == "leave" {
				t.Fatalf("unexpected leave %s", m.Data)
			}
		case <-window:
			watching = false
		}
	}
	if got := roomNames(t, store, "lobby"); !slices.Equal(got, []string{"ghost"}) {
		t.Errorf("Members = %v, want [ghost]", got)
	}
}

// TestStartOnAnEmptyStoreAsksResync checks that a replica that finds the
// store empty (it makes the epoch) asks the gateways to announce their
// connections, once it serves the joins they send: a Redis emptied while
// no replica ran, or a new key layout, is filled again.
func TestStartOnAnEmptyStoreAsksResync(t *testing.T) {
	rdb := redisClient(t)
	store := NewRedisStore(rdb, testPrefix(t, rdb), time.Hour)
	ns := natstest.Run(t)
	nc := natstest.Connect(t, ns.ClientURL())
	asked := make(chan *nats.Msg, 4)
	if _, err := nc.ChanSubscribe(proto.PresenceResyncSubject, asked); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	s := New(Config{}, natstest.Connect(t, ns.ClientURL()), store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	serve(t, s)
	select {
	case m := <-asked:
		if len(m.Data) != 0 {
			t.Errorf("resync %s, want one for every gateway", m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no resync asked on an empty store")
	}
	// Asked once presence serves: a join sent on hearing it is answered.
	r, err := nc.Request(proto.PresenceJoinSubject, joinRequest(conn("c"), "Alice"), 5*time.Second)
	if err != nil {
		t.Fatalf("join after the resync was asked: %v", err)
	}
	var reply proto.PresenceJoinReply
	if err := json.Unmarshal(r.Data, &reply); err != nil || reply.Error != nil || reply.Username != "Alice" {
		t.Errorf("join reply %s: %v", r.Data, err)
	}
}

// serve runs s until the test ends, or stop; done is closed when Run
// returns.
func serve(t *testing.T, s *Service) (stop func(), done <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-ran })
	wait.Succeeds(t, 10*time.Second, s.Ready)
	return cancel, ran
}
