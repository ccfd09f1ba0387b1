package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/wait"
)

// TestAckedMeansStoredThroughFaults has three clients send 10,000
// numbered messages, resending each until it is acked ok, while the
// history service is killed and restarted, then NATS, then the history
// service again: every acked message is in history exactly once.
func TestAckedMeansStoredThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	const total = 10000
	c := startClusterSpec(t, clusterSpec{
		gateways: 2, presences: 1,
		historyEnv: []string{"NATTER_HISTORY_MAX_PER_ROOM=50000"},
		// The rate limit is not under test: let the clients go as fast as acks
		// come, and the reader page back through all of history at once.
		gatewayEnv: []string{"NATTER_MESSAGE_RATE=1000000", "NATTER_MESSAGE_BURST=1000000", "NATTER_RATE_LIMITS=history.*=off"},
	})
	progress := filepath.Join(t.TempDir(), "progress")
	acked := func() int {
		b, _ := os.ReadFile(progress)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	// Each fault comes once the clients have got that far, and while they
	// are still sending.
	faults := []struct {
		at   int
		what string
		p    *proc
	}{{total * 15 / 100, "history", c.history}, {total * 40 / 100, "nats", c.nats}, {total * 65 / 100, "history", c.history}}
	env, errc := signal(t, func() error {
		for _, f := range faults {
			if err := wait.Until(context.Background(), 3*time.Minute, func() error {
				if n := acked(); n < f.at {
					return fmt.Errorf("the clients never reached %d acks (at %d)", f.at, n)
				}
				return nil
			}); err != nil {
				return err
			}
			if n := acked(); n >= total {
				return fmt.Errorf("all %d messages were sent before the %s fault", n, f.what)
			}
			t.Logf("kill -9 %s at %d acks", f.what, acked())
			f.p.kill()
			if err := f.p.startErr(); err != nil {
				return err
			}
		}
		return nil
	})
	nodetest.Run(t, "faults.test.mjs", 8*time.Minute, append(env,
		"NATTER_URL="+c.gatewayURLs[0], "NATTER_URL_2="+c.gatewayURLs[1],
		"NATTER_PROGRESS="+progress, fmt.Sprintf("NATTER_TOTAL=%d", total))...)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestRecoveryWhenGatewayKilled: a client on a gateway that is killed -9
// reconnects through the balancer to another and is recovered with
// exactly what it missed; over WebSocket, over long-polling alone (its
// requests served by both balanced gateways), and with the default
// transports (polling, then the upgrade, both across gateways).
func TestRecoveryWhenGatewayKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	for _, mode := range []string{"websocket", "polling", "default"} {
		t.Run(mode, func(t *testing.T) {
			c := startCluster(t, 3)
			lb := roundRobin(t, c.gatewayURLs[:2])
			env, errc := signal(t, func() error { return killHolder(t, c, false) })
			nodetest.Run(t, "recovery-crash.test.mjs", 2*time.Minute, append(env, "NATTER_MODE="+mode,
				"NATTER_URL="+lb.URL, "NATTER_URL_2="+c.gatewayURLs[2])...)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// killHolder kills -9 whichever of c's first two gateways holds a
// session (the client behind the balancer), and with restart starts it
// again and waits until it is ready. It may run in any goroutine.
func killHolder(tb testing.TB, c *cluster, restart bool) error {
	for i, u := range c.gatewayURLs[:2] {
		if sessions(tb, u) == 0 {
			continue
		}
		tb.Logf("kill -9 gateway%d, which holds the client (restart: %v)", i+1, restart)
		c.gateways[i].kill()
		if !restart {
			return nil
		}
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
	return fmt.Errorf("neither balanced gateway holds a session")
}

// sessions returns the open sessions of the gateway at url.
func sessions(tb testing.TB, url string) float64 {
	return metricSum(tb, url, "natter_gateway_sessions")
}

// metricSum adds up the samples of a metric that the service at url exports.
func metricSum(tb testing.TB, url, name string) float64 {
	tb.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}
