// Package nodetest runs the Node.js tests of test/client — the ones that
// drive natter with the official socket.io-client — from Go tests, so that
// the servers they test run in the Go test process, under -race.
package nodetest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	installOnce sync.Once
	installErr  error
)

// RepoRoot returns the folder holding go.work, above the working directory.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.work above the working directory")
		}
		dir = parent
	}
}

// ClientDir returns test/client.
func ClientDir(tb testing.TB) string { return filepath.Join(RepoRoot(tb), "test", "client") }

// Require returns the path of node once test/client's npm packages are
// installed (by test/client/install.sh). Without node it skips the test,
// except under CI=true, where that is a failure.
func Require(tb testing.TB) string {
	tb.Helper()
	dir := ClientDir(tb)
	if _, err := exec.LookPath("node"); err != nil && os.Getenv("CI") != "true" {
		tb.Skip("node not found; install Node.js 20 and npm to run the socket.io-client tests")
	}
	installOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(dir, "install.sh"))
		cmd.Dir = dir
		if err := Stream(tb, cmd, "install: "); err != nil {
			installErr = fmt.Errorf("test/client/install.sh: %w", err)
		}
	})
	if installErr != nil {
		tb.Fatal(installErr)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("node not found after test/client/install.sh: %v", err)
	}
	return node
}

// Run runs `node --test file` in test/client with env added to the
// environment, streaming its output to the test log; it fails the test
// when node fails or runs past timeout (or near the go test deadline).
func Run(tb testing.TB, file string, timeout time.Duration, env ...string) {
	tb.Helper()
	node := Require(tb)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if t, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := t.Deadline(); ok {
			var c2 context.CancelFunc
			ctx, c2 = context.WithDeadline(ctx, dl.Add(-30*time.Second))
			defer c2()
		}
	}
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", file)
	cmd.Dir = ClientDir(tb)
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	tb.Logf("%s node --test %s", strings.Join(env, " "), file)
	start := time.Now()
	err := Stream(tb, cmd, "node: ")
	tb.Logf("node --test %s: %s", file, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		tb.Fatalf("node --test %s did not finish in time: %v", file, err)
	}
	if err != nil {
		tb.Fatalf("node --test %s failed: %v (its output is above)", file, err)
	}
}

// Stream runs cmd with its output passed, line by line, to the test log.
func Stream(tb testing.TB, cmd *exec.Cmd, prefix string) error {
	tb.Helper()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			if line := sc.Text(); line != "" {
				tb.Log(prefix + line)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	return err
}
