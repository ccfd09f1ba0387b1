package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsChatter is a bare Socket.IO client over WebSocket, for benchmarks.
type wsChatter struct {
	tb testing.TB
	c  *websocket.Conn
}

// dialChatter connects to base's gateway and joins room as name.
func dialChatter(tb testing.TB, base, name, room string) *wsChatter {
	tb.Helper()
	w := dialSocket(tb, base)
	if ack := w.request(0, "join", fmt.Sprintf(`{"username":%q,"room":%q}`, name, room)); !strings.Contains(ack, `"ok":true`) {
		tb.Fatal(ack)
	}
	return w
}

// dialSocket connects to base's gateway, to the namespace "/", joined to
// nothing.
func dialSocket(tb testing.TB, base string) *wsChatter {
	tb.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	w := &wsChatter{tb, c}
	w.readUntil("0{")
	w.send("40")
	w.readUntil("40")
	return w
}

// request emits event with arg (JSON) under ack id, and returns the ack's
// argument.
func (w *wsChatter) request(id int, event, arg string) string {
	prefix := fmt.Sprintf("43%d[", id)
	w.send(fmt.Sprintf(`42%d[%q,%s]`, id, event, arg))
	return strings.TrimSuffix(strings.TrimPrefix(w.readUntil(prefix), prefix), "]")
}

func (w *wsChatter) send(s string) {
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		w.tb.Error(err)
	}
}

// readUntil reads frames until one starts with prefix, answering pings.
func (w *wsChatter) readUntil(prefix string) string {
	for {
		_, data, err := w.c.ReadMessage()
		if err != nil {
			w.tb.Error(err)
			return ""
		}
		if string(data) == "2" {
			w.send("3")
			continue
		}
		if strings.HasPrefix(string(data), prefix) {
			return string(data)
		}
	}
}

// BenchmarkFanOut measures delivery to a room of 200 members on one
// gateway: one op is a message stored and received by all of them. It
// reports messages delivered per second (to one member each).
//
//	cd test/e2e && go test -run '^$' -bench FanOut -benchtime 2000x
func BenchmarkFanOut(b *testing.B) {
	const members = 200
	s := startUnlimited(b)
	url := s.gateways[0].URL
	sender := dialChatter(b, url, "sender", "fan")
	var readers []*wsChatter
	for i := range members {
		readers = append(readers, dialChatter(b, url, fmt.Sprintf("m%d", i), "fan"))
	}
	// The sender's own acks, and the members' messages, read as they come.
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Go(func() {
			for range b.N {
				r.readUntil(`42["server message"`)
			}
		})
	}
	window := make(chan struct{}, 64) // acked messages in flight
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range b.N {
			if ack := sender.readUntil("43"); !strings.Contains(ack, `"ok":true`) {
				b.Error(ack)
			}
			<-window
		}
	}()
	for i := range b.N {
		window <- struct{}{}
		sender.send(fmt.Sprintf(`42%d["client message",{"message":"m%d"}]`, i, i))
	}
	<-done
	wg.Wait()
	b.ReportMetric(float64(b.N*members)/time.Since(start).Seconds(), "deliveries/s")
}
