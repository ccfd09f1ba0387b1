package presence

import (
	"context"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
