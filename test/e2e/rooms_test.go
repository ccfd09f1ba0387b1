package e2e

import (
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
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
	env, errc := signal(t, func() error { return killHolder(t, c, true) })
	nodetest.Run(t, "rooms.test.mjs", 2*time.Minute, append(env, "NATTER_MODE=default", "NATTER_MAX_ROOMS=3",
		"NATTER_URL="+lb.URL, "NATTER_URL_2="+c.gatewayURLs[2])...)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
