package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

// trustedProxies are the peers whose X-Forwarded-For and X-Real-IP are
// believed: the balancer in front of the gateways.
type trustedProxies []netip.Prefix

// DefaultTrustedProxies are loopback's: nginx on the same host.
var DefaultTrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ParseTrustedProxies parses NATTER_TRUSTED_PROXIES: comma-separated
// addresses or CIDR prefixes; "none" trusts no one.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	if strings.TrimSpace(s) == "none" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: an address or a CIDR prefix", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (t trustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr returns the client address of the request that opened a
// session, as a budget key: the peer's; or, when the peer is a trusted
// proxy, the X-Real-IP it set (nginx's peer, so a client inside a
// trusted network is still itself), else the last address of
// X-Forwarded-For that is not a trusted proxy (the one the proxies
// nearest us saw). A trusted peer that names no client, or names
// loopback, gives "": the address budget does not apply (a tool on the
// gateway's or nginx's own host). IPv6 clients are keyed by their /64,
// which one host usually holds whole.
func (t trustedProxies) clientAddr(r *engineio.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return r.RemoteAddr
	}
	peer = peer.Unmap()
	if !t.trusts(peer) {
		return addrKey(peer)
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(r.Header.Get(headerRealIP))); err == nil {
		return addrKey(a.Unmap())
	}
	hops := strings.Split(strings.Join(r.Header.Values(headerForwardedFor), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // what comes before a forged or broken hop says nothing
		}
		if a = a.Unmap(); !t.trusts(a) {
			return addrKey(a)
		}
	}
	return ""
}

// The headers clientAddr reads, the only ones a session keeps of the
// request that opened it (engineio.Config.RequestHeaders).
const (
	headerRealIP       = "X-Real-IP"
	headerForwardedFor = "X-Forwarded-For"
)

var clientAddrHeaders = []string{headerRealIP, headerForwardedFor}

// addrKey is a client address's budget key; "" for loopback.
func addrKey(a netip.Addr) string {
	if a.IsLoopback() {
		return ""
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
