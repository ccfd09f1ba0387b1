package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/ports"
	"github.com/natter/natter/kit/wait"
)

// proc is a process a test started; it is killed when the test ends, and
// its output is shown when the test failed.
type proc struct {
	name string
	path string
	args []string
	env  []string
	log  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binaries builds the services' commands once per test binary and returns
// the folder holding them.
func binaries(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "natter-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-race", "-o", buildDir+"/",
			"./services/gateway/cmd/gateway", "./services/presence/cmd/presence", "./services/history/cmd/history")
		cmd.Dir = nodetest.RepoRoot(tb)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildDir
}

// serverBinary returns the path of a server program. nats-server is the
// repository's bin/nats-server, built from the module version kit/go.mod
// requires (see natsServer); others (redis-server) are looked up on PATH or
// in /usr/sbin, and without them the test is skipped, except under CI=true.
func serverBinary(tb testing.TB, name string) string {
	tb.Helper()
	if name == "nats-server" {
		return natsServer(tb)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s not found", name)
	}
	tb.Skipf("%s not found", name)
	return ""
}

var (
	natsOnce    sync.Once
	natsPath    string
	natsVersion string
	natsErr     error
)

// natsServer returns bin/nats-server, which scripts/nats-server.sh builds
// (once per test binary) unless it already is the version kit/go.mod
// requires: the system's nats-server may be too old for the stream
// configuration. The script builds to a temporary name and renames, so test
// binaries running at once cannot corrupt it. Each test logs the version.
func natsServer(tb testing.TB) string {
	tb.Helper()
	natsOnce.Do(func() {
		cmd := exec.Command("bash", filepath.Join(nodetest.RepoRoot(tb), "scripts", "nats-server.sh"))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			natsErr = fmt.Errorf("scripts/nats-server.sh: %v\n%s", err, stderr.String())
			return
		}
		natsPath = strings.TrimSpace(string(out))
		v, err := exec.Command(natsPath, "--version").Output()
		if err != nil {
			natsErr = fmt.Errorf("%s --version: %v", natsPath, err)
			return
		}
		natsVersion = strings.TrimSpace(string(v))
	})
	if natsErr != nil {
		tb.Fatal(natsErr)
	}
	tb.Logf("%s (%s)", natsVersion, natsPath)
	return natsPath
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// freePort returns a port of 127.0.0.1 free just now, below the kernel's
// ephemeral range, that no other test of this process was given.
func freePort(tb testing.TB) int {
	tb.Helper()
	return ports.Free(tb)
}

// start runs a process; its output goes to a log file in the test's folder.
func start(tb testing.TB, name, path string, args []string, env ...string) *proc {
	tb.Helper()
	p := &proc{name: name, path: path, args: args, env: env, log: filepath.Join(tb.TempDir(), name+".log")}
	p.start(tb)
	tb.Cleanup(func() {
		p.kill()
		if tb.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			tb.Logf("--- %s log (tail) ---\n%s", name, b)
		}
	})
	return p
}

func (p *proc) start(tb testing.TB) {
	tb.Helper()
	if err := p.startErr(); err != nil {
		tb.Fatal(err)
	}
}

// startErr starts the process; it may be called from any goroutine.
func (p *proc) startErr() error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() {
		cmd.Wait()
		f.Close()
	}()
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	return nil
}

// kill ends the process at once (kill -9), as a crash would.
func (p *proc) kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		// Gone within 5 s, or left to the test's end to report.
		_ = wait.Until(context.Background(), 5*time.Second, func() error {
			if cmd.Process.Signal(syscall.Signal(0)) != nil {
				return nil
			}
			return errors.New("still running")
		})
	}
}

// restart kills the process and starts it again with the same arguments.
func (p *proc) restart(tb testing.TB) {
	tb.Helper()
	p.kill()
	p.start(tb)
}

// waitHTTP polls url until it answers 200.
func waitHTTP(tb testing.TB, url string) {
	tb.Helper()
	wait.Succeeds(tb, 30*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return fmt.Errorf("%s not ready: %w", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s not ready: %s", url, resp.Status)
		}
		return nil
	})
}

// waitTCP polls addr until it accepts connections.
func waitTCP(tb testing.TB, addr string) {
	tb.Helper()
	wait.Succeeds(tb, 30*time.Second, func() error { return dialTCP(addr) })
}

// dialTCP connects to addr and hangs up.
func dialTCP(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return fmt.Errorf("%s not listening: %w", addr, err)
	}
	return c.Close()
}

// cluster is natter as separate processes: NATS, Redis, history, presence
// and gateways.
type cluster struct {
	nats, redis, history *proc
	presences            []*proc
	gateways             []*proc
	gatewayURLs          []string
	historyURL           string
	presenceURLs         []string
}

func startCluster(tb testing.TB, gateways int) *cluster {
	tb.Helper()
	return startClusterWith(tb, gateways, 1)
}

// startClusterWith starts a cluster with presences presence replicas,
// which get presenceEnv besides their usual environment.
func startClusterWith(tb testing.TB, gateways, presences int, presenceEnv ...string) *cluster {
	tb.Helper()
	return startClusterSpec(tb, clusterSpec{gateways: gateways, presences: presences, presenceEnv: presenceEnv})
}

// clusterSpec says what startClusterSpec starts: how many gateways and
// presence replicas, and what each kind of service gets in its
// environment besides its usual one.
type clusterSpec struct {
	gateways, presences                 int
	presenceEnv, historyEnv, gatewayEnv []string
}

func startClusterSpec(tb testing.TB, spec clusterSpec) *cluster {
	tb.Helper()
	gateways, presences, presenceEnv := spec.gateways, spec.presences, spec.presenceEnv
	bin := binaries(tb)
	c := &cluster{}
	natsPort, redisPort := freePort(tb), freePort(tb)
	// The NATS configuration and sync setting that compose and cluster.sh ship.
	c.nats = start(tb, "nats", serverBinary(tb, "nats-server"),
		[]string{"-c", natsConf(tb), "-a", "127.0.0.1", "-p", strconv.Itoa(natsPort), "-js", "-sd", tb.TempDir()},
		"NATTER_NATS_SYNC_INTERVAL="+shippedSyncInterval(tb))
	c.redis = start(tb, "redis", serverBinary(tb, "redis-server"),
		[]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(redisPort), "--save", "", "--appendonly", "no"})
	waitTCP(tb, fmt.Sprintf("127.0.0.1:%d", natsPort))
	waitTCP(tb, fmt.Sprintf("127.0.0.1:%d", redisPort))
	natsURL := fmt.Sprintf("NATS_URL=nats://127.0.0.1:%d", natsPort)
	redisURL := fmt.Sprintf("REDIS_URL=redis://127.0.0.1:%d", redisPort)

	hp := freePort(tb)
	c.historyURL = fmt.Sprintf("http://127.0.0.1:%d", hp)
	c.history = start(tb, "history", filepath.Join(bin, "history"), nil,
		append([]string{natsURL, fmt.Sprintf("NATTER_HTTP_ADDR=127.0.0.1:%d", hp)}, spec.historyEnv...)...)
	for i := range presences {
		pp := freePort(tb)
		env := append([]string{natsURL, redisURL, fmt.Sprintf("NATTER_HTTP_ADDR=127.0.0.1:%d", pp)}, presenceEnv...)
		p := start(tb, fmt.Sprintf("presence%d", i+1), filepath.Join(bin, "presence"), nil, env...)
		c.presences = append(c.presences, p)
		c.presenceURLs = append(c.presenceURLs, fmt.Sprintf("http://127.0.0.1:%d", pp))
		waitHTTP(tb, c.presenceURLs[i]+"/readyz")
	}
	waitHTTP(tb, c.historyURL+"/readyz")
	for i := range gateways {
		port := freePort(tb)
		url := fmt.Sprintf("http://127.0.0.1:%d", port)
		g := start(tb, fmt.Sprintf("gateway%d", i+1), filepath.Join(bin, "gateway"), nil,
			append([]string{natsURL, fmt.Sprintf("NATTER_HTTP_ADDR=127.0.0.1:%d", port),
				fmt.Sprintf("NATTER_GATEWAY_ID=gw%d", i+1)}, spec.gatewayEnv...)...)
		waitHTTP(tb, url+"/readyz")
		c.gateways = append(c.gateways, g)
		c.gatewayURLs = append(c.gatewayURLs, url)
	}
	return c
}

// waitReady waits until every service reports ready again.
func (c *cluster) waitReady(tb testing.TB) {
	tb.Helper()
	waitHTTP(tb, c.historyURL+"/readyz")
	for _, u := range c.presenceURLs {
		waitHTTP(tb, u+"/readyz")
	}
	for _, u := range c.gatewayURLs {
		waitHTTP(tb, u+"/readyz")
	}
}

// TestChatProcesses runs the chat scenarios with A and B on one gateway
// process and C on another, presence and history in their own processes,
// against a real NATS server and a real Redis.
func TestChatProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 2)
	nodetest.Run(t, "chat.test.mjs", 5*time.Minute,
		"NATTER_URL="+c.gatewayURLs[0], "NATTER_URL_2="+c.gatewayURLs[1])
}

// TestHistorySurvivesRestarts writes messages; joins and sends with the
// history service down (the join holds and says history is unavailable);
// starts it again, restarts it, then restarts the NATS server (JetStream
// keeps its files), and checks each time that a new client's join ack holds
// the last 50 messages, the one sent while history was down included.
func TestHistorySurvivesRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 1)
	state := filepath.Join(t.TempDir(), "sent.json")
	env := []string{"NATTER_URL=" + c.gatewayURLs[0], "NATTER_STATE=" + state}
	nodetest.Run(t, "history-restart.test.mjs", 2*time.Minute, append(env, "NATTER_PHASE=write")...)

	c.history.kill()
	nodetest.Run(t, "history-restart.test.mjs", 2*time.Minute, append(env, "NATTER_PHASE=down")...)
	c.history.start(t)
	c.waitReady(t)
	nodetest.Run(t, "history-restart.test.mjs", 2*time.Minute, append(env, "NATTER_PHASE=read")...)

	c.history.restart(t)
	c.waitReady(t)
	nodetest.Run(t, "history-restart.test.mjs", 2*time.Minute, append(env, "NATTER_PHASE=read")...)

	c.nats.restart(t)
	c.waitReady(t) // the services' NATS connections come back on their own
	nodetest.Run(t, "history-restart.test.mjs", 2*time.Minute, append(env, "NATTER_PHASE=read")...)
}

// TestPresenceConvergesAfterRedisRestartsEmpty restarts Redis with nothing
// in it while users chat: within 30 s the member lists equal the truth
// again (presence notices the lost state; the gateways announce their
// connections again).
func TestPresenceConvergesAfterRedisRestartsEmpty(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 2)
	env, errc := signal(t, func() error {
		c.redis.kill()
		return c.redis.startErr()
	})
	nodetest.Run(t, "resync.test.mjs", 3*time.Minute,
		append(env, "NATTER_URL="+c.gatewayURLs[0], "NATTER_URL_2="+c.gatewayURLs[1])...)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// signal has a node test and its Go test take turns through files: node
// creates ready when its clients are set, Go then acts and creates done.
func signal(tb testing.TB, act func() error) (env []string, errc <-chan error) {
	dir := tb.TempDir()
	ready, done := filepath.Join(dir, "ready"), filepath.Join(dir, "done")
	ch := make(chan error, 1)
	go func() {
		if err := wait.Until(context.Background(), 5*time.Minute, func() error {
			if fileExists(ready) {
				return nil
			}
			return errors.New("node never got ready")
		}); err != nil {
			ch <- err
			return
		}
		if err := act(); err != nil {
			ch <- err
			return
		}
		ch <- os.WriteFile(done, nil, 0o644)
	}()
	return []string{"NATTER_READY=" + ready, "NATTER_RESTARTED=" + done, "NATTER_DONE=" + done}, ch
}

// TestGatewayKilled kills -9 a gateway holding 50 joined users: the others
// see their leaves within 15 s, except for users who reconnected to the
// other gateway meanwhile.
func TestGatewayKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 2)
	env, errc := signal(t, func() error { c.gateways[0].kill(); return nil })
	nodetest.Run(t, "gateway-crash.test.mjs", 2*time.Minute,
		append(env, "NATTER_URL="+c.gatewayURLs[0], "NATTER_URL_2="+c.gatewayURLs[1])...)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestPresenceReplicasUnderChurn has 200 clients join and leave at once
// across 2 gateways, with 2 presence replicas: every join and leave is
// announced exactly once and the member list ends equal to the truth.
func TestPresenceReplicasUnderChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startClusterWith(t, 2, 2)
	nodetest.Run(t, "churn.test.mjs", 3*time.Minute, "NATTER_URL="+c.gatewayURLs[0], "NATTER_URL_2="+c.gatewayURLs[1])
}

// TestPresenceProcesses runs test/client/presence.test.mjs (tabs, reloads,
// grace, impostor names) against presence on a real Redis.
func TestPresenceProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startClusterWith(t, 2, 1, "NATTER_PRESENCE_GRACE=1s")
	nodetest.Run(t, "presence.test.mjs", 2*time.Minute, "NATTER_URL="+c.gatewayURLs[0],
		"NATTER_URL_2="+c.gatewayURLs[1], "NATTER_GRACE_MS=1000")
}

// TestRedisDown kills Redis: joins fail fast with "unavailable", and joined
// users chat on.
func TestRedisDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts processes")
	}
	c := startCluster(t, 1)
	env, errc := signal(t, func() error { c.redis.kill(); return nil })
	nodetest.Run(t, "redis-down.test.mjs", time.Minute, append(env, "NATTER_URL="+c.gatewayURLs[0])...)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
