package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/services/presence"
)

// roundRobin is a balancer with no sticky sessions: each request goes to
// the next gateway, WebSocket upgrades included. Like nginx with
// proxy_next_upstream error, a gateway that refuses the connection is
// skipped for the next one.
func roundRobin(tb testing.TB, backends []string) *httptest.Server {
	tb.Helper()
	// A connection per request: a pooled connection to a gateway that died
	// would fail after the request went out, which cannot be retried.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DisableKeepAlives = true
	rr := &rrTransport{base: base}
	for _, b := range backends {
		u, _ := url.Parse(b)
		rr.targets = append(rr.targets, u)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.Out.Host = r.In.Host },
		Transport:     rr,
		FlushInterval: -1,
	}
	hs := httptest.NewServer(proxy)
	tb.Cleanup(hs.Close)
	return hs
}

type rrTransport struct {
	base    http.RoundTripper
	targets []*url.URL
	next    atomic.Uint64
}

func (t *rrTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	// A failed attempt closes the request's body: each gets a copy.
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
	}
	var err error
	// Each gateway once, from the next in turn: concurrent requests must
	// not make one of them try the same gateway twice.
	start := t.next.Add(1)
	for i := range uint64(len(t.targets)) {
		u := t.targets[(start+i)%uint64(len(t.targets))]
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
		}
		var resp *http.Response
		if resp, err = t.base.RoundTrip(out); err == nil {
			return resp, nil
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return nil, err // it reached the gateway: not safe to send again
		}
	}
	return nil, err
}

// TestPollingAcrossGatewaysInProcess runs the chat scenarios in every
// transport mode through a round-robin balancer over four gateways: a
// polling request that reaches a gateway other than its session's owner
// is passed to the owner.
func TestPollingAcrossGatewaysInProcess(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 4, presence.Config{})
	var urls []string
	for _, g := range s.gateways {
		urls = append(urls, g.URL)
	}
	lb := roundRobin(t, urls)

	// One polling session's requests are answered by several gateways.
	resp, err := http.Get(lb.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sid := strings.SplitN(strings.SplitN(string(b), `"sid":"`, 2)[1], `"`, 2)[0]
	served := map[string]bool{resp.Header.Get("X-Natter-Gateway"): true}
	for i := range 4 {
		// First the CONNECT, then events that the server acks: every GET
		// has something to bring back.
		packet := "40"
		if i > 0 {
			packet = fmt.Sprintf(`42%d["history",{"room":"lobby","limit":1}]`, i)
		}
		r, err := http.Post(lb.URL+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader(packet))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Fatalf("POST through %s: %s %s", r.Header.Get("X-Natter-Gateway"), r.Status, body)
		}
		served[r.Header.Get("X-Natter-Gateway")] = true
		g, err := http.Get(lb.URL + "/socket.io/?EIO=4&transport=polling&sid=" + sid)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(g.Body)
		g.Body.Close()
		want := "40{"
		if i > 0 {
			want = fmt.Sprintf("43%d[", i)
		}
		if g.StatusCode != 200 || !strings.HasPrefix(string(body), want) {
			t.Fatalf("GET through %s: %s %q", g.Header.Get("X-Natter-Gateway"), g.Status, body)
		}
		served[g.Header.Get("X-Natter-Gateway")] = true
	}
	if len(served) < 2 {
		t.Errorf("one session's requests were served by %v", served)
	}

	// A forged session id naming no gateway is refused at once.
	start := time.Now()
	r, err := http.Get(lb.URL + "/socket.io/?EIO=4&transport=polling&sid=nogateway")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 400 || time.Since(start) > time.Second {
		t.Errorf("forged sid: %s after %v", r.Status, time.Since(start))
	}

	nodetest.Run(t, "chat.test.mjs", 5*time.Minute, "NATTER_URL="+lb.URL, "NATTER_URL_2="+lb.URL)
	nodetest.Run(t, "polling-fanout.test.mjs", 3*time.Minute, "NATTER_URL="+lb.URL)
}

// TestForwardedPollGatewayDies: a gateway leaves NATS (as when it is
// killed) while a long-polling GET waits across it. The poll must not hang
// until the next ping, nor have its answer written to a gateway that cannot
// pass it on: when the owner dies, the gateway that forwarded the GET
// answers "Session ID unknown" (the session died with its owner); when the
// forwarding gateway dies, the owner abandons the poll and ends the session
// as for a broken poll connection. Either way the client's request fails
// and it starts a new session.
func TestForwardedPollGatewayDies(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 3, presence.Config{})
	g1, g2, g3 := s.gateways[0].URL, s.gateways[1].URL, s.gateways[2].URL

	t.Run("forwarding gateway dies", func(t *testing.T) {
		sid := pollOpen(t, g2)
		done := make(chan string, 1)
		go func() {
			r, err := http.Get(g3 + "/socket.io/?EIO=4&transport=polling&sid=" + sid)
			if err != nil {
				done <- err.Error()
				return
			}
			r.Body.Close()
			done <- r.Status
		}()
		waitFor(t, "gw2 to hold the GET", func() bool { return pollsWaiting() == 1 })
		start := time.Now()
		s.conns[2].Close() // gw3 leaves NATS
		<-done
		waitFor(t, "gw2 to end the session", func() bool {
			return metricValue(t, s.metrics[1], "natter_gateway_sessions_closed_total", "transport", "polling", "reason", "transport error") == 1
		})
		t.Logf("gw2 ended the session %v after gw3 left", time.Since(start).Round(time.Millisecond))
		if got := pollGet(t, g1, sid); !strings.Contains(got, "Session ID unknown") {
			t.Errorf("GET after the session ended: %q", got)
		}
	})

	t.Run("owner dies", func(t *testing.T) {
		sid := pollOpen(t, g1)
		type answer struct {
			status int
			body   string
		}
		done := make(chan answer, 1)
		go func() {
			r, err := http.Get(g2 + "/socket.io/?EIO=4&transport=polling&sid=" + sid)
			if err != nil {
				done <- answer{0, err.Error()}
				return
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			done <- answer{r.StatusCode, string(b)}
		}()
		waitFor(t, "gw1 to hold the GET", func() bool { return pollsWaiting() == 1 })
		start := time.Now()
		s.conns[0].Close() // gw1 leaves NATS
		select {
		case a := <-done:
			if a.status != 400 || !strings.Contains(a.body, "Session ID unknown") {
				t.Errorf("the waiting GET got %d %q", a.status, a.body)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the waiting GET took %v to fail", took)
			}
			t.Logf("the waiting GET failed %v after the owner left", time.Since(start).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			t.Fatal("the GET still waits on a gateway that is gone")
		}
	})
}

// pollsWaiting counts the long-polling GETs that sessions of this process
// hold, whichever gateway.
func pollsWaiting() int {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	return strings.Count(b.String(), "engineio.(*Session).servePoll(")
}
