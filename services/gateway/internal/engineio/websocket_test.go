package engineio_test

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

// burst is a Handler whose sessions answer a message with its packets,
// each sent on its own, then report on sent. With closes set, they report
// their close reason there, and stop sending once closed; without, a send
// that fails panics.
type burst struct {
	packets []engineio.Packet
	sent    chan struct{}
	closes  chan string
}

func (b *burst) ServeSession(s *engineio.Session) engineio.SessionHandler {
	return burstSession{b, s}
}

type burstSession struct {
	b *burst
	s *engineio.Session
}

func (h burstSession) OnMessage([]byte, bool) {
	for _, p := range h.b.packets {
		if err := h.s.Send(p); err != nil {
			if h.b.closes != nil {
				return
			}
			panic(err)
		}
	}
	h.b.sent <- struct{}{}
}

func (h burstSession) OnClose(reason string) {
	if h.b.closes != nil {
		h.b.closes <- reason
	}
}

// heldObserver holds the first WebSocket write's return until released,
// and records how many frames each write carried.
type heldObserver struct {
	engineio.NopObserver
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	writes  []int
}

func (o *heldObserver) WebSocketWrite(frames int) {
	o.mu.Lock()
	o.writes = append(o.writes, frames)
	o.mu.Unlock()
	o.once.Do(func() { <-o.release })
}

func (o *heldObserver) counts() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int(nil), o.writes...)
}

// burstPackets are text and binary packets of every frame-length class:
// 7-bit, 16-bit and 64-bit lengths, inline and written where they lie.
func burstPackets(n int) []engineio.Packet {
	sizes := []int{0, 1, 124, 125, 126, 4095, 4096, 4097, 65534, 65535, 65536, 70000}
	var ps []engineio.Packet
	for i := range n {
		size := sizes[i%len(sizes)]
		data := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		data = append(fmt.Appendf(nil, "%d:", i), data...)
		if i%5 == 3 {
			ps = append(ps, engineio.BinaryPacket(data))
		} else {
			ps = append(ps, engineio.TextPacket(engineio.Message, data))
		}
	}
	return ps
}

// TestWebSocketWritesWhatWaitsInOneWrite holds the writer after its first
// write (the open packet) while a burst of packets is sent one by one;
// once released, it must write them all in one write, and the client must
// read each as its own frame, in order, unchanged.
func TestWebSocketWritesWhatWaitsInOneWrite(t *testing.T) {
	obs := &heldObserver{release: make(chan struct{})}
	b := &burst{packets: burstPackets(240), sent: make(chan struct{}, 1)}
	srv := engineio.NewServer(engineio.Config{Observer: obs, SendQueueBytes: 64 << 20}, b)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close(engineio.ReasonServerShutdown)

	c := dial(t, "ws"+hs.URL[len("http"):]+"/?EIO=4&transport=websocket")
	// The open packet is written, and the writer held after writing it.
	if open := readText(t, c); open[0] != '0' {
		t.Fatalf("first frame %q, want the open packet", open)
	}
	send(t, c, "4go")
	select {
	case <-b.sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the burst was not sent")
	}
	close(obs.release)
	for i, want := range b.packets {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		mt, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if want.Binary {
			if mt != websocket.BinaryMessage || !bytes.Equal(got, want.Data) {
				t.Fatalf("packet %d: binary frame of %d bytes, want %d bytes", i, len(got), len(want.Data))
			}
			continue
		}
		if mt != websocket.TextMessage || got[0] != '4' || !bytes.Equal(got[1:], want.Data) {
			t.Fatalf("packet %d: frame of %d bytes (type %d), want a text message of %d", i, len(got), mt, len(want.Data)+1)
		}
	}
	if w := obs.counts(); len(w) != 2 || w[0] != 1 || w[1] != len(b.packets) {
		t.Errorf("frames per write %v, want [1 %d]", w, len(b.packets))
	}
}

// TestWebSocketControlFrames: a client's ping is answered with its pong,
// in turn with the queued packets, and a client's close frame with the
// server's, after which the session is closed as the client's doing.
func TestWebSocketControlFrames(t *testing.T) {
	f := start(t, engineio.Config{})
	c := dial(t, f.wsURL("transport=websocket"))
	readText(t, c)
	pong := make(chan string, 1)
	c.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	send(t, c, "4after the ping")
	if got := readText(t, c); got != "4after the ping" { // the pong is read on the way
		t.Fatalf("echo %q", got)
	}
	select {
	case got := <-pong:
		if got != "are you there" {
			t.Errorf("pong %q", got)
		}
	default:
		t.Fatal("no pong before the echo that was sent after the ping")
	}

	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("after the client's close: %v, want the server's normal close", err)
	}
	if r := waitClose(t, f.echo); r != engineio.ReasonTransportClose {
		t.Errorf("reason %q", r)
	}
}

// TestWebSocketSlowConsumer: a client that reads nothing while the server
// floods it is closed as a slow consumer, counted, and its connection let
// go at once, not after a write timeout.
func TestWebSocketSlowConsumer(t *testing.T) {
	obs := &countingObserver{Observer: engineio.NopObserver{}}
	// 32 MiB asked for at once: more than the loopback's socket buffers
	// take, so that the writer waits in a write when the queue overflows.
	big := engineio.TextPacket(engineio.Message, make([]byte, 64<<10))
	closes := make(chan string, 1)
	b := &burst{packets: slices.Repeat([]engineio.Packet{big}, 512), sent: make(chan struct{}, 1), closes: closes}
	srv := engineio.NewServer(engineio.Config{SendQueueBytes: 4 << 20, WriteTimeout: time.Minute, Observer: obs}, b)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close(engineio.ReasonServerShutdown)

	c := dial(t, "ws"+hs.URL[len("http"):]+"/?EIO=4&transport=websocket")
	send(t, c, "4go") // and never read
	select {
	case r := <-closes:
		if r != engineio.ReasonSlowConsumer {
			t.Errorf("reason %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("slow consumer not closed")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Close(engineio.ReasonServerShutdown) // waits for the connection's goroutines
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow consumer's connection is still held (the writer waits on the write timeout)")
	}
	obs.wantOneSlow(t)
}
