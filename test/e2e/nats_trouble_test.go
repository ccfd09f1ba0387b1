package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/wait"
)

// natsTroubleOutage is how long each trouble lasts: longer than presence's
// gateway timeout (6 s), so that a presence that took the silence for the
// gateways' death would let every connection go.
const natsTroubleOutage = 10 * time.Second

// runNATSTrouble runs test/client/nats-trouble.test.mjs on a cluster of two
// gateways, with trouble made by act between its phases, and logs what it
// measured; doomed says that act killed the second gateway.
func runNATSTrouble(t *testing.T, c *cluster, doomed bool, act func() error, env ...string) {
	t.Helper()
	figures := filepath.Join(t.TempDir(), "figures.json")
	sig, errc := signal(t, act)
	env = append(sig, append(env, "NATTER_URL="+c.gatewayURLs[0], "NATTER_URL_2="+c.gatewayURLs[1], "NATTER_FIGURES="+figures)...)
	if doomed {
		env = append(env, "NATTER_DOOMED=1")
	}
	defer func() {
		if b, err := os.ReadFile(figures); err == nil {
			t.Logf("figures: %s", b)
		}
	}()
	nodetest.Run(t, "nats-trouble.test.mjs", 2*time.Minute, env...)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// natsPort returns the port the cluster's nats-server listens on.
func (c *cluster) natsPort(tb testing.TB) string {
	tb.Helper()
	i := slices.Index(c.nats.args, "-p")
	if i < 0 || i+1 >= len(c.nats.args) {
		tb.Fatalf("nats-server args without -p: %v", c.nats.args)
	}
	return c.nats.args[i+1]
}

// signal sends sig to the process's group.
func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("%s not started", p.name)
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// stallNATS stops nats-server (SIGSTOP) for d, calling during meanwhile,
// then lets it go on (SIGCONT).
func stallNATS(c *cluster, d time.Duration, during func() error) error {
	if err := c.nats.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	end := time.Now().Add(d)
	var err error
	if during != nil {
		err = during()
	}
	// The stall is a length of time, not a condition to wait on.
	time.Sleep(time.Until(end))
	if cerr := c.nats.signal(syscall.SIGCONT); cerr != nil {
		return cerr
	}
	return err
}

// TestPresenceSurvivesNATSStall stops nats-server for 10 s while 16 users
// are joined through two gateways and a canary chats: within 5 s of SIGCONT
// the members, whispers and the canary are right again, and nobody was
// announced as leaving.
func TestPresenceSurvivesNATSStall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 2)
	runNATSTrouble(t, c, false, func() error { return stallNATS(c, natsTroubleOutage, nil) })
}

// TestPresenceSurvivesNATSRestart kills nats-server and starts it again
// 10 s later (JetStream keeps its files); every service's connection comes
// back on its own, and presence is right within 5 s, having announced no
// leave.
func TestPresenceSurvivesNATSRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 2)
	addr := "127.0.0.1:" + c.natsPort(t)
	runNATSTrouble(t, c, false, func() error {
		c.nats.kill()
		time.Sleep(natsTroubleOutage) // the outage: a length of time, no condition to wait on
		if err := c.nats.startErr(); err != nil {
			return err
		}
		return waitTCPErr(addr, 30*time.Second)
	})
}

// TestPresenceSurvivesItsLinkCut cuts presence's own connection to NATS
// (through a proxy) for 10 s, while the gateways' stay up: presence does not
// take the silence for the gateways' death.
func TestPresenceSurvivesItsLinkCut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 2)
	runNATSTrouble(t, c, false, cutLink(t, c, c.presences[0], natsTroubleOutage))
}

// TestPresenceTakesBackAGatewayCutOff cuts the second gateway's own link
// to NATS (through a proxy) for 13 s, longer than presence can tell it from
// a dead gateway (a gateway timeout and a grace): its users are let go and
// announced as leaving, but once the link is back presence asks that
// gateway to resync, and within 5 s its users are members again, announced
// as joining, and reached by whispers.
func TestPresenceTakesBackAGatewayCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 2)
	runNATSTrouble(t, c, false, cutLink(t, c, c.gateways[1], 13*time.Second), "NATTER_CUT=1")
}

// TestPresenceLetsGoAGatewayKilledInAStall kills -9 the second gateway
// while nats-server is stopped: once NATS is back, the first gateway's users
// stay, and the dead one's are announced as leaving within 15 s (a gateway
// timeout and a grace, counted from NATS's return).
func TestPresenceLetsGoAGatewayKilledInAStall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 2)
	runNATSTrouble(t, c, true, func() error {
		return stallNATS(c, natsTroubleOutage, func() error {
			time.Sleep(2 * time.Second) // into the stall, so that the kill is unseen
			c.gateways[1].kill()
			return nil
		})
	})
}

// cutLink puts p's link to NATS through a proxy (restarting p) and returns
// the trouble for runNATSTrouble: the link cut, and refused, for d.
func cutLink(tb testing.TB, c *cluster, p *proc, d time.Duration) func() error {
	tb.Helper()
	proxy := startTCPProxy(tb, "127.0.0.1:"+c.natsPort(tb))
	p.env = append(p.env, "NATS_URL=nats://"+proxy.ln.Addr().String())
	p.restart(tb)
	c.waitReady(tb)
	return func() error {
		proxy.refuse.Store(true)
		proxy.cut()
		// The outage is a length of time (longer than presence's gateway
		// timeout), not a condition to wait on.
		time.Sleep(d)
		proxy.refuse.Store(false)
		return nil
	}
}

// waitTCPErr is waitTCP for another goroutine than the test's.
func waitTCPErr(addr string, timeout time.Duration) error {
	return wait.Until(context.Background(), timeout, func() error { return dialTCP(addr) })
}
