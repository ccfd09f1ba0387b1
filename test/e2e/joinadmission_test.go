package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/testlog"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
)

// presenceWork is the gateway's bound on joins and leaves under way at
// once (services/gateway/admission.go, maxPresenceWork).
const presenceWork = 64

// TestJoinsUnderWayBounded: a storm of joins on one gateway has at most
// presenceWork of them asking presence at once; the others wait in the
// gateway (natter_gateway_presence_waiting), not on its NATS connection,
// and are asked, and acked, as the first are answered. Presence here is a
// stand-in that holds every join until released, so that what is under
// way can be counted.
func TestJoinsUnderWayBounded(t *testing.T) {
	const joins = presenceWork + 16
	ns := natstest.Run(t)
	ctx, cancel := context.WithCancel(context.Background())
	hist, err := history.New(history.Config{}, natstest.Connect(t, ns.ClientURL()), testlog.Logger(t, ""), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	histDone := make(chan struct{})
	go func() {
		defer close(histDone)
		hist.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-histDone })
	waitReady(t, hist.Ready)

	var (
		mu      sync.Mutex
		held    []*nats.Msg
		release bool
	)
	answer := func(m *nats.Msg) {
		var req proto.PresenceJoin
		json.Unmarshal(m.Data, &req)
		b, _ := json.Marshal(proto.PresenceJoinReply{Username: req.Username, Color: "#000000", Token: "t-" + req.Conn, Room: req.Room, MemberCount: 1})
		m.Respond(b)
	}
	pnc := natstest.Connect(t, ns.ClientURL())
	if _, err := pnc.QueueSubscribe(proto.PresenceJoinSubject, proto.PresenceQueue, func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if release {
			answer(m)
			return
		}
		held = append(held, m)
	}); err != nil {
		t.Fatal(err)
	}
	// The leaves of the test's end, answered at once.
	if _, err := pnc.QueueSubscribe(proto.PresenceLeaveSubject, proto.PresenceQueue, func(m *nats.Msg) {
		m.Respond([]byte(`{"ok":true}`))
	}); err != nil {
		t.Fatal(err)
	}
	pnc.Flush()

	l := listen(t)
	reg := prometheus.NewRegistry()
	gw, err := gateway.New(gateway.Config{ID: "gw1", Listener: l, RequestTimeout: time.Minute}, natstest.Connect(t, ns.ClientURL()), testlog.Logger(t, ""), reg)
	if err != nil {
		t.Fatal(err)
	}
	runGateway(t, gw)
	url := "http://" + l.Addr().String()
	free := func() {
		mu.Lock()
		defer mu.Unlock()
		release = true
		for _, m := range held {
			answer(m)
		}
		held = nil
	}
	t.Cleanup(free) // before the gateway's drain, when the test fails

	clients := make([]*wsChatter, joins)
	for i := range clients {
		clients[i] = dialSocket(t, url)
		clients[i].send(fmt.Sprintf(`421["join",{"username":"u%d","room":"r%d"}]`, i, i%4))
	}
	heldNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(held)
	}
	// Every join is either asked or waiting: then none more can be asked
	// until one is answered.
	wait.Eventually(t, 20*time.Second, func() bool {
		return heldNow()+int(metricValue(t, reg, "natter_gateway_presence_waiting")) == joins
	}, "every join asked of presence or waiting in the gateway")
	pnc.Flush()
	if n := heldNow(); n != presenceWork {
		t.Fatalf("%d joins asked of presence at once, want %d (and %d waiting)", n, presenceWork, joins-presenceWork)
	}

	free()
	for i, c := range clients {
		if ack := c.readUntil("431["); !strings.Contains(ack, `"ok":true`) {
			t.Fatalf("join %d: %s", i, ack)
		}
	}
	if n := metricValue(t, reg, "natter_gateway_presence_waiting"); n != 0 {
		t.Errorf("natter_gateway_presence_waiting = %v once every join is acked", n)
	}
}
