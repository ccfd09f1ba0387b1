package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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
	var err error
	for range t.targets {
		u := t.targets[t.next.Add(1)%uint64(len(t.targets))]
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
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
