package ports

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeIsBelowTheEphemeralRange: every port handed out is outside the
// range outgoing connections take their local port from, can be listened
// on, and is handed out once.
func TestFreeIsBelowTheEphemeralRange(t *testing.T) {
	lo, hi := span()
	seen := map[int]bool{}
	for range 200 {
		p := Free(t)
		if p < lo || p >= hi {
			t.Fatalf("port %d outside [%d, %d)", p, lo, hi)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	// An outgoing connection's local port is in the ephemeral range, so
	// never one of ours.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if local := c.LocalAddr().(*net.TCPAddr).Port; local < hi {
		t.Logf("this kernel gave an outgoing connection port %d, below %d: the range is not Linux's", local, hi)
	}
}

// TestFreeWithKeepsThePairFree: the port plus above it is free too, and
// neither is handed out again.
func TestFreeWithKeepsThePairFree(t *testing.T) {
	p := FreeWith(t, 10000)
	for _, port := range []int{p, p + 10000} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d not free: %v", port, err)
		}
		l.Close()
	}
	for range 100 {
		if q := Free(t); q == p || q == p+10000 {
			t.Fatalf("port %d handed out again", q)
		}
	}
}
