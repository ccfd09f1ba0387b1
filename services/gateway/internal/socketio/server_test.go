package socketio_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/services/gateway/internal/engineio"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

type fixture struct {
	sio   *socketio.Server
	url   string
	discs chan string // "nsp reason" for every OnDisconnect
}

func start(tb testing.TB, cfg socketio.Config, ecfg engineio.Config) *fixture {
	tb.Helper()
	sio := socketio.NewServer(cfg)
	eio := engineio.NewServer(ecfg, sio)
	hs := httptest.NewServer(eio)
	tb.Cleanup(func() {
		hs.Close()
		eio.Close(engineio.ReasonServerShutdown)
	})
	f := &fixture{sio: sio, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/?EIO=4&transport=websocket", discs: make(chan string, 16)}
	for _, name := range []string{"/", "/admin"} {
		n := sio.Of(name)
		n.On("echo", func(s *socketio.Socket, e *socketio.EventMessage) {
			if e.WantsAck() {
				e.AckRaw(e.Args, e.Attachments)
				return
			}
			s.EmitRaw("echo", e.Args, e.Attachments)
		})
		n.OnDisconnect(func(s *socketio.Socket, reason string) { f.discs <- s.Namespace() + " " + reason })
	}
	return f
}

type client struct {
	tb testing.TB
	c  *websocket.Conn
}

func (f *fixture) dial(tb testing.TB) *client {
	tb.Helper()
	c, _, err := websocket.DefaultDialer.Dial(f.url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	cl := &client{tb, c}
	if open := cl.read(); !strings.HasPrefix(open, "0{") {
		tb.Fatalf("open packet %q", open)
	}
	return cl
}

func (c *client) send(s string) {
	c.tb.Helper()
	if err := c.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.tb.Fatal(err)
	}
}

func (c *client) sendBinary(b []byte) {
	c.tb.Helper()
	if err := c.c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		c.tb.Fatal(err)
	}
}

// read returns the next text frame, skipping pings.
func (c *client) read() string {
	c.tb.Helper()
	for {
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, b, err := c.c.ReadMessage()
		if err != nil {
			c.tb.Fatalf("read: %v", err)
		}
		if mt == websocket.TextMessage && string(b) == "2" {
			continue
		}
		if mt != websocket.TextMessage {
			return "binary:" + string(b)
		}
		return string(b)
	}
}

// closed reports whether the server closes the connection.
func (c *client) closed() bool {
	c.tb.Helper()
	for {
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.c.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

func (c *client) connect(nsp string) {
	c.tb.Helper()
	if nsp == "/" {
		c.send("40")
	} else {
		c.send("40" + nsp + ",")
	}
	if got := c.read(); !strings.Contains(got, `{"sid":"`) {
		c.tb.Fatalf("CONNECT answer %q", got)
	}
}

func TestEventsAndAcks(t *testing.T) {
	f := start(t, socketio.Config{}, engineio.Config{})
	c := f.dial(t)
	c.connect("/")
	tests := []struct{ name, in, want string }{
		{"event", `42["echo",{"b":1,"a":[2,"3"]},"안녕"]`, `42["echo",{"b":1,"a":[2,"3"]},"안녕"]`},
		{"event with ack", `4217["echo", 1 , {"z":null}]`, `4317[1,{"z":null}]`},
		{"event without args", `42["echo"]`, `42["echo"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.send(tc.in)
			if got := c.read(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNamespacesShareOneSession(t *testing.T) {
	f := start(t, socketio.Config{}, engineio.Config{})
	c := f.dial(t)
	c.connect("/")
	c.connect("/admin")
	c.send(`42/admin,["echo","a"]`)
	c.send(`42["echo","b"]`)
	if got := c.read(); got != `42/admin,["echo","a"]` {
		t.Errorf("got %s", got)
	}
	if got := c.read(); got != `42["echo","b"]` {
		t.Errorf("got %s", got)
	}
	c.send("41/admin,")
	if got := <-f.discs; got != "/admin client namespace disconnect" {
		t.Errorf("disconnect %q", got)
	}
	c.send(`42/admin,["echo","ignored"]`)
	c.send(`42["echo","c"]`)
	if got := c.read(); got != `42["echo","c"]` {
		t.Errorf("after leaving /admin: %s", got)
	}
}

func TestBinaryAttachments(t *testing.T) {
	// The bound counts the header with the attachments: 84 bytes for the
	// round trip.
	f := start(t, socketio.Config{MaxAttachments: 2, MaxAttachmentBytes: 90}, engineio.Config{})
	t.Run("round trip", func(t *testing.T) {
		c := f.dial(t)
		c.connect("/")
		c.send(`452-["echo",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`)
		c.sendBinary([]byte("ab"))
		c.sendBinary([]byte("cd"))
		want := []string{`452-["echo",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]`, "binary:ab", "binary:cd"}
		for _, w := range want {
			if got := c.read(); got != w {
				t.Errorf("got %q, want %q", got, w)
			}
		}
	})
	tests := []struct {
		name   string
		header string
		parts  [][]byte
	}{
		{"too many attachments", `453-["echo",1]`, nil},
		{"attachments over the byte bound", `452-["echo",1]`, [][]byte{make([]byte, 40), make([]byte, 40)}},
		{"header over the byte bound", `451-["echo","` + strings.Repeat("x", 80) + `"]`, nil},
		{"text while attachments are due", `451-["echo",1]`, nil},
		{"attachment with no packet", "", [][]byte{[]byte("x")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := f.dial(t)
			c.connect("/")
			if tc.header != "" {
				c.send(tc.header)
			}
			for _, p := range tc.parts {
				c.sendBinary(p)
			}
			if tc.name == "text while attachments are due" {
				c.send(`42["echo",2]`)
			}
			if !c.closed() {
				t.Error("session not closed")
			}
		})
	}
}

func TestMiddlewareRefuses(t *testing.T) {
	f := start(t, socketio.Config{}, engineio.Config{})
	f.sio.Of("/private").Use(func(s *socketio.Socket) error {
		var auth struct{ Token string }
		json.Unmarshal(s.Auth(), &auth)
		if auth.Token != "secret" {
			return &socketio.Refusal{Message: "bad token", Data: map[string]int{"retryIn": 5}}
		}
		return nil
	})
	c := f.dial(t)
	c.send(`40/private,{"token":"guess"}`)
	if got := c.read(); got != `44/private,{"message":"bad token","data":{"retryIn":5}}` {
		t.Errorf("refusal %s", got)
	}
	c.send(`40/private,{"token":"secret"}`)
	if got := c.read(); !strings.HasPrefix(got, `40/private,{"sid":"`) {
		t.Errorf("accepted connect %s", got)
	}
	c.send("40/nowhere,")
	if got := c.read(); got != `44/nowhere,{"message":"Invalid namespace"}` {
		t.Errorf("unknown namespace %s", got)
	}
}

func TestServerEmitWithAck(t *testing.T) {
	f := start(t, socketio.Config{}, engineio.Config{})
	type result struct {
		args []json.RawMessage
		err  error
	}
	results := make(chan result, 4)
	f.sio.Of("/").On("ask", func(s *socketio.Socket, e *socketio.EventMessage) {
		s.EmitWithAck(200*time.Millisecond, func(args []json.RawMessage, _ [][]byte, err error) {
			results <- result{args, err}
		}, "question", 42)
	})
	c := f.dial(t)
	c.connect("/")

	c.send(`42["ask"]`)
	if got := c.read(); got != `420["question",42]` {
		t.Fatalf("emit with ack: %s", got)
	}
	c.send(`430["yes",{"n":1}]`)
	if r := <-results; r.err != nil || len(r.args) != 2 || string(r.args[1]) != `{"n":1}` {
		t.Errorf("ack result %v %s", r.err, r.args)
	}

	c.send(`42["ask"]`)
	c.read() // 421["question",42], left unanswered
	if r := <-results; !errors.Is(r.err, socketio.ErrAckTimeout) {
		t.Errorf("want timeout, got %v", r.err)
	}
	c.send(`431["late"]`) // after the timeout: ignored
	c.send(`439["unknown"]`)

	c.send(`42["ask"]`)
	c.read()
	c.c.Close()
	if r := <-results; !errors.Is(r.err, socketio.ErrDisconnected) {
		t.Errorf("want disconnected, got %v", r.err)
	}
}

func TestDisconnectFromServer(t *testing.T) {
	f := start(t, socketio.Config{}, engineio.Config{})
	f.sio.Of("/").On("bye", func(s *socketio.Socket, _ *socketio.EventMessage) { s.Disconnect() })
	c := f.dial(t)
	c.connect("/")
	c.send(`42["bye"]`)
	if got := c.read(); got != "41" {
		t.Errorf("got %q, want DISCONNECT", got)
	}
	if got := <-f.discs; got != "/ server namespace disconnect" {
		t.Errorf("disconnect %q", got)
	}
}

func TestConnectTimeout(t *testing.T) {
	f := start(t, socketio.Config{ConnectTimeout: 100 * time.Millisecond}, engineio.Config{})
	c := f.dial(t)
	if !c.closed() {
		t.Error("session that never connected is still open")
	}
}

// partials counts what a socketio.Server tells its Observer.
type partials struct {
	timedOut atomic.Int64
	held     atomic.Int64
}

func (p *partials) AttachmentsTimedOut()   { p.timedOut.Add(1) }
func (p *partials) PartialBytes(delta int) { p.held.Add(int64(delta)) }

// TestUnfinishedAttachmentsTimeOut: a header announcing two attachments and
// one attachment, then silence, closes the session once AttachmentTimeout
// has passed, counted, and what it held is let go; a packet whose
// attachments arrive in time is delivered.
func TestUnfinishedAttachmentsTimeOut(t *testing.T) {
	obs := &partials{}
	f := start(t, socketio.Config{AttachmentTimeout: 300 * time.Millisecond, Observer: obs}, engineio.Config{})

	quick := f.dial(t)
	quick.connect("/")
	quick.send(`451-["echo",{"_placeholder":true,"num":0}]`)
	quick.sendBinary([]byte("ab"))
	for _, want := range []string{`451-["echo",{"_placeholder":true,"num":0}]`, "binary:ab"} {
		if got := quick.read(); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}

	c := f.dial(t)
	c.connect("/")
	c.send(`452-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	c.sendBinary(make([]byte, 1000))
	start := time.Now()
	if !c.closed() {
		t.Fatal("session with unfinished attachments not closed")
	}
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("closed after %v, before the timeout", took)
	}
	if got := <-f.discs; got != "/ forced close" {
		t.Errorf("disconnect %q", got)
	}
	if n := obs.timedOut.Load(); n != 1 {
		t.Errorf("%d timeouts counted, want 1", n)
	}
	if n := obs.held.Load(); n != 0 {
		t.Errorf("%d bytes still held", n)
	}
	// The quick packet's timer, stopped, never fires.
	quick.send(`42["echo","still here"]`)
	if got := quick.read(); got != `42["echo","still here"]` {
		t.Errorf("got %q", got)
	}
}

// TestAttachmentsShareMaxPayload: while a packet waits for attachments, a
// WebSocket message that would not fit beside it in MaxPayload is refused
// by the read limit (close 1009) before it is read in full.
func TestAttachmentsShareMaxPayload(t *testing.T) {
	f := start(t, socketio.Config{MaxAttachmentBytes: 1000}, engineio.Config{MaxPayload: 1000})
	c := f.dial(t)
	c.connect("/")
	header := `452-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`
	c.send(header)
	c.sendBinary(make([]byte, 500))
	// The Socket.IO packet is the Engine.IO message after its type byte.
	c.sendBinary(make([]byte, 1000-(len(header)-1)-500+1))
	for {
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.c.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Fatalf("want close 1009 (too big), got %v", err)
		}
		break
	}
}
