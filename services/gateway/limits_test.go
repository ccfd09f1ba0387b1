package gateway

import (
	"net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

func TestBucketSetTakesFromEveryScopeOrNone(t *testing.T) {
	b := newBucketSet([3]Rate{{1, 3}, {1, 2}, Off})
	now := time.Unix(1000, 0)
	for i := range 2 {
		if scope, _ := b.take(now, [3]string{"c1", "u", "a"}); scope != "" {
			t.Fatalf("take %d refused by %s", i, scope)
		}
	}
	// The user's two are spent; the connection's third is left alone.
	if scope, wait := b.take(now, [3]string{"c1", "u", "a"}); scope != scopeUser || wait != time.Second {
		t.Fatalf("third take: %q %v, want user 1s", scope, wait)
	}
	if scope, _ := b.take(now, [3]string{"c1", "", "a"}); scope != "" {
		t.Fatalf("the connection's third, without the user: refused by %s", scope)
	}
	if scope, _ := b.take(now, [3]string{"c1", "", ""}); scope != scopeConn {
		t.Fatalf("the connection's fourth: %q, want conn", scope)
	}
	if scope, _ := b.take(now.Add(time.Second), [3]string{"c1", "u", ""}); scope != "" {
		t.Fatalf("a second later: refused by %s", scope)
	}
}

func TestBucketSetSweepsFullBuckets(t *testing.T) {
	b := newBucketSet([3]Rate{{10, 1}, Off, Off})
	now := time.Unix(1000, 0)
	for i := range 3 * sweepFloor {
		b.take(now.Add(time.Duration(i)*time.Millisecond), [3]string{string(rune(0x1000 + i)), "", ""})
	}
	// Only those of the last 100 ms are not full again.
	if n := len(b.buckets); n > sweepFloor+1 {
		t.Fatalf("%d buckets kept", n)
	}
}

func TestTypingGate(t *testing.T) {
	g := newTypingGate(time.Second)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		user string
		on   bool
		pass bool
	}{
		{0, "a", false, false},                     // off before any on
		{0, "a", true, true},                       // on
		{100 * time.Millisecond, "a", true, false}, // on again within the interval
		{200 * time.Millisecond, "a", false, true}, // off after a passed on
		{300 * time.Millisecond, "a", false, false},
		{400 * time.Millisecond, "a", true, false}, // on, off, on: the second on waits
		{400 * time.Millisecond, "b", true, true},  // another user
		{time.Second, "a", true, true},
		{1100 * time.Millisecond, "a", false, true},
	}
	for i, s := range steps {
		if got := g.pass(t0.Add(s.at), "room", s.user, s.on); got != s.pass {
			t.Errorf("step %d (%v %s on=%v): pass %v, want %v", i, s.at, s.user, s.on, got, s.pass)
		}
	}
}

func TestClientAddr(t *testing.T) {
	trusted := trustedProxies(append(slices.Clone(DefaultTrustedProxies), netip.MustParsePrefix("10.0.0.0/8")))
	for _, tc := range []struct {
		name, remote string
		header       http.Header
		want         string
	}{
		{"a direct client", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"a direct client's forged header", "203.0.113.5:4000", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.5"},
		{"through nginx", "127.0.0.1:4000", http.Header{"X-Forwarded-For": {"198.51.100.1"}, "X-Real-Ip": {"198.51.100.1"}}, "198.51.100.1"},
		{"a forged hop before nginx's", "127.0.0.1:4000", http.Header{"X-Forwarded-For": {"10.9.9.9, 198.51.100.1"}}, "198.51.100.1"},
		{"two headers", "127.0.0.1:4000", http.Header{"X-Forwarded-For": {"10.9.9.9", "198.51.100.1"}}, "198.51.100.1"},
		{"trusted hops skipped", "127.0.0.1:4000", http.Header{"X-Forwarded-For": {"198.51.100.1, 127.0.0.2"}}, "198.51.100.1"},
		{"X-Real-IP alone", "127.0.0.1:4000", http.Header{"X-Real-Ip": {"198.51.100.2"}}, "198.51.100.2"},
		{"X-Real-IP before a forged X-Forwarded-For", "10.0.0.9:4000",
			http.Header{"X-Forwarded-For": {"198.51.100.1, 10.1.2.3"}, "X-Real-Ip": {"10.1.2.3"}}, "10.1.2.3"},
		{"a local tool", "127.0.0.1:4000", nil, ""},
		{"a local tool through nginx", "127.0.0.1:4000", http.Header{"X-Forwarded-For": {"127.0.0.1"}, "X-Real-Ip": {"127.0.0.1"}}, ""},
		{"IPv6 by its /64", "[2001:db8:1:2:3:4:5:6]:4000", nil, "2001:db8:1:2::/64"},
		{"IPv4-mapped", "[::ffff:203.0.113.5]:4000", nil, "203.0.113.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &engineio.Request{RemoteAddr: tc.remote, Header: tc.header}
			if r.Header == nil {
				r.Header = http.Header{}
			}
			if got := trusted.clientAddr(r); got != tc.want {
				t.Errorf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.7 ,::1")
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("::1/128")}
	if err != nil || len(got) != len(want) {
		t.Fatalf("got %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if none, err := ParseTrustedProxies("none"); err != nil || none == nil || len(none) != 0 {
		t.Errorf("none: %v, %v", none, err)
	}
	if _, err := ParseTrustedProxies("nginx"); err == nil {
		t.Error("a host name was taken")
	}
}

func TestParseLimits(t *testing.T) {
	got, err := ParseLimits("join.addr=50/500, *.user=off")
	if err != nil {
		t.Fatal(err)
	}
	if r := got["join.addr"]; r != (Rate{50, 500}) {
		t.Errorf("join.addr = %v", r)
	}
	for _, e := range limitEvents {
		if r, ok := got[e+".user"]; !ok || !r.off() {
			t.Errorf("%s.user = %v, want off", e, r)
		}
	}
	for _, bad := range []string{"join=1/2", "join.addr=1", "join.addr=0/1", "join.addr=1/0", "jion.addr=1/1", "join.ip=1/1"} {
		if _, err := ParseLimits(bad); err == nil {
			t.Errorf("%q was taken", bad)
		}
	}
}
