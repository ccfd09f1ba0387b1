package engineio_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/services/gateway/internal/engineio"
)

// echo is a Handler that sends every message back and reports closes.
type echo struct {
	closes chan string
}

func newEcho() *echo { return &echo{closes: make(chan string, 100)} }

func (e *echo) ServeSession(s *engineio.Session) engineio.SessionHandler {
	return &echoSession{e: e, s: s}
}

type echoSession struct {
	e *echo
	s *engineio.Session
}

func (h *echoSession) OnMessage(data []byte, binary bool) {
	if binary {
		h.s.Send(engineio.BinaryPacket(data))
		return
	}
	h.s.Send(engineio.TextPacket(engineio.Message, data))
}

func (h *echoSession) OnClose(reason string) { h.e.closes <- reason }

type fixture struct {
	srv  *engineio.Server
	http *httptest.Server
	echo *echo
}

func start(tb testing.TB, cfg engineio.Config) *fixture {
	tb.Helper()
	e := newEcho()
	srv := engineio.NewServer(cfg, e)
	hs := httptest.NewServer(srv)
	tb.Cleanup(func() {
		hs.Close()
		srv.Close(engineio.ReasonServerShutdown)
	})
	return &fixture{srv: srv, http: hs, echo: e}
}

func (f *fixture) url(query string) string { return f.http.URL + "/socket.io/?EIO=4&" + query }

func (f *fixture) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(f.url(query), "http")
}

func (f *fixture) get(tb testing.TB, query string) (int, string) {
	tb.Helper()
	resp, err := http.Get(f.url(query))
	if err != nil {
		tb.Fatalf("GET %s: %v", query, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fixture) post(tb testing.TB, query, body string) (int, string) {
	tb.Helper()
	resp, err := http.Post(f.url(query), "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		tb.Fatalf("POST %s: %v", query, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type open struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func (f *fixture) openPolling(tb testing.TB) open {
	tb.Helper()
	code, body := f.get(tb, "transport=polling")
	if code != 200 || !strings.HasPrefix(body, "0") {
		tb.Fatalf("handshake: %d %q", code, body)
	}
	var o open
	if err := json.Unmarshal([]byte(body[1:]), &o); err != nil {
		tb.Fatalf("handshake %q: %v", body, err)
	}
	return o
}

func dial(tb testing.TB, url string) *websocket.Conn {
	tb.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatalf("dial %s: %v", url, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func readText(tb testing.TB, c *websocket.Conn) string {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, b, err := c.ReadMessage()
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	if mt != websocket.TextMessage {
		tb.Fatalf("read: binary frame %x, want text", b)
	}
	return string(b)
}

func send(tb testing.TB, c *websocket.Conn, s string) {
	tb.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		tb.Fatalf("write %q: %v", s, err)
	}
}

func waitClose(tb testing.TB, e *echo) string {
	tb.Helper()
	select {
	case r := <-e.closes:
		return r
	case <-time.After(5 * time.Second):
		tb.Fatal("session did not close")
		return ""
	}
}

func TestHandshakeErrors(t *testing.T) {
	f := start(t, engineio.Config{})
	tests := []struct {
		name   string
		method string
		query  string
		status int
		body   string
	}{
		{"no EIO", "GET", "transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO 3", "GET", "EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"unknown transport", "GET", "EIO=4&transport=abc", 400, `{"code":0,"message":"Transport unknown"}`},
		{"no transport", "GET", "EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"handshake by POST", "POST", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, f.http.URL+"/socket.io/?"+tc.query, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(b) != tc.body {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, b, tc.status, tc.body)
			}
		})
	}
}

func TestOpenPacket(t *testing.T) {
	f := start(t, engineio.Config{PingInterval: 1500 * time.Millisecond, PingTimeout: 700 * time.Millisecond, MaxPayload: 1234})
	o := f.openPolling(t)
	if len(o.SID) != 20 || o.PingInterval != 1500 || o.PingTimeout != 700 || o.MaxPayload != 1234 ||
		len(o.Upgrades) != 1 || o.Upgrades[0] != "websocket" {
		t.Errorf("polling open packet: %+v", o)
	}
	c := dial(t, f.wsURL("transport=websocket"))
	var w open
	if err := json.Unmarshal([]byte(strings.TrimPrefix(readText(t, c), "0")), &w); err != nil {
		t.Fatal(err)
	}
	if w.SID == "" || w.SID == o.SID || len(w.Upgrades) != 0 {
		t.Errorf("websocket open packet: %+v", w)
	}
}

func TestPollingBatchesInOrder(t *testing.T) {
	f := start(t, engineio.Config{})
	sid := f.openPolling(t).SID
	var in []string
	for i := range 50 {
		in = append(in, fmt.Sprintf("4m%d", i))
	}
	in = append(in, "b"+"AQID") // binary [1 2 3]
	if code, body := f.post(t, "transport=polling&sid="+sid, strings.Join(in, "\x1e")); code != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", code, body)
	}
	code, body := f.get(t, "transport=polling&sid="+sid)
	if want := strings.Join(in, "\x1e"); code != 200 || body != want {
		t.Fatalf("GET: %d %q, want %q", code, body, want)
	}
}

func TestPollingLimitsAndErrors(t *testing.T) {
	f := start(t, engineio.Config{MaxPayload: 100})
	t.Run("payload over maxPayload", func(t *testing.T) {
		sid := f.openPolling(t).SID
		if code, _ := f.post(t, "transport=polling&sid="+sid, "4"+strings.Repeat("x", 100)); code != 413 {
			t.Errorf("POST status %d, want 413", code)
		}
		if r := waitClose(t, f.echo); r != engineio.ReasonTransportError {
			t.Errorf("close reason %q", r)
		}
		if code, _ := f.get(t, "transport=polling&sid="+sid); code != 400 {
			t.Errorf("GET after close: %d, want 400", code)
		}
	})
	t.Run("bad packet", func(t *testing.T) {
		sid := f.openPolling(t).SID
		if code, _ := f.post(t, "transport=polling&sid="+sid, "4ok\x1e9bad"); code != 400 {
			t.Errorf("POST status %d, want 400", code)
		}
		if r := waitClose(t, f.echo); r != engineio.ReasonParseError {
			t.Errorf("close reason %q", r)
		}
	})
	t.Run("client close answers the pending poll with noop", func(t *testing.T) {
		sid := f.openPolling(t).SID
		got := make(chan string, 1)
		go func() {
			resp, err := http.Get(f.url("transport=polling&sid=" + sid))
			if err != nil {
				got <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got <- string(b)
		}()
		waitPolling(t, f, sid)
		f.post(t, "transport=polling&sid="+sid, "1")
		if b := <-got; b != "6" {
			t.Errorf("pending poll got %q, want 6", b)
		}
		waitClose(t, f.echo)
	})
}

// waitPolling waits until a GET of sid is pending on the server.
func waitPolling(tb testing.TB, f *fixture, sid string) {
	tb.Helper()
	wait.Eventually(tb, 5*time.Second, func() bool { return f.srv.PollWaiting(sid) }, "no GET pending")
}

func TestWebSocketEcho(t *testing.T) {
	f := start(t, engineio.Config{})
	c := dial(t, f.wsURL("transport=websocket"))
	readText(t, c) // open
	send(t, c, "4héllo 안녕")
	if got := readText(t, c); got != "4héllo 안녕" {
		t.Errorf("echo %q", got)
	}
	c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, b, err := c.ReadMessage()
	if err != nil || mt != websocket.BinaryMessage || string(b) != "\x01\x02\x03" {
		t.Errorf("binary echo: %v %v %x", err, mt, b)
	}
}

func TestWebSocketMessageOverMaxPayload(t *testing.T) {
	f := start(t, engineio.Config{MaxPayload: 64})
	c := dial(t, f.wsURL("transport=websocket"))
	readText(t, c)
	send(t, c, "4"+strings.Repeat("x", 64))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("read after oversized message: %v, want close 1009", err)
	}
	waitClose(t, f.echo)
}

func TestPingTimeoutClosesOnTime(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, 80 * time.Millisecond
	f := start(t, engineio.Config{PingInterval: interval, PingTimeout: timeout})
	t.Run("websocket that answers stays", func(t *testing.T) {
		c := dial(t, f.wsURL("transport=websocket"))
		readText(t, c)
		for range 5 {
			if got := readText(t, c); got != "2" {
				t.Fatalf("got %q, want ping", got)
			}
			send(t, c, "3")
		}
		if f.srv.Len() != 1 {
			t.Errorf("sessions: %d, want 1", f.srv.Len())
		}
		c.Close()
		waitClose(t, f.echo)
	})
	t.Run("websocket that does not answer is closed", func(t *testing.T) {
		c := dial(t, f.wsURL("transport=websocket"))
		opened := time.Now()
		readText(t, c)
		readText(t, c) // ping, unanswered
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Fatalf("read: %v, want a close frame", err)
		}
		if r := waitClose(t, f.echo); r != engineio.ReasonPingTimeout {
			t.Errorf("reason %q", r)
		}
		if took := time.Since(opened); took < interval+timeout {
			t.Errorf("closed after %v, before pingInterval+pingTimeout", took)
		}
	})
}

// TestUpgradeKeepsOrder sends a steady stream while a polling session
// upgrades to WebSocket: every packet arrives once, in order, over one
// transport or the other.
func TestUpgradeKeepsOrder(t *testing.T) {
	f := start(t, engineio.Config{})
	sid := f.openPolling(t).SID
	q := "transport=polling&sid=" + sid
	next := 0
	batch := func(n int) string {
		var b []string
		for range n {
			b = append(b, fmt.Sprintf("4%d", next))
			next++
		}
		return strings.Join(b, "\x1e")
	}
	var got []string
	collect := func(body string) {
		for _, p := range strings.Split(body, "\x1e") {
			if p != "6" && p != "2" {
				got = append(got, p)
			}
		}
	}

	f.post(t, q, batch(500))
	_, body := f.get(t, q)
	collect(body)

	c := dial(t, f.wsURL("transport=websocket&sid="+sid))
	send(t, c, "2probe")
	if p := readText(t, c); p != "3probe" {
		t.Fatalf("probe answer %q", p)
	}
	// Queued while probing and polled: they come by polling.
	f.post(t, q, batch(500))
	_, body = f.get(t, q)
	collect(body)
	// Queued while probing and never polled: the WebSocket must carry them.
	f.post(t, q, batch(500))
	send(t, c, "5")
	for range 500 {
		send(t, c, fmt.Sprintf("4%d", next))
		next++
	}
	for len(got) < next {
		if p := readText(t, c); p != "2" {
			got = append(got, p)
		}
	}
	for i, p := range got {
		if want := fmt.Sprintf("4%d", i); p != want {
			t.Fatalf("packet %d is %q, want %q", i, p, want)
		}
	}
	if code, _ := f.get(t, q); code != 400 {
		t.Errorf("poll after upgrade: %d, want 400", code)
	}
}

// TestOriginCheck runs the origin policy over polling and WebSocket. HOST
// stands for the test server's address (127.0.0.1:port, a loopback host);
// host, when set, is the Host header sent instead of it.
func TestOriginCheck(t *testing.T) {
	tests := []struct {
		name   string
		check  func(*http.Request) bool // nil: the default
		host   string
		origin string
		ok     bool
	}{
		{"no origin", nil, "", "", true},
		{"same origin on a loopback host", nil, "", "http://HOST", true},
		{"same origin on localhost", nil, "localhost:8080", "http://localhost:8080", true},
		{"other origin refused", nil, "", "http://evil.example", false},
		{"same origin on an unknown host refused (DNS rebinding)", nil, "evil.example", "http://evil.example", false},
		{"same origin on a configured host", engineio.SameOriginOn([]string{"chat.example"}), "chat.example:8443", "https://chat.example:8443", true},
		{"same origin on a host configured as a URL", engineio.SameOriginOn([]string{"https://chat.example/"}), "chat.example", "https://chat.example", true},
		{"same origin on a configured host, other port refused", engineio.SameOriginOn([]string{"chat.example:443"}), "chat.example:8443", "https://chat.example:8443", false},
		{"other origin on a configured host refused", engineio.SameOriginOn([]string{"chat.example"}), "chat.example", "https://evil.example", false},
		{"allowed origin", engineio.AllowOrigins([]string{"https://chat.example"}), "", "https://chat.example", true},
		{"allowed origin with other scheme", engineio.AllowOrigins([]string{"https://chat.example"}), "", "http://chat.example", false},
		{"with an allowlist, the same origin refused unless listed", engineio.AllowOrigins([]string{"https://chat.example"}), "", "http://HOST", false},
		{"with an allowlist, rebinding refused", engineio.AllowOrigins([]string{"https://chat.example"}), "evil.example", "http://evil.example", false},
		{"any origin", engineio.AllowOrigins([]string{"*"}), "", "http://anything.example", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := start(t, engineio.Config{CheckOrigin: tc.check})
			origin := strings.Replace(tc.origin, "HOST", strings.TrimPrefix(f.http.URL, "http://"), 1)
			req, _ := http.NewRequest("GET", f.url("transport=polling"), nil)
			if tc.host != "" {
				req.Host = tc.host
			}
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if ok := resp.StatusCode == 200; ok != tc.ok {
				t.Fatalf("polling: status %d, want allowed=%v", resp.StatusCode, tc.ok)
			}
			if tc.ok && origin != "" && resp.Header.Get("Access-Control-Allow-Origin") != origin {
				t.Errorf("Access-Control-Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
			}
			// What the reference server answers, and a browser's page sees.
			if want := `{"code":4,"message":"Forbidden"}`; !tc.ok && (resp.StatusCode != 403 || string(body) != want) {
				t.Errorf("polling refused with %d %s, want 403 %s", resp.StatusCode, body, want)
			}
			h := http.Header{}
			if tc.host != "" {
				h.Set("Host", tc.host)
			}
			if origin != "" {
				h.Set("Origin", origin)
			}
			c, resp, err := websocket.DefaultDialer.Dial(f.wsURL("transport=websocket"), h)
			if c != nil {
				c.Close()
			}
			if ok := err == nil; ok != tc.ok {
				t.Errorf("websocket: %v, want allowed=%v", err, tc.ok)
			}
			if !tc.ok && resp != nil && resp.StatusCode != 403 {
				t.Errorf("websocket refused with %d, want 403", resp.StatusCode)
			}
		})
	}
}

// slowReader is a Handler whose sessions fill their queue: each message
// asks for size bytes back, many times.
type flood struct{ closes chan string }

func (f flood) ServeSession(s *engineio.Session) engineio.SessionHandler { return floodSession{f, s} }

type floodSession struct {
	f flood
	s *engineio.Session
}

func (h floodSession) OnMessage([]byte, bool) {
	big := make([]byte, 1<<16)
	for range 100 {
		if h.s.Send(engineio.TextPacket(engineio.Message, big)) != nil {
			return
		}
	}
}
func (h floodSession) OnClose(reason string) { h.f.closes <- reason }

type countingObserver struct {
	engineio.Observer
	mu   sync.Mutex
	slow int
}

func (o *countingObserver) SlowConsumer() {
	o.mu.Lock()
	o.slow++
	o.mu.Unlock()
}

// wantOneSlow checks that one slow consumer was counted.
func (o *countingObserver) wantOneSlow(tb testing.TB) {
	tb.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.slow != 1 {
		tb.Errorf("slow consumers counted: %d", o.slow)
	}
}

func TestSlowConsumerIsClosedAndCounted(t *testing.T) {
	obs := &countingObserver{Observer: engineio.NopObserver{}}
	fl := flood{closes: make(chan string, 1)}
	srv := engineio.NewServer(engineio.Config{SendQueueBytes: 1 << 20, Observer: obs}, fl)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close(engineio.ReasonServerShutdown)

	resp, err := http.Get(hs.URL + "/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var o open
	json.Unmarshal(b[1:], &o)
	// Never poll: the queue only grows.
	http.Post(hs.URL+"/?EIO=4&transport=polling&sid="+o.SID, "text/plain", strings.NewReader("4go"))
	select {
	case r := <-fl.closes:
		if r != engineio.ReasonSlowConsumer {
			t.Errorf("reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow consumer not closed")
	}
	obs.wantOneSlow(t)
}

// TestNoGoroutineLeftBehind opens sessions of every kind, closes them every
// way, and checks that no goroutine outlives them.
func TestNoGoroutineLeftBehind(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := newEcho()
	srv := engineio.NewServer(engineio.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond}, e)
	hs := httptest.NewServer(srv)
	f := &fixture{srv: srv, http: hs, echo: e}

	// Client closes a WebSocket.
	c, _, err := websocket.DefaultDialer.Dial(f.wsURL("transport=websocket"), nil)
	if err != nil {
		t.Fatal(err)
	}
	readText(t, c)
	c.Close()
	waitClose(t, e)

	// A WebSocket stops answering pings.
	c2, _, _ := websocket.DefaultDialer.Dial(f.wsURL("transport=websocket"), nil)
	waitClose(t, e)
	c2.Close()

	// A polling session times out, with a GET waiting.
	sid := f.openPolling(t).SID
	f.get(t, "transport=polling&sid="+sid) // ping
	waitClose(t, e)

	// A polling session upgraded, then closed by the server.
	sid = f.openPolling(t).SID
	c3, _, _ := websocket.DefaultDialer.Dial(f.wsURL("transport=websocket&sid="+sid), nil)
	send(t, c3, "2probe")
	readText(t, c3)
	send(t, c3, "5")
	// A probe left hanging, on a session the server then closes.
	sid2 := f.openPolling(t).SID
	c4, _, _ := websocket.DefaultDialer.Dial(f.wsURL("transport=websocket&sid="+sid2), nil)

	srv.Close(engineio.ReasonServerShutdown)
	hs.Close()
	c3.Close()
	c4.Close()
	http.DefaultClient.CloseIdleConnections()
}

// TestBackpressureInsteadOfDisconnect has a client send far more than the
// send queue holds without reading the echoes: the server stops reading it
// rather than closing it, and every echo arrives, in order, once it reads.
func TestBackpressureInsteadOfDisconnect(t *testing.T) {
	const limit, n, size = 64 << 10, 2000, 10 << 10
	f := start(t, engineio.Config{SendQueueBytes: limit})
	c := dial(t, f.wsURL("transport=websocket"))
	readText(t, c)
	payload := strings.Repeat("x", size)
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("4%05d%s", i, payload))); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	// Wait until the server holds back: its queue is past half full.
	wait.Eventually(t, 10*time.Second, func() bool { return f.srv.Queued() > limit/2 }, "the queue never filled")
	for i := range n {
		got := readText(t, c)
		if want := fmt.Sprintf("4%05d", i); !strings.HasPrefix(got, want) {
			t.Fatalf("echo %d starts %q", i, got[:6])
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-f.echo.closes:
		t.Fatalf("session closed: %s", r)
	default:
	}
}

// TestMessagesExtendThePongDeadlineOnce: a client busy sending may have its
// pong queued behind its messages; one message while the pong is awaited
// moves the deadline once, but messages alone never keep a session alive.
func TestMessagesExtendThePongDeadlineOnce(t *testing.T) {
	const interval, timeout = 100 * time.Millisecond, 300 * time.Millisecond
	f := start(t, engineio.Config{PingInterval: interval, PingTimeout: timeout})
	c := dial(t, f.wsURL("transport=websocket"))
	readText(t, c)
	if p := readText(t, c); p != "2" {
		t.Fatalf("got %q, want ping", p)
	}
	pinged := time.Now()
	// Just before the deadline, a message: the deadline moves to ~2×timeout.
	// (A sleep: the test is about when the message comes, not a condition.)
	time.Sleep(timeout * 2 / 3)
	send(t, c, "4busy")
	// Keep sending without a pong: the session must still close, at most
	// one extra timeout later.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				c.WriteMessage(websocket.TextMessage, []byte("4busy"))
			}
		}
	}()
	if r := waitClose(t, f.echo); r != engineio.ReasonPingTimeout {
		t.Fatalf("reason %q", r)
	}
	took := time.Since(pinged)
	if took < timeout+timeout/3 || took > 3*timeout {
		t.Errorf("closed %v after the ping; want between %v and %v", took, timeout+timeout/3, 3*timeout)
	}
}

// TestPollRetriedByAProxy: a GET sent again with the same "t" (a proxy
// retrying a request whose path broke) gets the same answer, or takes over
// the wait; nothing is lost and the session lives. Two GETs with different
// t's at once still end the session.
func TestPollRetriedByAProxy(t *testing.T) {
	f := start(t, engineio.Config{})
	sid := f.openPolling(t).SID
	q := "transport=polling&sid=" + sid + "&t="

	// An answer lost on its way: the retry gets it again.
	f.post(t, q+"p1", "4one")
	_, first := f.get(t, q+"a")
	if first != "4one" {
		t.Fatalf("GET got %q", first)
	}
	f.post(t, q+"p2", "4two")
	if _, again := f.get(t, q+"a"); again != first {
		t.Errorf("the retried GET got %q, want the same answer %q", again, first)
	}
	if _, next := f.get(t, q+"b"); next != "4two" {
		t.Errorf("the next GET got %q, want 4two", next)
	}

	// A GET whose path broke while it waited: its retry takes over.
	lost := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(lost)
		req, _ := http.NewRequestWithContext(ctx, "GET", f.url(q+"c"), nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitPolling(t, f, sid)
	got := make(chan string, 1)
	go func() { got <- rawGet(f.url(q + "c")) }()
	// The first GET returns once the retry waits in its place.
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the first GET still waits")
	}
	cancel() // its connection closing does not end the session
	waitPolling(t, f, sid)
	f.post(t, q+"p3", "4three")
	if b := <-got; b != "4three" {
		t.Errorf("the retry got %q, want 4three", b)
	}
	select {
	case r := <-f.echo.closes:
		t.Fatalf("the session closed: %s", r)
	default:
	}

	// Two different GETs at once are a client's mistake: the session ends.
	go rawGet(f.url(q + "d"))
	waitPolling(t, f, sid)
	if code, _ := f.get(t, q+"e"); code != 400 {
		t.Errorf("overlapping GET: %d, want 400", code)
	}
	if r := waitClose(t, f.echo); r != engineio.ReasonTransportError {
		t.Errorf("close reason %q", r)
	}
}

// rawGet returns the body of a GET, or the error: for goroutines, which
// must not fail the test.
func rawGet(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
