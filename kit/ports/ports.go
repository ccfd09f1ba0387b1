// Package ports hands tests TCP ports of 127.0.0.1 to give the servers they
// start.
//
// A port that the kernel hands out for port 0 comes from its ephemeral
// range, the same range it picks the local port of every outgoing
// connection from. Between the moment a test learns such a port and the
// moment its server binds it, any client on the machine (a load test's
// thousands of connections, a parallel package's) may be given it, and the
// server fails with "address already in use". The ports here come from below
// the ephemeral range, which outgoing connections never use, chosen at
// random so that test processes running side by side rarely pick the same,
// and checked free when handed out.
package ports

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lowest is the first port handed out: above the well-known and most
// registered services' ports.
const lowest = 10000

var (
	mu    sync.Mutex
	given = map[int]bool{} // every port handed out by this process
)

// Free returns a port of 127.0.0.1 that nothing listened on a moment ago and
// that this process has not handed out before.
func Free(tb testing.TB) int {
	tb.Helper()
	return FreeWith(tb, 0)
}

// FreeWith is Free, with the port plus above it free too (not 0: a Redis
// Cluster node's bus port, say).
func FreeWith(tb testing.TB, plus int) int {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	lo, hi := span()
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		if given[port] || (plus != 0 && (port+plus > 65535 || given[port+plus])) {
			continue
		}
		if !free(port) || (plus != 0 && !free(port+plus)) {
			continue
		}
		given[port] = true
		if plus != 0 {
			given[port+plus] = true
		}
		return port
	}
	tb.Fatal("ports: no free port found below the ephemeral range")
	return 0
}

// span is the range ports are picked from: from lowest to the start of the
// kernel's ephemeral range (Linux's default, 32768, when it cannot be read).
func span() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowest+1000 {
				hi = n
			}
		}
	}
	return lowest, hi
}

// free says whether port of 127.0.0.1 could be listened on just now.
func free(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
