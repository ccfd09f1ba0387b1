package presence

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
)

// metrics are the presence service's Prometheus metrics; see docs/metrics.md.
type metrics struct {
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// expired counts requests dropped unserved: their asker had given up.
	expired   *prometheus.CounterVec
	announced *prometheus.CounterVec
	// gatewaysDropped counts gateways whose heartbeats stopped.
	gatewaysDropped prometheus.Counter
	resyncs         prometheus.Counter
	// linkDown counts the times presence found its own NATS link down.
	linkDown  prometheus.Counter
	rooms     prometheus.Gauge
	roomUsers prometheus.Gauge
	online    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_presence_ops_total",
			Help: "Presence operations, by operation and result (ok or an error code).",
		}, []string{"op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "natter_presence_op_duration_seconds",
			Help:    "Time to answer a presence operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"op"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_presence_expired_total",
			Help: "Requests dropped unanswered, by operation: their asker's budget (the Natter-Budget header) passed while they waited for a lane.",
		}, []string{"op"}),
		announced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_presence_announcements_total",
			Help: "Join, leave and moderation notices published to rooms.",
		}, []string{"event"}),
		gatewaysDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_presence_gateways_dropped_total",
			Help: "Gateways whose heartbeats stopped; their connections were let go.",
		}),
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natter_presence_rooms",
			Help: "Rooms with users, as the store says (updated every few seconds).",
		}),
		roomUsers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natter_presence_room_users",
			Help: "Users in rooms, each user counted once per room (updated every few seconds).",
		}),
		online: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natter_presence_online_sessions",
			Help: "Sessions with at least one connection, as the store says (updated every few seconds).",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_presence_resyncs_total",
			Help: "Times gateways were asked to resync: the store had lost its state, or a gateway let go was heard again.",
		}),
		linkDown: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_presence_nats_link_down_total",
			Help: "Times presence found its own NATS link down (no round trip within 1s); meanwhile no gateway is let go.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.ops, m.duration, m.expired, m.announced, m.gatewaysDropped, m.resyncs, m.linkDown, m.rooms, m.roomUsers, m.online)
	}
	return m
}

// serves makes op's series of operations served and of requests dropped
// exist from the start, at 0: a panel or alert of an operation that has
// not happened yet (a rename, a request dropped in a storm) then shows 0,
// not "no data".
func (m *metrics) serves(op string) {
	m.ops.WithLabelValues(op, "ok")
	m.duration.WithLabelValues(op)
	m.expired.WithLabelValues(op)
}

// observe counts an operation by the error its reply carries, if any.
func (m *metrics) observe(op string, start time.Time, reply any) {
	result := "ok"
	var e *proto.Error
	switch r := reply.(type) {
	case proto.PresenceJoinReply:
		e = r.Error
	case proto.PresenceLookupReply:
		e = r.Error
	case proto.PresenceMembersReply:
		e = r.Error
	case proto.PresenceRoomsReply:
		e = r.Error
	case proto.PresenceRenameReply:
		e = r.Error
	case proto.ErrorAck:
		e = r.Error
	}
	if e != nil {
		result = e.Code
	}
	m.ops.WithLabelValues(op, result).Inc()
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
