// Package natstest starts NATS servers with JetStream for tests.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Server is an embedded NATS server with JetStream, in a folder of its own.
type Server struct {
	*server.Server
	opts *server.Options
}

// Run starts a server on a free port of 127.0.0.1, with JetStream storing
// under a temporary folder; the test's cleanup shuts it down.
func Run(tb testing.TB) *Server {
	tb.Helper()
	return RunWith(tb, &server.Options{StoreDir: tb.TempDir()})
}

// RunWith starts a server with opts, filling in the test defaults (a free
// port on 127.0.0.1, JetStream, no logs, no signal handling).
func RunWith(tb testing.TB, opts *server.Options) *Server {
	tb.Helper()
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = -1
	}
	opts.JetStream = true
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(s.Shutdown)
	return &Server{Server: s, opts: opts}
}

// Restart shuts the server down and starts a new one on the same port and
// store folder, as a restarted process would be.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	opts := *s.opts
	opts.Port = s.Server.Addr().(*net.TCPAddr).Port
	s.Server.Shutdown()
	s.Server.WaitForShutdown()
	ns := RunWith(tb, &opts)
	s.Server = ns.Server
}

// Connect dials the server; the test's cleanup closes the connection.
func Connect(tb testing.TB, url string, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		tb.Fatalf("nats connect %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}
