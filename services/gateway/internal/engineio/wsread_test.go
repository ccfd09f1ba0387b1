package engineio_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/services/gateway/internal/engineio"
)

// maskedFrame is a final client frame of payload, masked with the zero key
// (RFC 6455 §5.3: the payload is then unchanged), so that a test may write
// several frames in one write. len(payload) < 126.
func maskedFrame(opcode byte, payload string) []byte {
	return append([]byte{0x80 | opcode, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
}

// TestWebSocketReadsPastItsBuffer sends a message many times the read
// buffer's size, and then frames that arrive together in one write, with
// a ping among them: each is read whole, in order, the ping answered in
// turn.
func TestWebSocketReadsPastItsBuffer(t *testing.T) {
	f := start(t, engineio.Config{})
	c := dial(t, f.wsURL("transport=websocket"))
	readText(t, c)                                   // open
	big := "4" + strings.Repeat("héllo 안녕 ", 20_000) // 300 KB
	send(t, c, big)
	if got := readText(t, c); got != big {
		t.Fatalf("echo of %d bytes: %d bytes back", len(big), len(got))
	}

	var together []byte
	var want []string
	for i := range 40 {
		msg := fmt.Sprintf("4m%d", i)
		together = append(together, maskedFrame(websocket.TextMessage, msg)...)
		want = append(want, msg)
		if i == 20 {
			together = append(together, maskedFrame(websocket.PingMessage, "p")...)
		}
	}
	pongs := make(chan string, 1)
	c.SetPongHandler(func(data string) error { pongs <- data; return nil })
	if _, err := c.NetConn().Write(together); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if got := readText(t, c); got != w {
			t.Fatalf("message %d: %q, want %q", i, got, w)
		}
	}
	select {
	case p := <-pongs:
		if p != "p" {
			t.Errorf("pong %q, want %q", p, "p")
		}
	default:
		t.Error("the ping among the frames was not answered before the echoes after it")
	}
}

// deepEcho's sessions echo every message from deep in a recursion, as a
// handler whose work needs far more stack than a goroutine starts with.
type deepEcho struct{}

func (deepEcho) ServeSession(s *engineio.Session) engineio.SessionHandler {
	return deepEchoSession{s}
}

type deepEchoSession struct{ s *engineio.Session }

func (h deepEchoSession) OnMessage(data []byte, _ bool) { h.echo(data, 64) }

// echo recurses depth times, each frame holding 256 bytes, then sends.
//
//go:noinline
func (h deepEchoSession) echo(data []byte, depth int) {
	var pad [256]byte
	pad[depth%len(pad)] = byte(depth)
	if depth > 0 {
		h.echo(data, depth-1)
		runtime.KeepAlive(pad)
		return
	}
	h.s.Send(engineio.TextPacket(engineio.Message, data))
}

func (deepEchoSession) OnClose(string) {}

// stackInUse returns the bytes of goroutine stacks, after a collection
// (which shrinks the stacks it may).
func stackInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.StackInuse)
}

// TestIdleWebSocketHoldsASmallStack has sessions whose handler grows its
// stack past 16 KB for each message; once idle, each must hold no more
// than a goroutine's smallest stack, 2 KB (and some slack). The runtime
// keeps 4 KB for a goroutine that waits on a socket after it grew (it
// shrinks a stack only while a quarter of it is in use), so a reader that
// stayed on its goroutine would hold that. The second message is the one
// measured: a goroutine starts on the average stack the last collection
// saw in use (GODEBUG adaptivestackstart), which is 4 KB while the test's
// few goroutines are all there is, and 2 KB once the idle readers are the
// many.
func TestIdleWebSocketHoldsASmallStack(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector's stacks are larger")
	}
	const n = 200
	srv := engineio.NewServer(engineio.Config{}, deepEcho{})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close(engineio.ReasonServerShutdown)
	})
	before := stackInUse()
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dial(t, "ws"+strings.TrimPrefix(hs.URL, "http")+"/socket.io/?EIO=4&transport=websocket")
		readText(t, conns[i]) // open
		echoed(t, conns[i], "4hello")
	}
	stackInUse()
	for _, c := range conns {
		echoed(t, c, "4again")
	}
	var perConn int64
	if wait.Until(context.Background(), 5*time.Second, func() error {
		if perConn = (stackInUse() - before) / n; perConn > 2560 {
			return errors.New("not yet")
		}
		return nil
	}) != nil {
		t.Fatalf("%d bytes of stack per idle connection, want 2 KB", perConn)
	}
}

// echoed sends msg and checks that it comes back.
func echoed(tb testing.TB, c *websocket.Conn, msg string) {
	tb.Helper()
	send(tb, c, msg)
	if got := readText(tb, c); got != msg {
		tb.Fatalf("echo %q, want %q", got, msg)
	}
}

// headerSpy's sessions report the headers they kept of their request.
type headerSpy chan http.Header

func (h headerSpy) ServeSession(s *engineio.Session) engineio.SessionHandler {
	h <- s.Request().Header
	return deepEchoSession{s}
}

// TestSessionKeepsTheNamedHeaders: a session keeps the headers
// Config.RequestHeaders names, every header when it names none.
func TestSessionKeepsTheNamedHeaders(t *testing.T) {
	sent := http.Header{"X-Real-Ip": {"198.51.100.1"}, "Cookie": {"a=b"}, "X-Forwarded-For": {"10.0.0.1", "10.0.0.2"}}
	for _, tc := range []struct {
		name string
		keep []string
		want http.Header
	}{
		{"named", []string{"X-Real-IP", "X-Forwarded-For", "Authorization"},
			http.Header{"X-Real-Ip": {"198.51.100.1"}, "X-Forwarded-For": {"10.0.0.1", "10.0.0.2"}}},
		{"none there", []string{"Authorization"}, nil},
		{"all", nil, sent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := make(headerSpy, 1)
			hs := httptest.NewServer(engineio.NewServer(engineio.Config{RequestHeaders: tc.keep}, spy))
			defer hs.Close()
			c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/socket.io/?EIO=4&transport=websocket", sent)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := <-spy
			for k, v := range tc.want {
				if !slices.Equal(got[k], v) {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
			if tc.keep != nil && len(got) != len(tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}
