package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/natter/natter/bench"
)

// The generator's scenarios against the hub, end to end: every message
// reaches every member in its sender's order, the rooms' counts follow the
// joins and the leaves.
func TestScenariosAgainstHub(t *testing.T) {
	srv := httptest.NewServer(handler())
	defer srv.Close()
	dialers := []*bench.Dialer{{URL: srv.URL, Transport: bench.WebSocket, Sources: 2}}
	pids := []int{os.Getpid()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("fanout", func(t *testing.T) {
		var out bytes.Buffer
		f := &bench.Fanout{Dialers: dialers, Target: "hub", Clients: 20, Senders: 3, Rates: []float64{50, 200},
			Step: 500 * time.Millisecond, Drain: 20 * time.Second, Pids: pids,
			Room: "fan", Names: "m", Scenario: "fanout", Out: &out}
		if err := f.Run(ctx); err != nil {
			t.Fatal(err)
		}
		lines := results(t, &out)
		if len(lines) != 2 {
			t.Fatalf("%d lines, want one a step:\n%s", len(lines), out.String())
		}
		for _, r := range lines {
			if r.Errors != 0 || r.Sent == 0 || r.Acked != r.Sent || r.Delivered != r.Sent*20 || r.Ratio != 1 || r.Reordered != 0 {
				t.Errorf("step %d: %+v", r.Step, r)
			}
		}
	})
	t.Run("joinstorm", func(t *testing.T) {
		var out bytes.Buffer
		j := &bench.JoinStorm{Dialers: dialers, Target: "hub", Rooms: 5, PerRoom: 20, Leave: true,
			Timeout: 20 * time.Second, Pids: pids, Prefix: "js", Out: &out}
		if err := j.Run(ctx); err != nil {
			t.Fatal(err)
		}
		r := results(t, &out)[0]
		if r.Errors != 0 || r.Joined != 100 || r.CountsOK == nil || !*r.CountsOK || r.LeftOK == nil || !*r.LeftOK {
			t.Errorf("%+v", r)
		}
	})
}

func results(t *testing.T, out *bytes.Buffer) []bench.Result {
	t.Helper()
	var rs []bench.Result
	dec := json.NewDecoder(out)
	for dec.More() {
		var r bench.Result
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return rs
}
