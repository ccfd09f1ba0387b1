package e2e

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestAPIRateLimit: the server API's token bucket per client refuses
// past its burst, over HTTP (429 rate_limited with a Retry-After) and
// over NATS (rate_limited), leaves other clients their own budget, and
// lets the client in again once tokens are back.
func TestAPIRateLimit(t *testing.T) {
	const burst = 5
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{}, gateway.Config{
		APIKey:  gateway.Secret(apiKey),
		APIRate: gateway.Rate{PerSecond: 2, Burst: burst},
	})
	url := s.gateways[0].URL + proto.APIPath(proto.APIRooms)
	refused := 0 // the rate_limited answers seen, which the metric must count
	// From loopback, a trusted proxy: X-Real-IP names the client.
	rooms := func(client string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("X-Real-IP", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ack proto.ErrorAck
		json.NewDecoder(resp.Body).Decode(&ack)
		if ack.Error != nil {
			if ack.Error.Code == proto.CodeRateLimited {
				refused++
			}
			return resp, ack.Error.Code
		}
		return resp, "ok"
	}

	t.Run("http", func(t *testing.T) {
		for i := range burst {
			if resp, code := rooms("203.0.113.7"); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d of the burst: %d %s", i+1, resp.StatusCode, code)
			}
		}
		resp, code := rooms("203.0.113.7")
		if resp.StatusCode != http.StatusTooManyRequests || code != proto.CodeRateLimited {
			t.Fatalf("past the burst: %d %s, want 429 %s", resp.StatusCode, code, proto.CodeRateLimited)
		}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n != 1 {
			t.Errorf("Retry-After %q, want 1 (a token in 0.5 s)", resp.Header.Get("Retry-After"))
		}
		if resp, code := rooms("198.51.100.9"); resp.StatusCode != http.StatusOK {
			t.Errorf("another client: %d %s, want its own budget", resp.StatusCode, code)
		}
		wait.Eventually(t, 5*time.Second, func() bool { resp, _ := rooms("203.0.113.7"); return resp.StatusCode == http.StatusOK },
			"the limited client is let in again")
	})

	t.Run("nats", func(t *testing.T) {
		nc := natstest.Connect(t, s.nats.ClientURL())
		ask := func(nc *nats.Conn) string {
			msg, err := nc.Request(proto.APISubject(proto.APIRooms), []byte("{}"), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var ack proto.ErrorAck
			json.Unmarshal(msg.Data, &ack)
			if ack.Error != nil {
				if ack.Error.Code == proto.CodeRateLimited {
					refused++
				}
				return ack.Error.Code
			}
			return "ok"
		}
		for i := range burst {
			if got := ask(nc); got != "ok" {
				t.Fatalf("request %d of the burst: %s", i+1, got)
			}
		}
		if got := ask(nc); got != proto.CodeRateLimited {
			t.Fatalf("past the burst: %s, want %s", got, proto.CodeRateLimited)
		}
		if got := ask(natstest.Connect(t, s.nats.ClientURL())); got != "ok" {
			t.Errorf("another connection: %s, want its own budget", got)
		}
		wait.Eventually(t, 5*time.Second, func() bool { return ask(nc) == "ok" }, "the limited connection is let in again")
	})

	if n := metricValue(t, s.metrics[0], "natter_gateway_api_requests_total", "op", proto.APIRooms, "result", proto.CodeRateLimited); int(n) != refused || refused < 2 {
		t.Errorf("api_requests_total{op=rooms,result=rate_limited} = %v, the test saw %d", n, refused)
	}
}
