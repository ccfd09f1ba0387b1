package bench

import (
	"encoding/json"
	"io"
	"math"
	"time"
)

// Result is what one run (or one step of a sweep) prints: one JSON line.
// Fields a scenario does not measure are left out.
type Result struct {
	Scenario  string   `json:"scenario"` // fanout, sweep, joinstorm, idle, soak
	Target    string   `json:"target"`   // a label: natter, seed, hub, ...
	URLs      []string `json:"urls"`
	Transport string   `json:"transport"`
	Time      string   `json:"time"` // when it ended, UTC

	// fanout, sweep and soak
	Clients      int     `json:"clients,omitempty"`
	Senders      int     `json:"senders,omitempty"`
	Step         int     `json:"step,omitempty"`
	Rate         float64 `json:"rate,omitempty"`         // messages/s into the room, the target
	TargetPerSec float64 `json:"target_per_s,omitempty"` // deliveries/s the rate asks for
	Seconds      float64 `json:"seconds,omitempty"`      // how long it sent
	Sent         int64   `json:"sent,omitempty"`         // messages written
	Acked        int64   `json:"acked,omitempty"`        // acked ok:true
	Expected     int64   `json:"expected,omitempty"`     // deliveries due: sent × clients
	Delivered    int64   `json:"delivered,omitempty"`    // deliveries received in time
	DeliveredPS  float64 `json:"delivered_per_s,omitempty"`
	Ratio        float64 `json:"ratio,omitempty"`
	P50          float64 `json:"p50_ms,omitempty"` // delivery latency: due to received
	P99          float64 `json:"p99_ms,omitempty"`
	P999         float64 `json:"p999_ms,omitempty"`
	Max          float64 `json:"max_ms,omitempty"`
	AckP50       float64 `json:"ack_p50_ms,omitempty"`
	AckP99       float64 `json:"ack_p99_ms,omitempty"`
	Reordered    int64   `json:"reordered,omitempty"` // a sender's messages received out of its order
	Pass         *bool   `json:"pass,omitempty"`      // 0 errors, ≥ 99.9 % delivered, p99 < 100 ms
	MaxRate      float64 `json:"max_rate,omitempty"`  // sweep: the highest rate that passed
	MaxPerSec    float64 `json:"max_delivered_per_s,omitempty"`

	// joinstorm
	Rooms       int     `json:"rooms,omitempty"`
	PerRoom     int     `json:"per_room,omitempty"`
	Joined      int64   `json:"joined,omitempty"`
	JoinSeconds float64 `json:"join_s,omitempty"` // start to the last join ack
	JoinP50     float64 `json:"join_p50_ms,omitempty"`
	JoinP99     float64 `json:"join_p99_ms,omitempty"`
	// The storm's two stages: start to the last connection open (the
	// Engine.IO and Socket.IO handshakes), and each join's own round trip
	// (from its connection open to its ack).
	ConnectSeconds float64 `json:"connect_s,omitempty"`
	ConnectP50     float64 `json:"connect_p50_ms,omitempty"`
	JoinRTTP50     float64 `json:"join_rtt_p50_ms,omitempty"`
	JoinRTTP99     float64 `json:"join_rtt_p99_ms,omitempty"`
	Notices        int64   `json:"join_notices,omitempty"` // join notices received during the storm
	CountsOK       *bool   `json:"counts_ok,omitempty"`    // rooms' counts equal the joins
	LeaveSeconds   float64 `json:"leave_s,omitempty"`      // close of all to rooms' counts at zero
	LeftOK         *bool   `json:"left_ok,omitempty"`

	// idle
	Conns       int     `json:"conns,omitempty"`
	RSSBeforeKB int64   `json:"rss_before_kb,omitempty"`
	RSSAfterKB  int64   `json:"rss_after_kb,omitempty"`
	PerConnKB   float64 `json:"rss_per_conn_kb,omitempty"`

	// every scenario
	Errors    int64            `json:"errors"`
	ErrorKind map[string]int64 `json:"error_kinds,omitempty"`
	CPU       float64          `json:"cpu_pct"`           // the server pids, 100 = one core
	RSSKB     int64            `json:"rss_kb"`            // the server pids, at the end
	Pids      []int            `json:"pids,omitempty"`    // the server pids measured
	GenCPU    float64          `json:"generator_cpu_pct"` // this process
	FirstErr  string           `json:"first_error,omitempty"`
}

// Write prints r as one JSON line.
func (r *Result) Write(w io.Writer) error {
	r.Time = time.Now().UTC().Format(time.RFC3339)
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// errorCounts tallies errors by kind and keeps the first one's text.
type errorCounts struct {
	kinds map[string]int64
	first string
}

func (e *errorCounts) add(kind string, n int64, err error) {
	if n == 0 {
		return
	}
	if e.kinds == nil {
		e.kinds = map[string]int64{}
	}
	e.kinds[kind] += n
	if e.first == "" {
		e.first = kind
		if err != nil {
			e.first += ": " + err.Error()
		}
	}
}

func (e *errorCounts) fill(r *Result) {
	r.ErrorKind = e.kinds
	r.Errors = 0
	for _, n := range e.kinds {
		r.Errors += n
	}
	r.FirstErr = e.first
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func ptr[T any](v T) *T { return &v }
