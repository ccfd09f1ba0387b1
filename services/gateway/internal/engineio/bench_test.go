package engineio_test

import (
	"strings"
	"testing"

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
