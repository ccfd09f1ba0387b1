package e2e

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// tcpProxy passes TCP connections to a backend, and can cut them all at
// once, as a network failure would: the client sees its connections drop
// and may connect again through the proxy.
type tcpProxy struct {
	ln      net.Listener
	backend string

	// dropUp and dropDown, once set, make the proxy drop what passes
	// toward the backend or toward the client: bytes lost in the network.
	dropUp, dropDown atomic.Bool
	// refuse, while set, closes new connections at once: a network that
	// is down.
	refuse atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startTCPProxy proxies a free port of 127.0.0.1 to backend (host:port)
// until the test ends.
func startTCPProxy(tb testing.TB, backend string) *tcpProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &tcpProxy{ln: ln, backend: backend, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

// URL returns the proxy's http:// URL.
func (p *tcpProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.refuse.Load() {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[b] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, b, &p.dropDown)
		go p.pipe(b, c, &p.dropUp)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn, drop *atomic.Bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !drop.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// cut closes every connection passing through, and lets bytes pass again
// on the connections that follow.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.dropUp.Store(false)
	p.dropDown.Store(false)
}
