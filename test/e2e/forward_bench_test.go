package e2e

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natter/natter/services/presence"
)

// BenchmarkPollingForward measures what passing a polling request to the
// gateway that owns its session adds: the same POST sent to the owner
// (direct) and to another gateway (forwarded over NATS). It reports the
// median and 99th percentile of the round trip.
//
//	cd test/e2e && go test -run '^$' -bench PollingForward -benchtime 5000x
func BenchmarkPollingForward(b *testing.B) {
	s := startSystem(b, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	resp, err := http.Get(s.gateways[0].URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sid := strings.SplitN(strings.SplitN(string(body), `"sid":"`, 2)[1], `"`, 2)[0]
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, bc := range []struct {
		name string
		url  string
	}{
		{"direct", s.gateways[0].URL},
		{"forwarded", s.gateways[1].URL},
	} {
		b.Run(bc.name, func(b *testing.B) {
			url := bc.url + "/socket.io/?EIO=4&transport=polling&sid=" + sid
			took := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				r, err := client.Post(url, "text/plain;charset=UTF-8", strings.NewReader("6"))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode != 200 {
					b.Fatal(r.Status)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
