package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/services/gateway/internal/engineio"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// metrics are the gateway's Prometheus metrics; see docs/metrics.md.
type metrics struct {
	sessions      *prometheus.GaugeVec
	opened        *prometheus.CounterVec
	closed        *prometheus.CounterVec
	upgrades      prometheus.Counter
	slowConsumers prometheus.Counter
	wsWrites      prometheus.Counter
	wsFrames      prometheus.Counter
	// Input that took too long, and what waits for the rest of a packet.
	bodyTimeouts       prometheus.Counter
	attachmentTimeouts prometheus.Counter
	partialBytes       prometheus.Gauge
}

var (
	_ engineio.Observer = (*metrics)(nil)
	_ socketio.Observer = (*metrics)(nil)
)

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "natter_gateway_sessions",
			Help: "Open Engine.IO sessions, by transport.",
		}, []string{"transport"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_sessions_opened_total",
			Help: "Engine.IO sessions opened, by the transport they opened on.",
		}, []string{"transport"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_sessions_closed_total",
			Help: "Engine.IO sessions closed, by transport and reason.",
		}, []string{"transport", "reason"}),
		upgrades: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_upgrades_total",
			Help: "Sessions upgraded from polling to WebSocket.",
		}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_slow_consumer_disconnects_total",
			Help: "Sessions closed because their send queue overflowed.",
		}),
		wsWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_websocket_writes_total",
			Help: "Writes (writev syscalls) to WebSocket connections.",
		}),
		wsFrames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_websocket_frames_total",
			Help: "Frames written to WebSocket connections; over writes, the frames each write carried.",
		}),
		bodyTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_body_timeouts_total",
			Help: "Requests whose body did not arrive within the body timeout.",
		}),
		attachmentTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_attachment_timeouts_total",
			Help: "Sessions closed because a packet's binary attachments did not arrive in time.",
		}),
		partialBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natter_gateway_partial_packet_bytes",
			Help: "Bytes held for Socket.IO packets whose attachments have not all arrived.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.opened, m.closed, m.upgrades, m.slowConsumers, m.wsWrites, m.wsFrames,
			m.bodyTimeouts, m.attachmentTimeouts, m.partialBytes)
	}
	return m
}

func (m *metrics) SessionOpened(transport string) {
	m.sessions.WithLabelValues(transport).Inc()
	m.opened.WithLabelValues(transport).Inc()
}

func (m *metrics) SessionClosed(transport, reason string) {
	m.sessions.WithLabelValues(transport).Dec()
	m.closed.WithLabelValues(transport, reason).Inc()
}

func (m *metrics) Upgraded() {
	m.sessions.WithLabelValues("polling").Dec()
	m.sessions.WithLabelValues("websocket").Inc()
	m.upgrades.Inc()
}

func (m *metrics) SlowConsumer() { m.slowConsumers.Inc() }

func (m *metrics) WebSocketWrite(frames int) {
	m.wsWrites.Inc()
	m.wsFrames.Add(float64(frames))
}

func (m *metrics) AttachmentsTimedOut() { m.attachmentTimeouts.Inc() }

func (m *metrics) PartialBytes(delta int) { m.partialBytes.Add(float64(delta)) }

// chatMetrics are the chat layer's; labels never carry names, rooms or text.
type chatMetrics struct {
	rooms         prometheus.Gauge
	messagesIn    prometheus.Counter
	messagesOut   prometheus.Counter
	whispers      prometheus.Counter
	publishErrors prometheus.Counter
	rateLimited   prometheus.Counter
	limited       *prometheus.CounterVec
	fanOut        prometheus.Histogram
	dedupHits     *prometheus.CounterVec
	recoveries    *prometheus.CounterVec
	backfilled    *prometheus.CounterVec
	waiting       prometheus.Gauge // joins and leaves waiting for admission
}

// Results of a backfill, as the label of natter_gateway_backfilled_total.
const (
	backfillOK     = "ok"
	backfillFailed = "unavailable"
)

// Results of a recovery, as the label of natter_gateway_recoveries_total.
const (
	recoveryOK      = "recovered"
	recoveryUnknown = "unknown"     // no state for the pid (expired, or forged)
	recoveryGap     = "gap"         // what was missed is no longer all stored
	recoveryRefused = "refused"     // presence would not take the user back
	recoveryError   = "unavailable" // NATS, JetStream or presence failed
)

func newChatMetrics(reg prometheus.Registerer) *chatMetrics {
	m := &chatMetrics{
		rooms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natter_gateway_rooms",
			Help: "Rooms with local members (each holds one NATS subscription).",
		}),
		messagesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_messages_in_total",
			Help: "Chat messages received from clients and stored.",
		}),
		messagesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_messages_out_total",
			Help: "Chat messages written to local clients (one per recipient).",
		}),
		whispers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_whispers_total",
			Help: "Whispers sent by local clients and stored.",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_publish_errors_total",
			Help: "Chat messages and whispers whose publish failed (acked unavailable, or unknown_outcome when it may be stored).",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_rate_limited_total",
			Help: "Messages and whispers refused by flood control (any scope; see natter_gateway_limited_total).",
		}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_limited_total",
			Help: "Client events refused by flood control, by event and by the scope whose budget was spent (conn, user, addr); typing notices also dropped by coalescing, as scope coalesced (from local typists) and coalesced_in (to local members).",
		}, []string{"event", "scope"}),
		fanOut: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "natter_gateway_fanout_latency_seconds",
			Help:    "From JetStream storing a message to its frames being queued for local clients.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		dedupHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_dedup_hits_total",
			Help: "Resent messages (same clientId) answered with the stored one instead of being stored again, by what caught them: jetstream (its window) or bucket (the guard past it).",
		}, []string{"guard"}),
		recoveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_recoveries_total",
			Help: "Connection state recovery attempts (a CONNECT with pid and offset), by result.",
		}, []string{"result"}),
		backfilled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_backfilled_total",
			Help: "Stored room messages that the stream's republish did not bring (a leader lost, a slow NATS subscription), read back from the stream and delivered in order (result ok), or that could not be (unavailable).",
		}, []string{"result"}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "natter_gateway_presence_waiting",
			Help: "Joins and leaves waiting for one of the gateway's slots for presence work (64 under way at once).",
		}),
	}
	for _, r := range []string{backfillOK, backfillFailed} {
		m.backfilled.WithLabelValues(r)
	}
	for _, scope := range []string{"coalesced", "coalesced_in"} {
		m.limited.WithLabelValues(limitTyping, scope)
	}
	for _, g := range []string{"jetstream", "bucket"} {
		m.dedupHits.WithLabelValues(g) // a series from the start, at 0
	}
	for _, r := range []string{recoveryOK, recoveryUnknown, recoveryGap, recoveryRefused, recoveryError} {
		m.recoveries.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.rooms, m.messagesIn, m.messagesOut, m.whispers, m.publishErrors, m.rateLimited, m.limited, m.fanOut,
			m.dedupHits, m.recoveries, m.backfilled, m.waiting)
	}
	return m
}

// observeFanOut records the fan-out latency of a message stored at
// stamp (JetStream's Nats-Time-Stamp header, RFC 3339).
func (m *chatMetrics) observeFanOut(stamp string) {
	if t, err := time.Parse(time.RFC3339Nano, stamp); err == nil {
		m.fanOut.Observe(time.Since(t).Seconds())
	}
}
