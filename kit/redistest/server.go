// Package redistest starts real Redis servers for tests: a single server,
// Sentinel (a primary, a replica and three sentinels) and Cluster (three
// masters), each process on a free port of 127.0.0.1 in a folder of its
// own, killed when the test ends. Without redis-server the test is
// skipped, except under CI=true, where it fails.
package redistest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/natter/natter/kit/ports"
	"github.com/natter/natter/kit/wait"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// Binary returns the path of a Redis program such as redis-server or
// redis-cli. Without it the test is skipped, except under CI=true.
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not installed, which CI needs: %v", name, err)
		}
		tb.Skipf("%s is not installed: %v", name, err)
	}
	return path
}

// Server is one redis-server process (a data node or a sentinel).
type Server struct {
	Port int
	Dir  string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	once sync.Once
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// Start runs redis-server on a free port of 127.0.0.1 with args after the
// test defaults (no persistence, its own folder), and waits until it
// answers PING; the test's cleanup kills it.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	dir := tb.TempDir()
	return startIn(tb, dir, FreePort(tb, 0), "", args...)
}

// startIn starts redis-server on port in dir, reading conf first when it
// is not "" (a sentinel's file, which it rewrites).
func startIn(tb testing.TB, dir string, port int, conf string, args ...string) *Server {
	tb.Helper()
	bin := Binary(tb, "redis-server")
	var argv []string
	if conf != "" {
		argv = append(argv, conf)
	}
	argv = append(argv,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"), "--daemonize", "no")
	if conf == "" {
		argv = append(argv, "--save", "", "--appendonly", "no")
	}
	argv = append(argv, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	s := &Server{Port: port, Dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(s.Kill)
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.done: // exited: no use waiting on it
			cancel()
		case <-ctx.Done():
		}
	}()
	err := wait.Until(ctx, startTimeout, func() error {
		err := rdb.Ping(ctx).Err()
		if err != nil && strings.HasPrefix(err.Error(), "NOAUTH") {
			return nil // up, with a password
		}
		return err
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		tb.Fatalf("redis-server on %s not ready: %v\n%s", s.Addr(), err, log)
	}
	return s
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
// Killing it again does nothing.
func (s *Server) Kill() {
	s.once.Do(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
}

// Client is a client of the server alone, closed when the test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// FreePort returns a port of 127.0.0.1 that nothing listens on, nor, when
// plus is not 0, on the port plus above it (Cluster's bus).
func FreePort(tb testing.TB, plus int) int {
	tb.Helper()
	return ports.FreeWith(tb, plus)
}

// Single connects to REDIS_URL (default redis://127.0.0.1:6379), the Redis
// the tests share. With no Redis there the test is skipped, except under
// CI=true, where it fails.
func Single(tb testing.TB) *redis.Client {
	tb.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		if os.Getenv("CI") == "true" {
			tb.Fatalf("no Redis at %s, which CI needs: %v", opt.Addr, err)
		}
		tb.Skipf("no Redis at %s (set REDIS_URL): %v", opt.Addr, err)
	}
	tb.Cleanup(func() { rdb.Close() })
	return rdb
}

// Keys returns the keys that match pattern, on every master of a Cluster.
func Keys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	var mu sync.Mutex
	var out []string
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			out = append(out, iter.Val())
			mu.Unlock()
		}
		if err := iter.Err(); err != nil {
			return fmt.Errorf("scan %s: %w", pattern, err)
		}
		return nil
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
		return out, err
	}
	err := scan(ctx, rdb)
	return out, err
}

// DeleteKeys deletes the keys that match pattern, one at a time so that
// keys of different slots of a Cluster may go together.
func DeleteKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) error {
	keys, err := Keys(ctx, rdb, pattern)
	if err != nil {
		return err
	}
	pipe := rdb.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, k)
	}
	if len(keys) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("delete %s: %w", pattern, err)
	}
	return nil
}
