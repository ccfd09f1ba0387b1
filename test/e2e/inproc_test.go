package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/testlog"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// system is natter in this process: history, presence and gateways on one
// NATS server, each service on its own connection.
type system struct {
	nats     *natstest.Server
	gateways []*gatewayServer
	services []*gateway.Service     // the gateways, as gateways[i] serves them
	metrics  []*prometheus.Registry // theirs
	conns    []*nats.Conn           // their NATS connections
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	// stopHistory stops the history service, its NATS connection closed:
	// nothing answers history queries until startHistory starts another.
	stopHistory, startHistory func()
}

// history returns the newest page of room's history, asked of the history
// service as a gateway asks it.
func (s *system) history(tb testing.TB, room string) []proto.Message {
	tb.Helper()
	q, _ := json.Marshal(proto.HistoryQuery{Room: room, Limit: proto.MaxHistoryPage})
	msg, err := s.conns[0].Request(proto.HistoryQuerySubject, q, 5*time.Second)
	if err != nil {
		tb.Fatalf("history of %s: %v", room, err)
	}
	var r proto.HistoryReply
	if err := json.Unmarshal(msg.Data, &r); err != nil || r.Error != nil {
		tb.Fatalf("history of %s: %v %v", room, err, r.Error)
	}
	return r.Messages
}

// stored returns how many times room's newest page holds text.
func (s *system) stored(tb testing.TB, room, text string) int {
	tb.Helper()
	n := 0
	for _, m := range s.history(tb, room) {
		if m.Message == text {
			n++
		}
	}
	return n
}

// startSystem runs history, presence (with store) and n gateways.
func startSystem(tb testing.TB, store presence.Store, n int, pcfg presence.Config) *system {
	tb.Helper()
	return startSystemWith(tb, store, n, pcfg, history.Config{}, gateway.Config{})
}

// startSystemWith is startSystem with the history service configured by
// hcfg and the gateways by gcfg (their IDs aside).
func startSystemWith(tb testing.TB, store presence.Store, n int, pcfg presence.Config, hcfg history.Config, gcfg gateway.Config) *system {
	tb.Helper()
	ns := natstest.Run(tb)
	ctx, cancel := context.WithCancel(context.Background())
	s := &system{nats: ns, cancel: cancel}
	log := testlog.Logger(tb, "")
	connect := func() *nats.Conn { return natstest.Connect(tb, ns.ClientURL(), nats.MaxReconnects(-1)) }
	run := func(f func(context.Context) error) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := f(ctx); err != nil {
				tb.Errorf("service: %v", err)
			}
		}()
	}

	s.startHistory = func() {
		hctx, stop := context.WithCancel(ctx)
		nc := connect()
		hist, err := history.New(hcfg, nc, log, prometheus.NewRegistry())
		if err != nil {
			tb.Fatal(err)
		}
		done := make(chan struct{})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(done)
			if err := hist.Run(hctx); err != nil {
				tb.Errorf("history: %v", err)
			}
		}()
		waitReady(tb, hist.Ready)
		s.stopHistory = func() {
			stop()
			<-done
			nc.Close()
		}
	}
	s.startHistory()
	pres := presence.New(pcfg, connect(), store, log, prometheus.NewRegistry())
	run(pres.Run)
	waitReady(tb, pres.Ready)
	for i := range n {
		// The listener first: the gateway advertises its address.
		l := listen(tb)
		reg := prometheus.NewRegistry()
		cfg := gcfg
		cfg.ID, cfg.AdvertiseAddr, cfg.Listener = "gw"+string(rune('1'+i)), l.Addr().String(), l
		nc := connect()
		gw, err := gateway.New(cfg, nc, log, reg)
		if err != nil {
			tb.Fatal(err)
		}
		// Stopped after the other services, by a cleanup of its own.
		runGateway(tb, gw)
		s.gateways = append(s.gateways, &gatewayServer{URL: "http://" + l.Addr().String(), Listener: l})
		s.services = append(s.services, gw)
		s.metrics = append(s.metrics, reg)
		s.conns = append(s.conns, nc)
	}
	tb.Cleanup(func() {
		cancel()
		s.wg.Wait()
	})
	return s
}

// gatewayServer is where one of a system's gateways serves.
type gatewayServer struct {
	URL      string // http://host:port
	Listener net.Listener
}

// listen returns a listener on a free loopback port, for a gateway's
// Config.Listener: its address is known before the gateway is made.
func listen(tb testing.TB) net.Listener {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// runGateway runs gw until the test ends, when a cleanup stops it and
// waits for its drain; it returns once gw is ready.
func runGateway(tb testing.TB, gw *gateway.Service) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := gw.Run(ctx); err != nil {
			tb.Errorf("gateway: %v", err)
		}
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	waitReady(tb, gw.Ready)
}

func waitReady(tb testing.TB, ready func() error) {
	tb.Helper()
	wait.Succeeds(tb, 10*time.Second, ready)
}

// TestChatInProcess runs the chat scenarios of test/client/chat.test.mjs
// with A and B on one gateway and C on another.
func TestChatInProcess(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	nodetest.Run(t, "chat.test.mjs", 5*time.Minute,
		"NATTER_URL="+s.gateways[0].URL, "NATTER_URL_2="+s.gateways[1].URL)
}

// TestPresenceInProcess runs test/client/presence.test.mjs: tabs, reloads,
// grace periods and impostor names, on two gateways.
func TestPresenceInProcess(t *testing.T) {
	const grace = time.Second
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{Grace: grace})
	nodetest.Run(t, "presence.test.mjs", 2*time.Minute, "NATTER_URL="+s.gateways[0].URL,
		"NATTER_URL_2="+s.gateways[1].URL, fmt.Sprintf("NATTER_GRACE_MS=%d", grace.Milliseconds()))
}

// TestDeliveryInProcess runs test/client/delivery.test.mjs on two
// gateways: resends stored once (within JetStream's deduplication window,
// shortened here to a second, and past it), whispers private, joins that
// resume, and connections recovered.
func TestDeliveryInProcess(t *testing.T) {
	const window = time.Second
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{Duplicates: window}, gateway.Config{})
	nodetest.Run(t, "delivery.test.mjs", 3*time.Minute, "NATTER_URL="+s.gateways[0].URL,
		"NATTER_URL_2="+s.gateways[1].URL, fmt.Sprintf("NATTER_DEDUP_WINDOW_MS=%d", window.Milliseconds()))
}

// TestWhispersOfAFreedNameInProcess runs the test of delivery.test.mjs that
// needs a short session time to live: a user's session ends, another user
// takes the name, and neither reaches the other's whispers (history, live,
// recovery, the old token).
func TestWhispersOfAFreedNameInProcess(t *testing.T) {
	const ttl, grace = 3 * time.Second, time.Second
	s := startSystem(t, presence.NewMemoryStore(ttl, nil), 2, presence.Config{Grace: grace})
	runNodeTests(t, "delivery.test.mjs", "freed name", 3*time.Minute, "NATTER_URL="+s.gateways[0].URL,
		"NATTER_URL_2="+s.gateways[1].URL, fmt.Sprintf("NATTER_SESSION_TTL_MS=%d", ttl.Milliseconds()))
}
