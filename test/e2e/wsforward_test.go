package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/testlog"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/presence"
)

// The upgrade to WebSocket across gateways: a session opened by polling on
// one gateway upgrades with a WebSocket that reaches another, which passes
// it on (a TCP reverse proxy) to the owner.

// metricValue returns the value of a counter or gauge series of reg with
// the given labels (name=value pairs), or -1 when there is none.
func metricValue(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// pollOpen opens a polling session on base and connects the Socket.IO
// namespace "/"; it returns the session id.
func pollOpen(tb testing.TB, base string) string {
	tb.Helper()
	resp, err := http.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `0{"sid":"`) {
		tb.Fatalf("handshake: %s %s", resp.Status, b)
	}
	sid := strings.SplitN(strings.SplitN(string(b), `"sid":"`, 2)[1], `"`, 2)[0]
	if got := pollPost(tb, base, sid, "40"); got != 200 {
		tb.Fatalf("CONNECT: %d", got)
	}
	if got := pollGet(tb, base, sid); !strings.HasPrefix(got, "40{") {
		tb.Fatalf("CONNECT answered %q", got)
	}
	return sid
}

func pollPost(tb testing.TB, base, sid, payload string) int {
	tb.Helper()
	r, err := http.Post(base+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain;charset=UTF-8", strings.NewReader(payload))
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return r.StatusCode
}

func pollGet(tb testing.TB, base, sid string) string {
	tb.Helper()
	r, err := http.Get(base + "/socket.io/?EIO=4&transport=polling&sid=" + sid)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	return string(b)
}

func wsURL(base, query string) string {
	return "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket" + query
}

// wsDial opens a WebSocket for session sid on base, with header; it
// returns the HTTP status and the body of a refusal.
func wsDial(tb testing.TB, base, sid string, header http.Header) (*websocket.Conn, int, string) {
	tb.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(wsURL(base, "&sid="+sid), header)
	if err == nil {
		return c, resp.StatusCode, ""
	}
	if resp == nil {
		tb.Fatalf("dial %s: %v", base, err)
	}
	b, _ := io.ReadAll(resp.Body)
	return nil, resp.StatusCode, string(b)
}

// wsUpgrade upgrades session sid with a WebSocket sent to base, as the
// official client does: probe, then "5".
func wsUpgrade(tb testing.TB, base, sid string) *websocket.Conn {
	tb.Helper()
	c, status, body := wsDial(tb, base, sid, nil)
	if c == nil {
		tb.Fatalf("upgrade through %s: %d %s", base, status, body)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		tb.Fatal(err)
	}
	if got := wsRead(tb, c); got != "3probe" {
		tb.Fatalf("probe answered %q", got)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("5")); err != nil {
		tb.Fatal(err)
	}
	return c
}

// wsRead returns the next frame that is not a ping (answering pings).
func wsRead(tb testing.TB, c *websocket.Conn) string {
	tb.Helper()
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ReadMessage()
		if err != nil {
			tb.Fatalf("read: %v", err)
		}
		if string(b) == "2" {
			c.WriteMessage(websocket.TextMessage, []byte("3"))
			continue
		}
		return string(b)
	}
}

// wsUntil reads frames until one starts with prefix and contains text.
func wsUntil(tb testing.TB, c *websocket.Conn, prefix, text string) string {
	tb.Helper()
	for {
		if f := wsRead(tb, c); strings.HasPrefix(f, prefix) && strings.Contains(f, text) {
			return f
		}
	}
}

// wsExpect reads frames until, for each [prefix, text] pair, one frame has
// come that starts with prefix and contains text, in whatever order.
func wsExpect(tb testing.TB, c *websocket.Conn, want ...[2]string) {
	tb.Helper()
	seen := make([]bool, len(want))
	for left := len(want); left > 0; {
		f := wsRead(tb, c)
		for i, w := range want {
			if !seen[i] && strings.HasPrefix(f, w[0]) && strings.Contains(f, w[1]) {
				seen[i] = true
				left--
				break
			}
		}
	}
}

// waitFor polls cond until it holds, failing after 5 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("timed out waiting for " + what)
		}
	}
}

// TestWebSocketUpgradeAcrossGateways opens a session by polling on gateway
// 1 and upgrades it with a WebSocket sent to gateway 2: gateway 2 passes it
// on to gateway 1, the chat works over it, and gateway 1 counts the
// upgrade. WebSockets that cannot be passed on are refused so that the
// client keeps polling.
func TestWebSocketUpgradeAcrossGateways(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 3, presence.Config{})
	g1, g2, g3 := s.gateways[0].URL, s.gateways[1].URL, s.gateways[2].URL
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e6)
	room := "ws" + suffix

	sid := pollOpen(t, g1)
	if !strings.HasPrefix(sid, "gw1.") {
		t.Fatalf("sid %q does not name gw1", sid)
	}
	ws := wsUpgrade(t, g2, sid)
	waitFor(t, "gw1 to count the upgrade", func() bool {
		return metricValue(t, s.metrics[0], "natter_gateway_upgrades_total") == 1
	})
	// The session is on WebSocket now: polling is refused.
	if got := pollPost(t, g1, sid, "6"); got != 400 {
		t.Errorf("POST after the upgrade: %d, want 400", got)
	}

	// Another user, with a WebSocket straight to gateway 3.
	other, _, err := websocket.DefaultDialer.Dial(wsURL(g3, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	wsRead(t, other) // open
	other.WriteMessage(websocket.TextMessage, []byte("40"))
	wsUntil(t, other, "40", "")
	other.WriteMessage(websocket.TextMessage, []byte(`421["join",{"username":"Other`+suffix+`","room":"`+room+`"}]`))
	wsUntil(t, other, "431", `"ok":true`)

	ws.WriteMessage(websocket.TextMessage, []byte(`421["join",{"username":"Up`+suffix+`","room":"`+room+`"}]`))
	wsUntil(t, ws, "431", `"ok":true`)
	ws.WriteMessage(websocket.TextMessage, []byte(`422["client message",{"message":"over the proxy `+suffix+`"}]`))
	wsExpect(t, ws, [2]string{"432", `"ok":true`}, [2]string{`42["server message"`, "over the proxy " + suffix})
	wsUntil(t, other, `42["server message"`, "over the proxy "+suffix)
	other.WriteMessage(websocket.TextMessage, []byte(`422["client message",{"message":"back `+suffix+`"}]`))
	wsUntil(t, ws, `42["server message"`, "back "+suffix)

	if got := metricValue(t, s.metrics[0], "natter_gateway_sessions", "transport", "websocket"); got != 1 {
		t.Errorf("gw1 has %v WebSocket sessions, want 1", got)
	}
	if got := metricValue(t, s.metrics[1], "natter_gateway_forwarded_upgrades_total", "result", "ok"); got != 1 {
		t.Errorf("gw2 counted %v forwarded upgrades, want 1", got)
	}
	if got := metricValue(t, s.metrics[1], "natter_gateway_sessions", "transport", "websocket"); got > 0 {
		t.Errorf("gw2 has %v WebSocket sessions of its own, want 0", got)
	}

	refused := func(t *testing.T, base, sid string, header http.Header, wantStatus int, wantBody string) {
		t.Helper()
		c, status, body := wsDial(t, base, sid, header)
		if c != nil {
			c.Close()
			t.Fatalf("the WebSocket was accepted")
		}
		if status != wantStatus || !strings.Contains(body, wantBody) {
			t.Errorf("got %d %q, want %d %q", status, body, wantStatus, wantBody)
		}
	}
	t.Run("session gone at its owner", func(t *testing.T) {
		refused(t, g2, "gw1.nosuchsession", nil, 400, "Session ID unknown")
		if got := metricValue(t, s.metrics[1], "natter_gateway_forwarded_upgrades_total", "result", "refused"); got != 1 {
			t.Errorf("refused = %v, want 1", got)
		}
	})
	t.Run("owner gone", func(t *testing.T) {
		refused(t, g2, "gw9.nosuchsession", nil, 400, "Session ID unknown")
		if got := metricValue(t, s.metrics[1], "natter_gateway_forwarded_upgrades_total", "result", "no_owner"); got != 1 {
			t.Errorf("no_owner = %v, want 1", got)
		}
	})
	t.Run("passed on once only", func(t *testing.T) {
		// A WebSocket that a gateway passed on reaches one that is not the
		// owner (a wrong address): refused there, not passed on again.
		sid := pollOpen(t, g1)
		refused(t, g3, sid, http.Header{"X-Natter-Forwarded-By": {"gw2"}}, 400, "Session ID unknown")
		if got := metricValue(t, s.metrics[2], "natter_gateway_forwarded_upgrades_total", "result", "loop"); got != 1 {
			t.Errorf("loop = %v, want 1", got)
		}
		if got := metricValue(t, s.metrics[2], "natter_gateway_forwarded_upgrades_total", "result", "ok"); got != 0 {
			t.Errorf("gw3 passed it on: ok = %v", got)
		}
		// The owner itself never passes on its own sessions' WebSockets:
		// a session it does not have is unknown.
		refused(t, g1, "gw1.nosuchsession", nil, 400, "Session ID unknown")
		if got := metricValue(t, s.metrics[0], "natter_gateway_forwarded_upgrades_total", "result", "no_owner"); got != 0 {
			t.Errorf("gw1 asked for an owner of its own session: no_owner = %v", got)
		}
		// The session still polls, and upgrades through a plain path.
		if got := pollPost(t, g3, sid, "6"); got != 200 {
			t.Errorf("polling after the refusal: %d", got)
		}
		wsUpgrade(t, g2, sid)
	})
	t.Run("owner unreachable", func(t *testing.T) {
		// A gateway that advertises an address where nobody listens.
		dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		reg := prometheus.NewRegistry()
		nc := natstest.Connect(t, s.nats.ClientURL())
		l := listen(t)
		gw, err := gateway.New(gateway.Config{ID: "gw8", AdvertiseAddr: dead, Listener: l}, nc, testlog.Logger(t, ""), reg)
		if err != nil {
			t.Fatal(err)
		}
		runGateway(t, gw)
		sid := pollOpen(t, "http://"+l.Addr().String())
		refused(t, g2, sid, nil, 502, "bad gateway")
		if got := metricValue(t, s.metrics[1], "natter_gateway_forwarded_upgrades_total", "result", "unreachable"); got != 1 {
			t.Errorf("unreachable = %v, want 1", got)
		}
		// The client stays on polling, through any gateway.
		if got := pollPost(t, g2, sid, "6"); got != 200 {
			t.Errorf("polling after the failed upgrade: %d", got)
		}
	})
}

// TestWebSocketForwardDrain drains a gateway that passes a WebSocket on:
// Drain returns promptly, the client's connection ends (so that it
// reconnects) and no goroutine of the proxied connection is left.
func TestWebSocketForwardDrain(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	g1, g2 := s.gateways[0].URL, s.gateways[1].URL
	sid := pollOpen(t, g1)
	// Both gateways' NATS request machinery (made on first use) exists
	// before the baseline: gw2 forwards a poll, gw1 asks history.
	pollPost(t, g2, sid, `421["history",{"room":"lobby","limit":1}]`)
	if got := pollGet(t, g1, sid); !strings.HasPrefix(got, "431") {
		t.Fatalf("history: %q", got)
	}
	http.DefaultClient.CloseIdleConnections()
	baseline := goleak.IgnoreCurrent()

	ws := wsUpgrade(t, g2, sid)
	ws.WriteMessage(websocket.TextMessage, []byte(`421["members",{}]`))
	wsUntil(t, ws, "431", "")

	drained := make(chan struct{})
	go func() {
		s.services[1].Drain()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("Drain hangs on a proxied WebSocket")
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break // closed, as it should
		}
	}
	ws.Close()
	// The owner sees the transport close and ends the session.
	waitFor(t, "the owner to end the session", func() bool {
		return metricValue(t, s.metrics[0], "natter_gateway_sessions", "transport", "websocket") == 0
	})
	http.DefaultClient.CloseIdleConnections()
	goleak.VerifyNone(t, baseline)

	// A drained gateway passes nothing on.
	sid2 := pollOpen(t, g1)
	c, status, _ := wsDial(t, g2, sid2, nil)
	if c != nil || status != 400 {
		t.Errorf("a drained gateway passed a WebSocket on: %d", status)
	}
}
