package e2e

import (
	"bytes"
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
	// holdOn, once the client sends it, makes the proxy hold what passes
	// toward the client until release closes held: a server that does
	// what it was asked but answers late. dropOn, once the client sends
	// it, sets dropUp, from those very bytes on.
	holdOn, dropOn []byte
	held           chan struct{}
}

// dropAfter makes the proxy drop what the client sends from the bytes
// containing pattern on, until cut.
func (p *tcpProxy) dropAfter(pattern string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropOn = []byte(pattern)
}

// holdAfter makes the proxy hold what passes toward the client from the
// moment the client sends bytes containing pattern, until release.
func (p *tcpProxy) holdAfter(pattern string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holdOn = []byte(pattern)
}

// release lets what was held pass, and stops holding.
func (p *tcpProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holdOn = nil
	if p.held != nil {
		close(p.held)
		p.held = nil
	}
}

// sawUp is told of what the client sends (tail: the end of what it sent
// before, so that a pattern split between reads is seen).
func (p *tcpProxy) sawUp(tail, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := append(tail, b...)
	if p.holdOn != nil && p.held == nil && bytes.Contains(seen, p.holdOn) {
		p.held = make(chan struct{})
	}
	if p.dropOn != nil && bytes.Contains(seen, p.dropOn) {
		p.dropUp.Store(true)
		p.dropOn = nil
	}
}

// waitDown blocks while the proxy holds what goes toward the client.
func (p *tcpProxy) waitDown() {
	p.mu.Lock()
	held := p.held
	p.mu.Unlock()
	if held != nil {
		<-held
	}
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
		go p.pipe(c, b, &p.dropDown, false)
		go p.pipe(b, c, &p.dropUp, true)
	}
}

func (p *tcpProxy) pipe(dst, src net.Conn, drop *atomic.Bool, up bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	var tail []byte
	for {
		n, err := src.Read(buf)
		if up {
			p.sawUp(tail, buf[:n])
			tail = append(tail[:0], buf[max(0, n-256):n]...)
		} else {
			p.waitDown()
		}
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
	p.release()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropOn = nil
	for c := range p.conns {
		c.Close()
	}
	p.dropUp.Store(false)
	p.dropDown.Store(false)
}
