package presence

import (
	"slices"
	"testing"
	"time"
)

func TestGatewayWatch(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type step struct {
		at     float64
		heard  string   // a gateway heard from
		link   *bool    // the link's state checked
		recon  uint64   // the link's reconnections, with link
		silent []string // then the gateways let go
		failed bool     // letting the silent go fails
		sync   []string // then the gateways to sync with
	}
	up, down := new(bool), new(bool)
	*up = true
	tests := []struct {
		name  string
		steps []step
	}{
		{"a gateway silent past the timeout is let go once", []step{
			{at: 0, heard: "gw1"}, {at: 0, heard: "gw2"},
			{at: 5, heard: "gw2"}, {at: 5, link: up},
			{at: 6.5, link: up, silent: []string{"gw1"}},
			{at: 7, link: up},
		}},
		{"heard again after being let go, it is synced with, once", []step{
			{at: 0, heard: "gw1"},
			{at: 7, link: up, silent: []string{"gw1"}},
			{at: 8, heard: "gw1"},
			{at: 8.5, link: up, sync: []string{"gw1"}},
			{at: 9, heard: "gw1"},
			{at: 9.5, link: up},
		}},
		{"while the link is down nobody is judged", []step{
			{at: 0, heard: "gw1"},
			{at: 1, link: down},
			{at: 10, link: down},
		}},
		{"after the link is back every gateway has a whole timeout, and is synced with once heard", []step{
			{at: 0, heard: "gw1"}, {at: 0, heard: "gw2"},
			{at: 1, link: down},
			{at: 10, link: up},
			{at: 11, heard: "gw1"},
			{at: 11.5, link: up, sync: []string{"gw1"}},
			{at: 12, heard: "gw1"},
			{at: 15.9, link: up},
			{at: 16.5, link: up, silent: []string{"gw2"}},
			{at: 17, heard: "gw2"},
			{at: 17.5, link: up, sync: []string{"gw2"}},
		}},
		{"a gateway first heard after the link came back is synced with too", []step{
			{at: 0, link: down},
			{at: 2, link: up},
			{at: 3, heard: "gw1"},
			{at: 3.5, link: up, sync: []string{"gw1"}},
			{at: 5, heard: "gw1"},
			{at: 5.5, link: up},
		}},
		{"a gateway heard before the link ever went down is not synced with", []step{
			{at: 0, heard: "gw1"},
			{at: 0.5, link: up},
			{at: 2, heard: "gw1"},
			{at: 2.5, link: up},
		}},
		{"a reconnection between two checks counts as the link coming back", []step{
			{at: 0, heard: "gw1"}, {at: 0, heard: "gw2"},
			{at: 0, link: up},
			{at: 5, link: up, recon: 1},
			{at: 6, heard: "gw1"},
			{at: 6.5, link: up, recon: 1, sync: []string{"gw1"}},
			{at: 10.9, link: up, recon: 1},
			{at: 11.5, link: up, recon: 1, silent: []string{"gw2"}},
			{at: 12.5, link: up, recon: 1, silent: []string{"gw1"}},
		}},
		{"a failed letting go is tried again at the next tick", []step{
			{at: 0, heard: "gw1"},
			{at: 7, link: up, silent: []string{"gw1"}, failed: true},
			{at: 7.5, link: up, silent: []string{"gw1"}},
			{at: 8, link: up},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newGatewayWatch(6 * time.Second)
			for i, st := range tc.steps {
				now := at(st.at)
				if st.heard != "" {
					w.heard(st.heard, now)
					continue
				}
				w.link(*st.link, st.recon, now)
				got := w.silent(now)
				slices.Sort(got)
				if !slices.Equal(got, st.silent) {
					t.Fatalf("step %d at %vs: silent %v, want %v", i, st.at, got, st.silent)
				}
				for _, gw := range got {
					w.dropped(gw, !st.failed, now)
				}
				sync := w.toSync()
				slices.Sort(sync)
				if !slices.Equal(sync, st.sync) {
					t.Fatalf("step %d at %vs: sync %v, want %v", i, st.at, sync, st.sync)
				}
			}
		})
	}
}

// TestGatewayWatchSettled: notices are held while the link is down and,
// once it is back, until every gateway known before has been heard again
// or the timeout has passed; a reconnection not yet checked counts as the
// link coming back.
func TestGatewayWatchSettled(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	w := newGatewayWatch(6 * time.Second)
	w.heard("gw1", at(0))
	w.heard("gw2", at(0))
	for _, step := range []struct {
		at         float64
		do         func(now time.Time)
		reconnects uint64
		want       bool
	}{
		{at: 1, want: true}, // never down
		{at: 2, do: func(now time.Time) { w.link(false, 0, now) }, want: false},
		{at: 10, do: func(now time.Time) { w.link(true, 1, now) }, reconnects: 1, want: false}, // back, nobody heard yet
		{at: 11, do: func(now time.Time) { w.heard("gw1", now) }, reconnects: 1, want: false},
		{at: 12, do: func(now time.Time) { w.heard("gw2", now) }, reconnects: 1, want: true},
		{at: 13, reconnects: 2, want: false}, // reconnected again, before checkLink saw it
		{at: 14, do: func(now time.Time) { w.heard("gw1", now) }, reconnects: 2, want: false},
		{at: 19.5, reconnects: 2, want: true}, // gw2 silent: the timeout passed
	} {
		now := at(step.at)
		if step.do != nil {
			step.do(now)
		}
		if got := w.settled(step.reconnects, now); got != step.want {
			t.Errorf("at %vs: settled = %v, want %v", step.at, got, step.want)
		}
	}
}
