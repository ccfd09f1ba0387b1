// Package testlog sends a service's logs to the test log, and stops when
// the test ends: a log line after that would panic in package testing.
package testlog

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Writer passes lines to tb.Log until the test's cleanup runs.
type Writer struct {
	mu      sync.Mutex
	tb      testing.TB
	prefix  string
	stopped bool
}

// New returns a Writer for tb that stops at tb's cleanup.
func New(tb testing.TB, prefix string) *Writer {
	w := &Writer{tb: tb, prefix: prefix}
	tb.Cleanup(w.Stop)
	return w
}

func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.tb.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// Stop drops whatever is written from now on.
func (w *Writer) Stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// Logger returns a logger of warnings and errors to the test log.
func Logger(tb testing.TB, prefix string) *slog.Logger {
	return slog.New(slog.NewTextHandler(New(tb, prefix), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
