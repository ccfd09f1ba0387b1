package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natter/natter/kit/wait"
)

// TestHostileSuite runs every probe class of the hardening issue against
// one stack (two gateways, presence on Redis, history, NATS JetStream)
// while a canary chats through it (hostile_canary_test.go). After each
// probe: the canary lost no acked message, got none twice, was never
// disconnected and saw nothing it should not; both gateways are ready;
// the goroutines come back to where they were. The figures of each probe
// are logged as a table, and written to $NATTER_HOSTILE_REPORT if set
// (docs/reliability.md, "The hostile suite").
func TestHostileSuite(t *testing.T) {
	s := startHostile(t)
	c := startHCanary(t, s)
	defer c.halt()

	var rows []probeRow
	prev := canaryState{}
	reported := 0
	for _, p := range hostileProbes {
		g0, rss0 := runtime.NumGoroutine(), rssKB()
		c.window()
		s0 := c.sendCount()
		start := time.Now()
		var answer string
		ok := t.Run(p.name, func(t *testing.T) { answer = p.run(t, s, c) })
		took := time.Since(start)
		hostileHTTP.CloseIdleConnections()
		http.DefaultClient.CloseIdleConnections()
		// The probe's connections are closed (its cleanups ran): the
		// goroutines serving them end.
		var g1 int
		if err := wait.Until(context.Background(), 20*time.Second, func() error {
			if g1 = runtime.NumGoroutine(); g1 > g0+hostileGoroutineSlack {
				return fmt.Errorf("after %s: %d goroutines, %d before", p.name, g1, g0)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		settled := time.Since(start) - took
		// The canary chats on after the probe, some messages at least,
		// so that a probe that takes milliseconds is chatted through too
		// and harm that comes late (a gateway that falls over) shows.
		c.atLeast(s0+hostileCanaryMin, 10*time.Second)
		lat := c.window()

		st := c.verify()
		for _, pr := range st.problems[reported:] {
			t.Errorf("after %s: canary: %s", p.name, pr)
		}
		reported = len(st.problems)
		for _, u := range s.urls {
			if err := s.ready(u); err != nil {
				t.Errorf("after %s: %s not ready: %v", p.name, u, err)
			}
		}
		rows = append(rows, probeRow{
			name: p.name, sent: p.sent, answer: answer, ok: ok, took: took,
			sends: st.sends - prev.sends, lost: st.lost - prev.lost, dups: st.dups - prev.dups, maxLat: lat,
			rss0: rss0, rss1: rssKB(), g0: g0, g1: g1, settled: settled,
		})
		prev = st
	}
	c.halt()
	final := c.verify()
	for _, pr := range final.problems[reported:] {
		t.Errorf("at the end: canary: %s", pr)
	}
	report := hostileReport(rows, final)
	t.Log("\n" + report)
	if path := os.Getenv("NATTER_HOSTILE_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// hostileGoroutineSlack is how far above its count before a probe the
// process may stay after it: timers and NATS' own goroutines come and go.
const hostileGoroutineSlack = 8

// hostileCanaryMin is how many sends of the canary each probe must have
// lasted, at least (it waits for them after the probe).
const hostileCanaryMin = 10

type hostileProbe struct {
	name, sent string
	// run probes, asserting the server's answers, and returns them in
	// short for the report.
	run func(t *testing.T, s *hostileStack, c *hcanary) string
}

type probeRow struct {
	name, sent, answer    string
	ok                    bool
	took, maxLat, settled time.Duration
	sends, lost, dups     int
	rss0, rss1            int
	g0, g1                int
}

func hostileReport(rows []probeRow, final canaryState) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| probe | sent | answer | took | canary sends | acked lost | duplicates | max ack latency | RSS before → after (MB) | goroutines before → after | back to baseline in |\n")
	fmt.Fprintf(&b, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		name := r.name
		if !r.ok {
			name += " (FAILED)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %v | %d | %d | %d | %v | %.1f → %.1f | %d → %d | %v |\n",
			name, r.sent, r.answer, r.took.Round(10*time.Millisecond), r.sends, r.lost, r.dups,
			r.maxLat.Round(time.Millisecond), float64(r.rss0)/1024, float64(r.rss1)/1024, r.g0, r.g1, r.settled.Round(10*time.Millisecond))
	}
	fmt.Fprintf(&b, "\ncanary in all: %d sends, %d acked lost, %d duplicates, %d problems\n",
		final.sends, final.lost, final.dups, len(final.problems))
	return b.String()
}

// rssKB is this process's resident set, from /proc (0 where there is none).
func rssKB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
