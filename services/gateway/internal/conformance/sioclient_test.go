package conformance

// These tests drive the conformance app, run in-process (so `go test -race`
// covers the server), with the official socket.io-client from npm: they run
// the node:test files in test/client against an httptest server.
//
// Node.js and npm are needed. Without node the tests are skipped, except under
// CI=true, where test/client/install.sh may install them (as root, on Debian)
// and a missing node is a failure.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Heartbeats of the app the bulk scenarios run against: Socket.IO's
// defaults. With 300 ms + 1 s a Node process busy encoding thousands of
// emits answers pings too late, which is the client's doing, not the
// server's; the short heartbeats are tested by the other app.
const (
	bulkPingInterval = 25 * time.Second
	bulkPingTimeout  = 20 * time.Second
)

// TestSocketIOClientConformance runs test/client/conformance.test.mjs: every
// scenario in the three transport modes of socket.io-client. The server runs
// with short heartbeats, so that a peer that stops answering pings is dropped
// quickly, and a small maxPayload; the Node tests read both from the
// handshake. The burst of 10,000 acked emits goes to a second app with long
// heartbeats (NATTER_BULK_URL).
func TestSocketIOClientConformance(t *testing.T) {
	clientDir, node := setupNode(t)
	url := serveApp(t, Config{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  time.Second,
		MaxPayload:   100_000,
	})
	bulkURL := serveApp(t, Config{
		PingInterval: bulkPingInterval,
		PingTimeout:  bulkPingTimeout,
		MaxPayload:   100_000,
	})
	runNodeTestFile(t, node, clientDir, "conformance.test.mjs", 10*time.Minute,
		"NATTER_URL="+url, "NATTER_BULK_URL="+bulkURL)
}

// TestSocketIOClientLoad runs test/client/load.test.mjs: 100 clients at once,
// each firing 10,000 acked emits, in the three transport modes.
func TestSocketIOClientLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("socket.io-client load test skipped in -short mode")
	}
	clientDir, node := setupNode(t)
	url := serveApp(t, Config{
		PingInterval: bulkPingInterval,
		PingTimeout:  bulkPingTimeout,
		MaxPayload:   100_000,
	})
	runNodeTestFile(t, node, clientDir, "load.test.mjs", 30*time.Minute, "NATTER_URL="+url)
}

// serveApp serves a conformance app made from cfg on an httptest server for
// the rest of the test and returns its base URL. The app's warnings and
// errors go to t.Log.
func serveApp(t *testing.T, cfg Config) string {
	t.Helper()
	logw := &testLogWriter{t: t, prefix: "server: "}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	app := New(cfg)
	srv := httptest.NewServer(app)
	t.Cleanup(func() {
		app.Close()
		srv.Close()
		logw.stop() // nothing logs to t once the test is over
	})
	return srv.URL
}

// runNodeTestFile runs `node --test file` in clientDir with env added to the
// environment, streaming node's output to t.Log. It fails when node exits
// non-zero or runs past timeout (or comes close to the go test deadline).
func runNodeTestFile(t *testing.T, node, clientDir, file string, timeout time.Duration, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	if dl, ok := t.Deadline(); ok {
		// Stop early enough to report node's output rather than being killed by go test.
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
	}
	defer cancel()

	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", file)
	cmd.Dir = clientDir
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	killProcessGroupOnCancel(cmd)
	cmd.WaitDelay = 10 * time.Second

	t.Logf("%s node --test %s (in %s)", strings.Join(env, " "), file, clientDir)
	start := time.Now()
	err := runStreaming(t, cmd, "node: ")
	t.Logf("node --test %s finished in %s", file, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("node --test %s did not finish in time (%v): %v", file, ctx.Err(), err)
	}
	if err != nil {
		t.Fatalf("node --test %s failed: %v (see the node output above)", file, err)
	}
}

var (
	installOnce sync.Once
	installErr  error
)

// setupNode returns test/client's directory and the path of node, after
// making sure test/client's npm dependencies are installed. It skips the test
// when node is missing, unless CI=true.
func setupNode(t *testing.T) (clientDir, node string) {
	t.Helper()
	clientDir = filepath.Join(repoRoot(t), "test", "client")
	ci := os.Getenv("CI") == "true"
	if _, err := exec.LookPath("node"); err != nil && !ci {
		t.Skip("node not found in PATH; install Node.js >= 18 and npm to run the socket.io-client tests")
	}
	installOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(clientDir, "install.sh"))
		cmd.Dir = clientDir
		installErr = runStreaming(t, cmd, "install: ")
		if installErr != nil {
			installErr = fmt.Errorf("test/client/install.sh: %w", installErr)
		}
	})
	if installErr != nil {
		t.Fatal(installErr)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found in PATH after test/client/install.sh: %v", err)
	}
	return clientDir, node
}

// repoRoot walks up from the working directory to the directory holding go.work.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root not found: no go.work above the test's working directory")
		}
		dir = parent
	}
}

// runStreaming runs cmd with stdout and stderr sent, line by line, to t.Log.
func runStreaming(t *testing.T, cmd *exec.Cmd, prefix string) error {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReaderSize(pr, 64*1024)
		for {
			line, err := r.ReadString('\n')
			if line = strings.TrimRight(line, "\r\n"); line != "" {
				if len(line) > 8000 {
					line = line[:8000] + " …[line truncated]"
				}
				t.Log(prefix + line)
			}
			if err != nil {
				return
			}
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	pr.Close()
	return err
}

// testLogWriter passes the server's log lines to t.Log until stop is called.
type testLogWriter struct {
	mu      sync.Mutex
	t       *testing.T
	prefix  string
	stopped bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testLogWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}
