package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/wait"
)

// rollingOrder is the order a rolling restart takes make cluster-up's
// services in, one at a time: the gateways, presence, history, the NATS
// nodes, then Redis: the sentinels, the replica, and the primary (handed
// over to the replica first; see rolling_redis_test.go).
var rollingOrder = []string{
	"gateway1", "gateway2", "gateway3", "gateway4", "presence1", "presence2", "history",
	"nats1", "nats2", "nats3",
	"sentinel1", "sentinel2", "sentinel3", "redis-replica", "redis",
}

// isRedis reports whether the stack's process name is Redis or a sentinel.
func isRedis(name string) bool {
	return strings.HasPrefix(name, "redis") || strings.HasPrefix(name, "sentinel")
}

// Between two restarts the clients have this many more messages acked:
// the chat goes on through each.
const acksPerRestart = 50

// TestRollingRestart restarts every service of make cluster-up's stack,
// one at a time (SIGTERM, then `cluster.sh start`, which waits until it is
// ready; a NATS node also until every stream has its three copies
// current again, a sentinel until it knows the others, a Redis server
// until it replicates the primary), while six clients chat through nginx
// (nats-cluster.test.mjs, resending unacked messages under the same
// clientId): every acked message is in history exactly once and was
// delivered to every client once, every client ends connected, and
// presence's members of the room are the clients. The figures are in
// docs/reliability.md.
func TestRollingRestart(t *testing.T) {
	s := clusterUp(t, false, natsFaultEnv...)
	js := jetStreamVia(t, s, natsNodeNames...)
	for _, name := range natterStreams {
		wait.Succeeds(t, 15*time.Second, func() error { return replicated(js, name, len(natsNodeNames)) })
	}
	dir := t.TempDir()
	progress, span := filepath.Join(dir, "progress"), filepath.Join(dir, "fault")
	acked := func(n int) func() error {
		return func() error {
			if got := progressAt(progress); got < n {
				return fmt.Errorf("the clients had %d messages acked, not %d", got, n)
			}
			return nil
		}
	}
	env, errc := signal(t, func() error {
		if err := wait.Until(context.Background(), time.Minute, acked(acksPerRestart)); err != nil {
			return err
		}
		start := time.Now()
		for _, name := range rollingOrder {
			if err := restart(t, s, js, name); err != nil {
				return err
			}
			if err := wait.Until(context.Background(), 30*time.Second, acked(progressAt(progress)+acksPerRestart)); err != nil {
				return fmt.Errorf("after restarting %s: %w", name, err)
			}
		}
		end := time.Now()
		t.Logf("rolling restart of %d services: %s", len(rollingOrder), end.Sub(start).Round(time.Millisecond))
		return os.WriteFile(span, fmt.Appendf(nil, "%d %d", start.UnixMilli(), end.UnixMilli()), 0o644)
	})
	nodetest.Run(t, "nats-cluster.test.mjs", 3*time.Minute, append(env,
		"NATTER_URL="+s.url, "NATTER_PROGRESS="+progress, "NATTER_FAULT="+span, "NATTER_CLIENTS=6", "NATTER_MEMBERS=1")...)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// restart stops the stack's process name with SIGTERM (it drains), waits
// until it has exited, starts it again with cluster.sh start (which waits
// until it is ready) and, for a NATS node, until every stream is
// replicated on all three again. It runs beside the test: it returns
// errors rather than failing it.
func restart(t *testing.T, s *stack, js jetstream.JetStream, name string) error {
	b, err := os.ReadFile(filepath.Join(s.dir, "pids", name+".pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%s pid: %w", name, err)
	}
	if isRedis(name) {
		did, err := beforeRedisRestart(context.Background(), s, name)
		if err != nil {
			return fmt.Errorf("before restarting %s: %w", name, err)
		}
		if did != "" {
			t.Logf("%s: %s", name, did)
		}
	}
	stop := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM %s: %w", name, err)
	}
	if err := wait.Until(context.Background(), 30*time.Second, func() error {
		if processRuns(pid) {
			return fmt.Errorf("%s (pid %d) still runs after SIGTERM", name, pid)
		}
		return nil
	}); err != nil {
		return err
	}
	stopped := time.Now()
	cmd := exec.Command("bash", filepath.Join(nodetest.RepoRoot(t), "scripts", "cluster.sh"), "start", name)
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cluster.sh start %s: %w\n%s", name, err, out)
	}
	ready := time.Now()
	t.Logf("%s: stopped in %s, started and ready in %s", name,
		stopped.Sub(stop).Round(time.Millisecond), ready.Sub(stopped).Round(time.Millisecond))
	if strings.HasPrefix(name, "nats") {
		for _, st := range natterStreams {
			if err := wait.Until(context.Background(), 30*time.Second, func() error {
				return replicated(js, st, len(natsNodeNames))
			}); err != nil {
				return fmt.Errorf("after restarting %s: %w", name, err)
			}
		}
		t.Logf("%s: every stream in %d current copies %s later", name, len(natsNodeNames), time.Since(ready).Round(time.Millisecond))
	}
	if isRedis(name) {
		if err := afterRedisRestart(context.Background(), s, name); err != nil {
			return fmt.Errorf("after restarting %s: %w", name, err)
		}
		t.Logf("%s: in step with the others (a sentinel knowing them, a server replicating) %s later", name, time.Since(ready).Round(time.Millisecond))
	}
	return nil
}

// processRuns reports whether pid is a live process: not gone, and not a
// zombie that no one has reaped yet (cluster.sh's processes are not the
// test's children).
func processRuns(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces, the state follows its ')'.
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}
