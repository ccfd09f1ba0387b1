package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/services/presence"
)

// forwardRoutes are the two ways the forward benchmarks reach a session
// opened on gateway 1: through gateway 1 (direct), and through gateway 2,
// which passes the request on (forwarded).
func forwardRoutes(s *system) []struct{ name, url string } {
	return []struct{ name, url string }{{"direct", s.gateways[0].URL}, {"forwarded", s.gateways[1].URL}}
}

// BenchmarkPollingForward measures what passing a polling request to the
// gateway that owns its session adds: the same POST sent to the owner
// (direct) and to another gateway (forwarded over NATS). It reports the
// median and 99th percentile of the round trip.
//
//	cd test/e2e && go test -run '^$' -bench PollingForward -benchtime 5000x
func BenchmarkPollingForward(b *testing.B) {
	s := startSystem(b, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	resp, err := http.Get(s.gateways[0].URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sid := strings.SplitN(strings.SplitN(string(body), `"sid":"`, 2)[1], `"`, 2)[0]
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, bc := range forwardRoutes(s) {
		b.Run(bc.name, func(b *testing.B) {
			url := bc.url + "/socket.io/?EIO=4&transport=polling&sid=" + sid
			took := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				r, err := client.Post(url, "text/plain;charset=UTF-8", strings.NewReader("6"))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode != 200 {
					b.Fatal(r.Status)
				}
				took = append(took, time.Since(start))
			}
			reportLatency(b, took)
		})
	}
}

// BenchmarkWebSocketForward measures what passing a WebSocket on to the
// gateway that owns its session adds: a Socket.IO event with an ack, over
// a session opened by polling on gateway 1 and upgraded with a WebSocket
// sent to gateway 1 (direct) or to gateway 2 (forwarded: gateway 2 proxies
// the TCP connection to gateway 1). The event is a chat message from a
// connection that has not joined, which the gateway acks at once
// (not_joined): what is timed is the transport, not JetStream. It reports
// the median and 99th percentile of the round trip.
//
//	cd test/e2e && go test -run '^$' -bench WebSocketForward -benchtime 20000x
func BenchmarkWebSocketForward(b *testing.B) {
	s := startSystem(b, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	for _, bc := range forwardRoutes(s) {
		b.Run(bc.name, func(b *testing.B) {
			sid := pollOpen(b, s.gateways[0].URL)
			ws := wsUpgrade(b, bc.url, sid)
			took := make([]time.Duration, 0, b.N)
			id := 0
			for b.Loop() {
				id++
				ack := "43" + strconv.Itoa(id) + "["
				start := time.Now()
				if err := ws.WriteMessage(websocket.TextMessage, []byte("42"+strconv.Itoa(id)+`["client message",{"message":"x"}]`)); err != nil {
					b.Fatal(err)
				}
				for !strings.HasPrefix(wsRead(b, ws), ack) { // pings are answered
					continue
				}
				took = append(took, time.Since(start))
			}
			reportLatency(b, took)
		})
	}
}
