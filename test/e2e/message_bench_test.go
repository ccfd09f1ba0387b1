package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// startUnlimited is the system in process with one gateway, presence in
// memory and no limit on the rate of messages: for the tests that send as
// fast as the gateway takes them.
func startUnlimited(tb testing.TB) *system {
	tb.Helper()
	return startSystemWith(tb, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{},
		gateway.Config{MessageRate: 1e9, MessageBurst: 1e9})
}

// reportLatency reports the median and 99th percentile of took, in µs.
func reportLatency(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkSendMessage measures the round trip of a chat message over a
// WebSocket, from the emit to its ack (stored in JetStream, on a file
// store), in process: without a clientId, and with one (which adds the
// dedup bucket's read before the publish and write after). It reports the
// median and 99th percentile. BenchmarkSendBurst sends without waiting.
//
//	cd test/e2e && go test -run '^$' -bench SendMessage -benchtime 5000x
func BenchmarkSendMessage(b *testing.B) {
	s := startUnlimited(b)
	c := dialChatter(b, s.gateways[0].URL, "bench", "bench")
	id := 1
	for _, bc := range []struct {
		name     string
		clientID bool
	}{{"no-clientId", false}, {"clientId", true}} {
		b.Run(bc.name, func(b *testing.B) {
			took := make([]time.Duration, 0, b.N)
			for b.Loop() {
				id++
				extra := ""
				if bc.clientID {
					extra = fmt.Sprintf(`,"clientId":"c%d"`, id)
				}
				start := time.Now()
				c.send(fmt.Sprintf(`42%d["client message",{"message":"hello"%s}]`, id, extra))
				if ack := c.readUntil(fmt.Sprintf("43%d[", id)); !strings.Contains(ack, `"ok":true`) {
					b.Fatal(ack)
				}
				took = append(took, time.Since(start))
			}
			reportLatency(b, took)
		})
	}
}

// BenchmarkSendBurst measures one connection sending as fast as it can:
// bursts of 64 messages, each burst sent without waiting for an ack, then
// its acks read. It reports messages acked per second: bounded by one
// store's round trip per message if the gateway waited for each before
// reading the next, by the stream's throughput if it does not.
//
//	cd test/e2e && go test -run '^$' -bench SendBurst -benchtime 5000x
func BenchmarkSendBurst(b *testing.B) {
	const burst = 64
	s := startUnlimited(b)
	c := dialChatter(b, s.gateways[0].URL, "bench", "bench")
	start := time.Now()
	for sent := 0; sent < b.N; {
		k := min(burst, b.N-sent)
		for i := range k {
			c.send(fmt.Sprintf(`42%d["client message",{"message":"hello"}]`, sent+i))
		}
		for range k {
			if ack := c.readUntil("43"); !strings.Contains(ack, `"ok":true`) {
				b.Fatal(ack)
			}
		}
		sent += k
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "acked/s")
}
