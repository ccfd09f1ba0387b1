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

// TestSocketIOClientConformance runs test/client/conformance.test.mjs: every
// scenario in the three transport modes of socket.io-client. The server runs
// with short heartbeats, so that a peer that stops answering pings is dropped
// quickly, and a small maxPayload; the Node tests read both from the handshake.
func TestSocketIOClientConformance(t *testing.T) {
	runNodeTestFile(t, "conformance.test.mjs", 10*time.Minute, Config{
		PingInterval: 300 * time.Millisecond,
		PingTimeout:  200 * time.Millisecond,
		MaxPayload:   100_000,
	})
}

// TestSocketIOClientLoad runs test/client/load.test.mjs: 100 clients at once,
// each firing 10,000 acked emits, in the three transport modes.
//
// All 100 clients share one Node process, which answers no ping while it
// encodes a burst of emits, so this server keeps Socket.IO's default
// heartbeats: with a 200 ms pingTimeout the clients would be dropped for
// being slow, not because the server is wrong.
func TestSocketIOClientLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("socket.io-client load test skipped in -short mode")
	}
	runNodeTestFile(t, "load.test.mjs", 30*time.Minute, Config{
		PingInterval: 25 * time.Second,
		PingTimeout:  20 * time.Second,
		MaxPayload:   100_000,
	})
}

// runNodeTestFile serves a fresh conformance app made from cfg and runs
// `node --test file` from test/client against it, streaming node's output to
// t.Log. It fails when node exits non-zero or runs past timeout (or comes
// close to the go test deadline).
func runNodeTestFile(t *testing.T, file string, timeout time.Duration, cfg Config) {
	t.Helper()
	clientDir := filepath.Join(repoRoot(t), "test", "client")
	node := requireNode(t, clientDir)

	logw := &testLogWriter{t: t, prefix: "server: "}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	app := New(cfg)
	srv := httptest.NewServer(app)
	defer srv.Close()
	defer logw.stop() // runs after app.Close: nothing logs to t once the test is over
	defer app.Close()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	if dl, ok := t.Deadline(); ok {
		// Stop early enough to report node's output rather than being killed by go test.
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
	}
	defer cancel()

	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", file)
	cmd.Dir = clientDir
	cmd.Env = append(os.Environ(), "NATTER_URL="+srv.URL, "NO_COLOR=1")
	killProcessGroupOnCancel(cmd)
	cmd.WaitDelay = 10 * time.Second

	t.Logf("NATTER_URL=%s node --test %s (in %s)", srv.URL, file, clientDir)
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

// requireNode returns the path of node after making sure test/client's npm
// dependencies are installed. It skips the test when node is missing, unless
// CI=true.
func requireNode(t *testing.T, clientDir string) string {
	t.Helper()
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
	return node
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
