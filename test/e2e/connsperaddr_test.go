package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/kit/wait"
)

// TestNginxConnsPerAddr: nginx, in front of every gateway, bounds how many
// requests one client address holds open, wherever they go
// (NATTER_CONNS_PER_ADDR, deploy/nginx/natter.conf.template): past the
// bound a WebSocket is refused with 429, while another address connects,
// and once one closes the address may connect again. Each gateway's own
// limits count only what reaches it; this one counts across them.
func TestNginxConnsPerAddr(t *testing.T) {
	const limit = 12
	s := clusterUp(t, false, "NATTER_CONNS_PER_ADDR=12")
	url := "ws" + strings.TrimPrefix(s.url, "http") + "/socket.io/?EIO=4&transport=websocket"
	dialFrom := func(ip string) (*websocket.Conn, int, error) {
		d := websocket.Dialer{
			HandshakeTimeout: 5 * time.Second,
			NetDialContext:   (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext,
		}
		c, resp, err := d.DialContext(context.Background(), url, nil)
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return c, status, err
	}

	var held []*websocket.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := range limit {
		c, status, err := dialFrom("127.0.0.9")
		if err != nil {
			t.Fatalf("connection %d of %d from one address: %d %v", i+1, limit, status, err)
		}
		if _, data, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(data), "0{") {
			t.Fatalf("connection %d: open packet %q %v", i+1, data, err)
		}
		held = append(held, c)
	}
	if c, status, err := dialFrom("127.0.0.9"); err == nil || status != http.StatusTooManyRequests {
		if c != nil {
			c.Close()
		}
		t.Fatalf("connection %d from one address: status %d, err %v; want 429", limit+1, status, err)
	}
	other, status, err := dialFrom("127.0.0.10")
	if err != nil {
		t.Fatalf("another address: %d %v", status, err)
	}
	other.Close()

	// One closes: nginx counts it gone once it has seen the close.
	held[0].Close()
	held = held[1:]
	wait.Succeeds(t, 10*time.Second, func() error {
		c, status, err := dialFrom("127.0.0.9")
		if err == nil {
			held = append(held, c)
			return nil
		}
		err = fmt.Errorf("after one closed: status %d, err %v", status, err)
		if status != http.StatusTooManyRequests {
			t.Fatal(err)
		}
		return err
	})
}
