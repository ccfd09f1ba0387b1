package gateway

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/natter/natter/proto"
)

// statsWait bounds the gathering of every gateway's stats: a gateway that
// has not answered by then is reported missing.
const statsWait = time.Second

// gatewayStats answers proto.GatewayStatsSubject with this gateway's
// proto.GatewayStats, read from its own counters and gauges (the values
// /metrics serves, read in-process), and, for the admin page, gathers
// every gateway's. Every gateway answers, whether or not its admin page
// is on, so that any one with the page on sees them all.
type gatewayStats struct {
	id      string
	nc      *nats.Conn
	eng     *metrics
	chat    *chatMetrics
	members func() []*member // the hub's snapshot

	subs []*nats.Subscription

	mu    sync.Mutex
	heard map[string]time.Time // gateway id: until when its last heartbeat vouches for it
}

func newGatewayStats(id string, nc *nats.Conn, eng *metrics, ch *chat) *gatewayStats {
	return &gatewayStats{id: id, nc: nc, eng: eng, chat: ch.metrics, members: ch.hub.snapshot, heard: make(map[string]time.Time)}
}

// start answers the stats requests and, with gathering (the admin page
// is on), listens to the gateways' heartbeats to know which should
// answer: N gateways with the page on hear N beats each.
func (g *gatewayStats) start(gathering bool) error {
	sub, err := g.nc.Subscribe(proto.GatewayStatsSubject, func(m *nats.Msg) {
		if m.Reply != "" {
			data, _ := json.Marshal(g.local())
			m.Respond(data)
		}
	})
	if err != nil {
		return err
	}
	g.subs = append(g.subs, sub)
	if !gathering {
		return nil
	}
	sub, err = g.nc.Subscribe(proto.GatewayHeartbeatSubject, func(m *nats.Msg) {
		var hb proto.GatewayHeartbeat
		if json.Unmarshal(m.Data, &hb) != nil || !proto.ValidGatewayID(hb.Gateway) || hb.Interval <= 0 {
			return
		}
		// Three beats missed, and it is no longer expected to answer.
		until := time.Now().Add(3 * time.Duration(hb.Interval) * time.Millisecond)
		g.mu.Lock()
		g.heard[hb.Gateway] = until
		g.mu.Unlock()
	})
	if err != nil {
		g.close()
		return err
	}
	g.subs = append(g.subs, sub)
	return nil
}

func (g *gatewayStats) close() {
	for _, sub := range g.subs {
		sub.Unsubscribe()
	}
	g.subs = nil
}

// local reads this gateway's stats.
func (g *gatewayStats) local() proto.GatewayStats {
	st := proto.GatewayStats{
		Gateway:     g.id,
		Transports:  map[string]int{},
		Joined:      len(g.members()),
		Rooms:       int(gaugeValue(g.chat.rooms)),
		MessagesIn:  uint64(counterValue(g.chat.messagesIn)),
		MessagesOut: uint64(counterValue(g.chat.messagesOut)),
		Whispers:    uint64(counterValue(g.chat.whispers)),
		TS:          time.Now().UnixMilli(),
	}
	for _, t := range []string{"websocket", "polling"} {
		st.Transports[t] = int(gaugeValue(g.eng.sessions.WithLabelValues(t)))
	}
	return st
}

// expected returns the gateways whose heartbeats say they live, this one
// among them, and forgets the others.
func (g *gatewayStats) expected(now time.Time) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ids := []string{g.id}
	for id, until := range g.heard {
		switch {
		case now.After(until):
			delete(g.heard, id)
		case id != g.id:
			ids = append(ids, id)
		}
	}
	return ids
}

// gather asks every gateway for its stats and waits for the answers of
// the ones expected, or statsWait: a scatter over NATS, each gateway
// answering on one inbox.
func (g *gatewayStats) gather() (proto.AdminGatewaysReply, error) {
	expected := g.expected(time.Now())
	inbox := g.nc.NewRespInbox()
	sub, err := g.nc.SubscribeSync(inbox)
	if err != nil {
		return proto.AdminGatewaysReply{}, proto.ErrUnavailable
	}
	defer sub.Unsubscribe()
	if err := g.nc.PublishRequest(proto.GatewayStatsSubject, inbox, nil); err != nil {
		return proto.AdminGatewaysReply{}, proto.ErrUnavailable
	}
	got := map[string]proto.GatewayStats{}
	deadline := time.Now().Add(statsWait)
	for !containsAll(got, expected) {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		m, err := sub.NextMsg(left)
		if err != nil {
			break // the deadline, or the connection closed
		}
		var st proto.GatewayStats
		if json.Unmarshal(m.Data, &st) == nil && proto.ValidGatewayID(st.Gateway) {
			got[st.Gateway] = st
		}
	}
	reply := proto.AdminGatewaysReply{OK: true, Gateways: []proto.GatewayStats{}, Missing: []string{}}
	for _, st := range got {
		reply.Gateways = append(reply.Gateways, st)
	}
	slices.SortFunc(reply.Gateways, func(a, b proto.GatewayStats) int { return strings.Compare(a.Gateway, b.Gateway) })
	for _, id := range expected {
		if _, ok := got[id]; !ok {
			reply.Missing = append(reply.Missing, id)
		}
	}
	slices.Sort(reply.Missing)
	return reply, nil
}

func containsAll(got map[string]proto.GatewayStats, ids []string) bool {
	for _, id := range ids {
		if _, ok := got[id]; !ok {
			return false
		}
	}
	return true
}

// gaugeValue and counterValue read a metric in-process.
func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if g.Write(&m) != nil {
		return 0
	}
	return m.GetGauge().GetValue()
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if c.Write(&m) != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
