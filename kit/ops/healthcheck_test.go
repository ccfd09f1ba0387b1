package ops

import (
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// listenPort returns the port of a listen address, as ":port", the form
// compose gives NATTER_HTTP_ADDR, which the probe must turn into 127.0.0.1.
func listenPort(tb testing.TB, addr string) string {
	tb.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	return ":" + port
}

func TestHealthcheck(t *testing.T) {
	notReady := func() error { return errors.New("nats: not connected") }
	for _, tc := range []struct {
		name  string
		ready Ready
		want  int
		says  string
	}{
		{"ready", nil, 0, "ready"},
		{"not ready", notReady, 1, "503 Service Unavailable: nats: not connected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(Mux(nil, tc.ready))
			defer srv.Close()
			var out strings.Builder
			addr := func() (string, error) { return listenPort(t, srv.Listener.Addr().String()), nil }
			if got := runHealthcheck(&out, "svc", addr, time.Second); got != tc.want {
				t.Errorf("exit %d, want %d (%s)", got, tc.want, out.String())
			}
			if !strings.Contains(out.String(), tc.says) {
				t.Errorf("says %q, want it to say %q", out.String(), tc.says)
			}
		})
	}

	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := listenPort(t, ln.Addr().String())
		ln.Close()
		var out strings.Builder
		if got := runHealthcheck(&out, "svc", func() (string, error) { return port, nil }, time.Second); got != 1 {
			t.Errorf("exit %d, want 1 (%s)", got, out.String())
		}
		if !strings.Contains(out.String(), "refused") {
			t.Errorf("says %q, want connection refused", out.String())
		}
	})

	t.Run("no answer in time", func(t *testing.T) {
		// Accepts the connection and never answers: the timeout ends it.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var out strings.Builder
		start := time.Now()
		addr := func() (string, error) { return ln.Addr().String(), nil }
		if got := runHealthcheck(&out, "svc", addr, 200*time.Millisecond); got != 1 {
			t.Errorf("exit %d, want 1 (%s)", got, out.String())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v past its 200ms timeout", d)
		}
		if !strings.Contains(out.String(), "deadline exceeded") {
			t.Errorf("says %q, want a timeout", out.String())
		}
	})

	t.Run("configuration fails", func(t *testing.T) {
		var out strings.Builder
		bad := func() (string, error) { return "", errors.New("NATTER_X: not a number") }
		if got := runHealthcheck(&out, "svc", bad, time.Second); got != 1 || !strings.Contains(out.String(), "NATTER_X") {
			t.Errorf("exit %d, says %q; want 1 and why", got, out.String())
		}
	})
}

func TestProbeURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{":8080", "http://127.0.0.1:8080/readyz"},
		{"0.0.0.0:8081", "http://127.0.0.1:8081/readyz"},
		{"[::]:8082", "http://127.0.0.1:8082/readyz"},
		{"127.0.0.1:9000", "http://127.0.0.1:9000/readyz"},
		{"10.1.2.3:9000", "http://10.1.2.3:9000/readyz"},
		{"[::1]:9000", "http://[::1]:9000/readyz"},
		{"localhost:9000", "http://localhost:9000/readyz"},
		{"8080", ""},
		{":0", ""},
	} {
		got, err := ProbeURL(tc.addr)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ProbeURL(%q) = %q, want an error", tc.addr, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ProbeURL(%q) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}
