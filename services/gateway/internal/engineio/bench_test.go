package engineio_test

import (
	be "encoding/binary"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

// BenchmarkWebSocketEcho measures one message's round trip through a
// WebSocket session: client write, server read and queue, server write,
// client read.
func BenchmarkWebSocketEcho(b *testing.B) {
	f := start(b, engineio.Config{})
	c := dial(b, f.wsURL("transport=websocket"))
	readText(b, c)
	msg := []byte(`4` + `2["client message",{"message":"안녕하세요, natter"}]`)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPollingRoundTrip measures a POST of one message and the GET
// that brings its echo back.
func BenchmarkPollingRoundTrip(b *testing.B) {
	f := start(b, engineio.Config{})
	q := "transport=polling&sid=" + f.openPolling(b).SID
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if code, _ := f.post(b, q, "4hello"); code != 200 {
			b.Fatal(code)
		}
		if code, body := f.get(b, q); code != 200 || !strings.HasPrefix(body, "4hello") {
			b.Fatal(code, body)
		}
	}
}

// sessions is a Handler that hands each new session to a channel.
type sessions chan *engineio.Session

func (c sessions) ServeSession(s *engineio.Session) engineio.SessionHandler {
	c <- s
	return discard{}
}

type discard struct{}

func (discard) OnMessage([]byte, bool) {}
func (discard) OnClose(string)         {}

// frameCounter reads a server's WebSocket byte stream and counts its
// frames, without allocating: a client that costs the benchmark nothing
// per frame.
func frameCounter(tb testing.TB, conn net.Conn, frames chan<- int) {
	buf := make([]byte, 64<<10)
	var hdr [10]byte
	n, need, skip := 0, 2, 0 // header bytes held, header length, payload left
	count := 0
	for {
		r, err := conn.Read(buf)
		if err != nil {
			frames <- count
			return
		}
		for b := buf[:r]; len(b) > 0; {
			if skip > 0 {
				k := min(skip, len(b))
				skip, b = skip-k, b[k:]
				continue
			}
			hdr[n] = b[0]
			n, b = n+1, b[1:]
			if n == 2 {
				switch hdr[1] & 0x7f {
				case 126:
					need = 4
				case 127:
					need = 10
				}
			}
			if n < need {
				continue
			}
			length := int(hdr[1] & 0x7f)
			switch need {
			case 4:
				length = int(be.BigEndian.Uint16(hdr[2:4]))
			case 10:
				length = int(be.BigEndian.Uint64(hdr[2:10]))
			}
			skip, n, need = length, 0, 2
			count++
		}
	}
}

// BenchmarkFanOut sends one frame to every one of N WebSocket sessions per
// op, as the gateway fans out a room's message, and waits for the clients
// to have read them all. allocs/op must not grow with N: nothing is
// allocated per recipient.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{20, 200} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			ss := make(sessions, n)
			srv := engineio.NewServer(engineio.Config{SendQueueBytes: 64 << 20}, ss)
			hs := httptest.NewServer(srv)
			defer hs.Close()
			defer srv.Close(engineio.ReasonServerShutdown)
			frames := make(chan int, n)
			var members []*engineio.Session
			for range n {
				c := dial(b, "ws"+strings.TrimPrefix(hs.URL, "http")+"/?EIO=4&transport=websocket")
				readText(b, c) // the open packet
				c.SetReadDeadline(time.Time{})
				members = append(members, <-ss)
				go frameCounter(b, c.NetConn(), frames)
			}
			frame := engineio.TextPacket(engineio.Message, []byte(`2["server message",{"id":"01JDK6Q3W8YB5V2T9RZC4N7M0X","room":"lobby","username":"민지","color":"#e6194b","message":"안녕하세요, natter","ts":1732400000000},"12345"]`))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, m := range members {
					if err := m.Send(frame); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			srv.Close(engineio.ReasonServerShutdown)
			got := 0
			for range n {
				got += <-frames
			}
			if want := n * (b.N + 1); got != want { // and each close frame
				b.Fatalf("clients read %d frames, want %d", got, want)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
