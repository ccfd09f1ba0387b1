package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestOrigins sends the gateways what a browser would from pages of
// several origins, over polling and WebSocket, to the gateway owning the
// session and to another one: only the configured origins, or by default
// the same origin on a host the gateway trusts, get through, and the others
// get the reference server's 403 {"code":4,"message":"Forbidden"}, which a
// browser's client reports as a failed connection.
func TestOrigins(t *testing.T) {
	type probe struct {
		name   string
		host   string // the Host header; "" for the gateway's 127.0.0.1:port
		origin string // "SELF" for http:// and the Host
		ok     bool
	}
	for _, tc := range []struct {
		name   string
		cfg    gateway.Config
		probes []probe
	}{
		{"same origin on trusted hosts", gateway.Config{AllowedHosts: []string{"chat.example"}}, []probe{
			{"no origin (not a browser)", "", "", true},
			{"a page of the gateway's own loopback address", "", "SELF", true},
			{"a page of localhost", "localhost:8080", "SELF", true},
			{"a page of a configured host", "chat.example", "https://chat.example", true},
			{"a cross-origin page", "", "http://evil.example", false},
			{"DNS rebinding: Host and Origin evil.example", "evil.example", "http://evil.example", false},
			{"DNS rebinding with a port", "evil.example:8080", "SELF", false},
		}},
		{"an allowlist", gateway.Config{AllowedOrigins: []string{"https://app.example"}}, []probe{
			{"no origin (not a browser)", "", "", true},
			{"an allowed page", "", "https://app.example", true},
			{"the same origin, not listed", "", "SELF", false},
			{"a cross-origin page", "", "http://evil.example", false},
			{"DNS rebinding: Host and Origin evil.example", "evil.example", "http://evil.example", false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, tc.cfg)
			owner, other := s.gateways[0].URL, s.gateways[1].URL
			// A session of the owner's, for the requests that name one.
			sid := handshake(t, owner+"/socket.io/?EIO=4&transport=polling")
			for _, p := range tc.probes {
				t.Run(p.name, func(t *testing.T) {
					host := p.host
					if host == "" {
						host = strings.TrimPrefix(owner, "http://")
					}
					origin := p.origin
					if origin == "SELF" {
						origin = "http://" + host
					}
					header := http.Header{}
					if origin != "" {
						header.Set("Origin", origin)
					}
					for _, r := range []struct{ what, base, query string }{
						{"handshake", owner, "transport=polling"},
						{"poll at the owner", owner, "transport=polling&sid=" + sid},
						{"poll through another gateway", other, "transport=polling&sid=" + sid},
					} {
						req, _ := http.NewRequest("GET", r.base+"/socket.io/?EIO=4&"+r.query, nil)
						req.Host, req.Header = host, header.Clone()
						if strings.Contains(r.query, "sid=") {
							// A POST (a noop packet) answers at once; a
							// GET would wait for data.
							req.Method, req.Body = "POST", io.NopCloser(strings.NewReader("6"))
						}
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Fatal(err)
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if got := resp.StatusCode == 200; got != p.ok {
							t.Errorf("%s: %d %s, want allowed=%v", r.what, resp.StatusCode, body, p.ok)
						}
						if !p.ok && (resp.StatusCode != 403 || string(body) != `{"code":4,"message":"Forbidden"}`) {
							t.Errorf("%s refused with %d %s, want the reference server's 403", r.what, resp.StatusCode, body)
						}
						if p.ok && origin != "" && resp.Header.Get("Access-Control-Allow-Origin") != origin {
							t.Errorf("%s: Access-Control-Allow-Origin %q", r.what, resp.Header.Get("Access-Control-Allow-Origin"))
						}
					}
					ws := []struct{ what, base, query string }{{"websocket", owner, ""}}
					if !p.ok { // an allowed one would upgrade the session
						ws = append(ws, struct{ what, base, query string }{"websocket upgrade through another gateway", other, "&sid=" + sid})
					}
					for _, r := range ws {
						h := header.Clone()
						h.Set("Host", host)
						c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(r.base, "http")+"/socket.io/?EIO=4&transport=websocket"+r.query, h)
						if c != nil {
							c.Close()
						}
						if got := err == nil; got != p.ok {
							t.Errorf("%s: %v, want allowed=%v", r.what, err, p.ok)
						}
						if !p.ok && (resp == nil || resp.StatusCode != 403) {
							t.Errorf("%s refused with %v, want 403", r.what, resp)
						}
					}
				})
			}
		})
	}
}

// handshake opens an Engine.IO session by polling and returns its sid.
func handshake(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_, rest, ok := strings.Cut(string(b), `"sid":"`)
	sid, _, ok2 := strings.Cut(rest, `"`)
	if resp.StatusCode != 200 || !ok || !ok2 {
		tb.Fatalf("handshake: %s %s", resp.Status, b)
	}
	return sid
}
