package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/wait"
)

// TestSeveralRoomsOnOneConnection runs rooms.test.mjs: one connection in
// two rooms on one gateway, others in one of them on another gateway (one
// over long-polling); each room's events, leave room, tabs counted once,
// the limit of rooms, disconnect leaving every room; then the
// connection's gateway killed -9 and restarted, and the connection
// recovered in both rooms with what each missed.
func TestSeveralRoomsOnOneConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startClusterSpec(t, clusterSpec{gateways: 3, presences: 1, gatewayEnv: []string{"NATTER_MAX_ROOMS=3"}})
	lb := roundRobin(t, c.gatewayURLs[:2])
	env, errc := signal(t, func() error {
		for i, u := range c.gatewayURLs[:2] {
			if sessions(t, u) > 0 {
				t.Logf("kill -9 gateway%d, which holds the client, and start it again", i+1)
				c.gateways[i].kill()
				if err := c.gateways[i].startErr(); err != nil {
					return err
				}
				return wait.Until(context.Background(), 30*time.Second, func() error {
					resp, err := http.Get(u + "/readyz")
					if err != nil {
						return err
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						return fmt.Errorf("gateway%d: %s", i+1, resp.Status)
					}
					return nil
				})
			}
		}
		return fmt.Errorf("neither balanced gateway holds a session")
	})
	nodetest.Run(t, "rooms.test.mjs", 2*time.Minute, append(env, "NATTER_MODE=default", "NATTER_MAX_ROOMS=3",
		"NATTER_URL="+lb.URL, "NATTER_URL_2="+c.gatewayURLs[2])...)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
