package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// BenchmarkSendMessage measures the round trip of a chat message over a
// WebSocket, from the emit to its ack (stored in JetStream, on a file
// store), in process: without a clientId, and with one (which adds the
// dedup bucket's read before the publish and write after). It reports the
// median and 99th percentile.
//
//	cd test/e2e && go test -run '^$' -bench SendMessage -benchtime 5000x
func BenchmarkSendMessage(b *testing.B) {
	s := startSystemWith(b, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{},
		gateway.Config{MessageRate: 1e9, MessageBurst: 1e9})
	url := "ws" + strings.TrimPrefix(s.gateways[0].URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// readUntil reads frames until one starts with prefix, answering pings.
	readUntil := func(prefix string) string {
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			if string(data) == "2" {
				c.WriteMessage(websocket.TextMessage, []byte("3"))
				continue
			}
			if strings.HasPrefix(string(data), prefix) {
				return string(data)
			}
		}
	}
	send := func(s string) {
		if err := c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
			b.Fatal(err)
		}
	}
	readUntil("0{")
	send("40")
	readUntil("40")
	send(`420["join",{"username":"bench","room":"bench"}]`)
	if ack := readUntil("430"); !strings.Contains(ack, `"ok":true`) {
		b.Fatal(ack)
	}
	id := 1
	for _, bc := range []struct {
		name     string
		clientID bool
	}{{"no-clientId", false}, {"clientId", true}} {
		b.Run(bc.name, func(b *testing.B) {
			took := make([]time.Duration, 0, b.N)
			for b.Loop() {
				id++
				extra := ""
				if bc.clientID {
					extra = fmt.Sprintf(`,"clientId":"c%d"`, id)
				}
				start := time.Now()
				send(fmt.Sprintf(`42%d["client message",{"message":"hello"%s}]`, id, extra))
				if ack := readUntil(fmt.Sprintf("43%d[", id)); !strings.Contains(ack, `"ok":true`) {
					b.Fatal(ack)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
