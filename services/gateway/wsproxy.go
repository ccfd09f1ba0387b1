package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

// The upgrade across gateways: a WebSocket that asks to upgrade a session
// of another gateway is passed on, as a TCP reverse proxy, to the owner,
// which serves it as if it had come directly. The owner tells its address
// on natter.gateway.<id>.addr. See docs/design.md.

// forwardedByHeader marks a WebSocket that a gateway passed on, with that
// gateway's id: the gateway it reaches serves it or refuses it, and never
// passes it on again.
const forwardedByHeader = "X-Natter-Forwarded-By"

// dialTimeout bounds the TCP connection to the owner.
const dialTimeout = 2 * time.Second

type ownerAddrKey struct{}

// wsProxy passes WebSockets on to the gateways owning their sessions.
type wsProxy struct {
	id       string // this gateway's, in forwardedByHeader
	peers    *peers
	log      *slog.Logger
	proxy    *httputil.ReverseProxy
	upgrades *prometheus.CounterVec

	mu      sync.Mutex
	closed  bool
	conns   map[*http.Request]context.CancelFunc // connections being proxied
	serving sync.WaitGroup
}

func newWSProxy(id string, peers *peers, log *slog.Logger, reg prometheus.Registerer) *wsProxy {
	p := &wsProxy{id: id, peers: peers, log: log, conns: make(map[*http.Request]context.CancelFunc)}
	p.upgrades = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "natter_gateway_forwarded_upgrades_total",
		Help: "WebSocket upgrades passed to the gateway owning their session, by result: ok (the owner switched protocols), refused (the owner answered otherwise), no_owner (no gateway answered for the session), unreachable (the owner's address did not answer), loop (passed on already).",
	}, []string{"result"})
	for _, result := range []string{"ok", "refused", "no_owner", "unreachable", "loop"} {
		p.upgrades.WithLabelValues(result) // a series from the start, at 0
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: p.rewrite,
		Transport: &http.Transport{
			// Never through an HTTP proxy of the environment: the owner is
			// a neighbour.
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: dialTimeout}).DialContext,
			ResponseHeaderTimeout: engineio.DefaultUpgradeTimeout,
			MaxIdleConnsPerHost:   -1, // an upgraded connection is never reused
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusSwitchingProtocols {
				p.upgrades.WithLabelValues("ok").Inc()
			} else {
				p.upgrades.WithLabelValues("refused").Inc()
			}
			resp.Header.Del("X-Natter-Gateway") // this gateway answered the client
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				p.log.Warn("forward websocket", "addr", r.URL.Host, "err", err)
				p.upgrades.WithLabelValues("unreachable").Inc()
			}
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
	if reg != nil {
		reg.MustRegister(p.upgrades)
	}
	return p
}

// rewrite sends the request to the owner as the client sent it: its Host
// and Origin stay, so that the owner checks the origin as it would have,
// and X-Forwarded-For gains the client's address.
func (p *wsProxy) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = pr.In.Context().Value(ownerAddrKey{}).(string)
	pr.Out.Host = pr.In.Host
	for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v, ok := pr.In.Header[h]; ok {
			pr.Out.Header[h] = v
		}
	}
	if prior, ok := pr.In.Header["X-Forwarded-For"]; ok {
		pr.Out.Header["X-Forwarded-For"] = prior
	}
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := pr.Out.Header.Get("X-Forwarded-For"); prior != "" {
			ip = prior + ", " + ip
		}
		pr.Out.Header.Set("X-Forwarded-For", ip)
	}
	pr.Out.Header.Set(forwardedByHeader, p.id)
}

// forward passes a WebSocket for a session of gateway gw on to gw; false
// when it is to be refused as for an unknown session.
func (p *wsProxy) forward(w http.ResponseWriter, r *http.Request, gw string) bool {
	if r.Header.Get(forwardedByHeader) != "" {
		// Passed on already (to a gateway that does not own the session:
		// a wrong address): never again, so that nothing loops.
		p.upgrades.WithLabelValues("loop").Inc()
		return false
	}
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.conns[r] = cancel
	p.serving.Add(1)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.conns, r)
		p.mu.Unlock()
		p.serving.Done()
	}()

	addr, err := p.peers.addr(ctx, gw)
	if err != nil {
		p.upgrades.WithLabelValues("no_owner").Inc()
		engineio.RefuseUnknownSession(w, r)
		return true
	}
	// The proxy returns once either side closes, or ctx is cancelled
	// (close), which closes both.
	p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ownerAddrKey{}, addr)))
	return true
}

// close ends every proxied connection and waits for them; later WebSockets
// for other gateways' sessions are refused.
func (p *wsProxy) close() {
	p.mu.Lock()
	p.closed = true
	for _, cancel := range p.conns {
		cancel()
	}
	p.mu.Unlock()
	p.serving.Wait()
}
