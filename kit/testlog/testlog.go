// Package testlog sends a service's logs to the test log, and stops when
// the test ends: a log line after that would panic in package testing.
package testlog

import (
	"fmt"
	"log/slog"
	"os"
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
	if w.stopped {
		return len(p), nil
	}
	line := w.prefix + strings.TrimRight(string(p), "\n")
	if _, fuzz := w.tb.(*testing.F); fuzz {
		// A *testing.F may not log while its fuzz target runs, and a
		// stack started for every input logs from its own goroutines:
		// those lines go to stderr instead, shown with the output.
		fmt.Fprintln(os.Stderr, line)
		return len(p), nil
	}
	w.tb.Log(line)
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
