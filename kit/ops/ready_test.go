package ops

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// scrape returns the /metrics lines of srv that start with prefix.
func scrape(tb testing.TB, srv *httptest.Server, prefix string) []string {
	tb.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, prefix) {
			lines = append(lines, l)
		}
	}
	return lines
}

// natter_ready follows the Ready that /readyz answers from, at each
// scrape, beside the service's own metrics.
func TestReadyMetric(t *testing.T) {
	var down atomic.Bool
	ready := func() error {
		if down.Load() {
			return errors.New("nats: not connected")
		}
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "svc_things_total", Help: "things"}))
	srv := httptest.NewServer(Mux(reg, ready))
	defer srv.Close()

	for _, tc := range []struct {
		down   bool
		want   string
		status int
	}{
		{false, "natter_ready 1", http.StatusOK},
		{true, "natter_ready 0", http.StatusServiceUnavailable},
		{false, "natter_ready 1", http.StatusOK},
	} {
		down.Store(tc.down)
		if got := scrape(t, srv, "natter_ready "); len(got) != 1 || got[0] != tc.want {
			t.Errorf("down %v: /metrics has %q, want %q", tc.down, got, tc.want)
		}
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("down %v: /readyz %d, want %d", tc.down, resp.StatusCode, tc.status)
		}
	}
	if got := scrape(t, srv, "svc_things_total "); len(got) != 1 {
		t.Errorf("the service's own metrics lost: %q", got)
	}

	t.Run("no gatherer, no ready", func(t *testing.T) {
		srv := httptest.NewServer(Mux(nil, nil))
		defer srv.Close()
		if got := scrape(t, srv, "natter_ready "); len(got) != 1 || got[0] != "natter_ready 1" {
			t.Errorf("/metrics has %q, want natter_ready 1", got)
		}
	})
}
