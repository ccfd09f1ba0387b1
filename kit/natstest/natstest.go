// Package natstest starts NATS servers with JetStream for tests.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/natter/natter/kit/ports"
	"github.com/natter/natter/kit/wait"
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

// RunCluster starts n servers with JetStream routed into one cluster, each
// on free ports of 127.0.0.1 with a store folder of its own, and waits
// until JetStream's meta group has a leader; the test's cleanup shuts them
// down.
func RunCluster(tb testing.TB, n int) []*Server {
	tb.Helper()
	routes := make([]*url.URL, n)
	for i := range routes {
		routes[i] = &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", freePort(tb))}
	}
	nodes := make([]*Server, n)
	for i := range nodes {
		opts := &server.Options{
			Host: "127.0.0.1", Port: -1, ServerName: fmt.Sprintf("n%d", i+1),
			StoreDir: tb.TempDir(), JetStream: true, NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "natstest", Host: "127.0.0.1"},
			Routes:  routes,
		}
		opts.Cluster.Port, _ = strconv.Atoi(routes[i].Port())
		s, err := server.NewServer(opts)
		if err != nil {
			tb.Fatalf("nats server: %v", err)
		}
		go s.Start()
		tb.Cleanup(s.Shutdown)
		nodes[i] = &Server{Server: s, opts: opts}
	}
	for _, s := range nodes {
		if !s.ReadyForConnections(30 * time.Second) {
			tb.Fatalf("nats server %s not ready", s.Name())
		}
	}
	wait.Eventually(tb, 30*time.Second, func() bool { return anyLeader(nodes) }, "nats cluster: no JetStream meta leader")
	return nodes
}

// freePort is a TCP port of 127.0.0.1 free a moment ago, below the
// kernel's ephemeral range.
func freePort(tb testing.TB) int {
	tb.Helper()
	return ports.Free(tb)
}

func anyLeader(nodes []*Server) bool {
	for _, s := range nodes {
		if s.JetStreamIsLeader() {
			return true
		}
	}
	return false
}

// URLs is the client URLs of nodes, comma-separated, as nats.Connect takes
// a list of servers.
func URLs(nodes []*Server) string {
	urls := make([]string, len(nodes))
	for i, s := range nodes {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}
