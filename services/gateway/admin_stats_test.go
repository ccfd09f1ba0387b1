package gateway

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
)

// testStats is a gatewayStats of id on its own NATS connection, with
// metrics of its own and no members.
func testStats(t *testing.T, url, id string) *gatewayStats {
	t.Helper()
	g := &gatewayStats{
		id: id, nc: natstest.Connect(t, url), eng: newMetrics(nil), chat: newChatMetrics(prometheus.NewRegistry()),
		members: func() []*member { return nil }, heard: map[string]time.Time{},
	}
	if err := g.start(true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.close)
	return g
}

// TestGatewayStatsGather: a gateway gathers every gateway's own counts
// over NATS, and names the one whose heartbeat it heard but which did
// not answer.
func TestGatewayStatsGather(t *testing.T) {
	ns := natstest.Run(t)
	a, b := testStats(t, ns.ClientURL(), "gw-a"), testStats(t, ns.ClientURL(), "gw-b")
	b.eng.SessionOpened("polling")
	b.eng.SessionOpened("polling")
	b.eng.SessionOpened("websocket")
	b.eng.Upgraded() // one of the polling ones
	b.chat.messagesIn.Add(7)

	nc := natstest.Connect(t, ns.ClientURL())
	for _, id := range []string{"gw-b", "gw-ghost"} {
		hb, _ := json.Marshal(proto.GatewayHeartbeat{Gateway: id, Interval: 60_000})
		nc.Publish(proto.GatewayHeartbeatSubject, hb)
	}
	nc.Flush()
	wait.Eventually(t, 5*time.Second, func() bool { return len(a.expected(time.Now())) == 3 }, "the heartbeats heard")

	start := time.Now()
	reply, err := a.gather()
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < statsWait/2 {
		t.Errorf("gathered in %v: it should have waited for gw-ghost", took)
	}
	ids := []string{}
	for _, st := range reply.Gateways {
		ids = append(ids, st.Gateway)
	}
	if !slices.Equal(ids, []string{"gw-a", "gw-b"}) || !slices.Equal(reply.Missing, []string{"gw-ghost"}) {
		t.Fatalf("gateways %v, missing %v; want gw-a and gw-b, gw-ghost missing", ids, reply.Missing)
	}
	gb := reply.Gateways[1]
	if gb.Transports["polling"] != 1 || gb.Transports["websocket"] != 2 || gb.MessagesIn != 7 {
		t.Errorf("gw-b's stats %+v, want 1 polling, 2 websocket, 7 messages in", gb)
	}

	// Without the ghost, the answers of the expected end the wait.
	a.mu.Lock()
	delete(a.heard, "gw-ghost")
	a.mu.Unlock()
	start = time.Now()
	if reply, _ := a.gather(); len(reply.Gateways) != 2 || len(reply.Missing) != 0 {
		t.Errorf("gathered %+v", reply)
	}
	if took := time.Since(start); took >= statsWait {
		t.Errorf("gathered in %v, want as soon as both answered", took)
	}
}
