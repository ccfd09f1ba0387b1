package conformance

// These tests drive the conformance app, run in-process (so `go test -race`
// covers the server), with the official socket.io-client from npm: they run
// the node:test files in test/client against an httptest server.
//
// Node.js and npm are needed. Without node the tests are skipped, except under
// CI=true, where test/client/install.sh may install them (as root, on Debian)
// and a missing node is a failure.

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/testlog"
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
	nodetest.Run(t, "conformance.test.mjs", 10*time.Minute, "NATTER_URL="+url, "NATTER_BULK_URL="+bulkURL)
}

// TestSocketIOClientLoad runs test/client/load.test.mjs: 100 clients at once,
// each firing 10,000 acked emits, in the three transport modes.
func TestSocketIOClientLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("socket.io-client load test skipped in -short mode")
	}
	url := serveApp(t, Config{
		PingInterval: bulkPingInterval,
		PingTimeout:  bulkPingTimeout,
		MaxPayload:   100_000,
	})
	nodetest.Run(t, "load.test.mjs", 30*time.Minute, "NATTER_URL="+url)
}

// serveApp serves a conformance app made from cfg on an httptest server for
// the rest of the test and returns its base URL. The app's warnings and
// errors go to t.Log.
func serveApp(t *testing.T, cfg Config) string {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testlog.Logger(t, "server: ")
	}
	app := New(cfg)
	srv := httptest.NewServer(app)
	t.Cleanup(func() {
		app.Close()
		srv.Close()
	})
	return srv.URL
}
