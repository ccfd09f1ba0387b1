package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/kit/wait"
)

// Slow and unfinished clients (docs/reliability.md, "Timeouts and memory
// budgets"), against the gateways of make cluster-up, directly and
// through its nginx, while a canary chats through nginx.

const (
	// The stack's NATTER_BODY_TIMEOUT, NATTER_HEADER_TIMEOUT and
	// NATTER_ATTACHMENT_TIMEOUT.
	slowBound = 3 * time.Second
	// Its NATTER_PING_INTERVAL and NATTER_PING_TIMEOUT: a WebSocket that
	// sends nothing is closed after both.
	slowPing = 3 * time.Second
	// nginx's client_header_timeout (deploy/nginx/natter.conf.template).
	nginxHeaderTimeout = 10 * time.Second
	// What a loaded machine may add to a bound.
	slowSlack = 5 * time.Second
)

func TestSlowClients(t *testing.T) {
	s := clusterUp(t, false,
		"NATTER_BODY_TIMEOUT="+slowBound.String(), "NATTER_HEADER_TIMEOUT="+slowBound.String(),
		"NATTER_ATTACHMENT_TIMEOUT="+slowBound.String(),
		"NATTER_PING_INTERVAL="+slowPing.String(), "NATTER_PING_TIMEOUT="+slowPing.String())
	var gateways []string
	for i := 1; i <= 4; i++ {
		gateways = append(gateways, s.urls[fmt.Sprintf("gateway%d", i)])
	}
	direct := gateways[0]
	c := startNginxCanary(t, s.url)
	before := figuresOf(t, gateways)
	t.Logf("gateways before: %s", before)

	for _, base := range []struct{ name, url string }{{"to a gateway", direct}, {"through nginx", s.url}} {
		t.Run("200 trickling POSTs "+base.name, func(t *testing.T) {
			results, peak := trickleAll(t, 200, gateways, func() trickled {
				sid, err := openSID(base.url)
				if err != nil {
					return trickled{status: err.Error()}
				}
				return trickle(hostOf(base.url), fmt.Sprintf("POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"+
					"Host: %s\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 100\r\n\r\n", sid, hostOf(base.url)),
					slowBound+slowSlack+5*time.Second)
			})
			t.Logf("peak while trickling: %s", peak)
			for i, r := range results {
				if code(r.status) != "408" || r.after > slowBound+slowSlack {
					t.Errorf("POST %d: %q after %v, want 408 within %v", i, r.status, r.after.Round(time.Millisecond), slowBound)
				}
			}
			t.Logf("answers: %s", summary(results))
			backToBaseline(t, s, gateways, before)
		})
	}

	t.Run("slow headers", func(t *testing.T) {
		for _, base := range []struct {
			url   string
			bound time.Duration
		}{{direct, slowBound}, {s.url, nginxHeaderTimeout}} {
			results, _ := trickleAll(t, 50, gateways, func() trickled {
				return trickle(hostOf(base.url), "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: "+hostOf(base.url)+"\r\nX-Slow: ",
					base.bound+slowSlack+5*time.Second)
			})
			for i, r := range results {
				if r.status == "open" || r.after > base.bound+slowSlack {
					t.Errorf("%s: request %d: %q after %v, want closed within %v", base.url, i, r.status, r.after.Round(time.Millisecond), base.bound)
				}
			}
			t.Logf("%s: %s", base.url, summary(results))
		}
		backToBaseline(t, s, gateways, before)
	})

	t.Run("silent WebSockets", func(t *testing.T) {
		// Half-open: the handshake, then nothing read or written. A frame
		// that never finishes: a text frame's header announcing 1000
		// bytes, and 10 of them. Either way the client sends no pong.
		var conns []*websocket.Conn
		var kinds []string
		for _, base := range []string{direct, s.url} {
			for i := range 40 {
				ws, _, err := websocket.DefaultDialer.Dial(wsURL(base, ""), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer ws.Close()
				kind := base + " half-open"
				if i%2 == 1 {
					kind = base + " unfinished frame"
					frame := []byte{0x81, 0x80 | 126, 1000 >> 8, 1000 & 0xff, 1, 2, 3, 4}
					if _, err := ws.UnderlyingConn().Write(append(frame, "4xxxxxxxxx"...)); err != nil {
						t.Fatal(err)
					}
				}
				conns, kinds = append(conns, ws), append(kinds, kind)
			}
		}
		results := waitClosed(conns, 2*slowPing+slowSlack+5*time.Second)
		for i, r := range results {
			if r.status == "open" || r.after > 2*slowPing+slowSlack {
				t.Errorf("%s %d: %s after %v, want closed within %v", kinds[i], i, r.status, r.after.Round(time.Millisecond), 2*slowPing)
			}
		}
		t.Logf("%s", summary(results))
		backToBaseline(t, s, gateways, before)
	})

	t.Run("unfinished attachments", func(t *testing.T) {
		timedOut := sumOf(t, gateways, "natter_gateway_attachment_timeouts_total")
		const part = 500_000
		stopSampling := sampleMax(gateways, "natter_gateway_partial_packet_bytes", "go_memstats_heap_inuse_bytes")
		conns := make([]*websocket.Conn, 40)
		errs := make(chan error, len(conns))
		for i := range conns {
			base := []string{direct, s.url}[i%2]
			go func() {
				ws, _, err := websocket.DefaultDialer.Dial(wsURL(base, ""), nil)
				if err == nil {
					conns[i] = ws
					ws.WriteMessage(websocket.TextMessage, []byte("40"))
					ws.WriteMessage(websocket.TextMessage, []byte(`452-["client message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`))
					// On a loaded machine the timeout may close the
					// session while the attachment is still being sent.
					ws.WriteMessage(websocket.BinaryMessage, make([]byte, part))
				}
				errs <- err
			}()
		}
		for range conns {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for _, ws := range conns {
			defer ws.Close()
		}
		// Over polling, a header with none of its attachments.
		sid := pollOpen(t, direct)
		if got := pollPost(t, direct, sid, `451-["client message",{"_placeholder":true,"num":0}]`); got != 200 {
			t.Fatalf("POST: %d", got)
		}
		// They answer pings: the heartbeat keeps them, only the
		// attachment timeout can close them (the count below says it
		// did). Writing them all may take longer than the timeout here,
		// so the time is checked over polling.
		results := pongUntilClosed(conns, slowBound+slowSlack+5*time.Second)
		for i, r := range results {
			if r.status == "open" {
				t.Errorf("WebSocket %d: still open %v after its attachment was sent", i, r.after.Round(time.Millisecond))
			}
		}
		t.Logf("%s", summary(results))
		start := time.Now()
		for {
			got := pollGet(t, direct, sid)
			if strings.Contains(got, `"Session ID unknown"`) || strings.HasSuffix(got, "1") {
				break
			}
			if time.Since(start) > slowBound+slowSlack {
				t.Fatalf("the polling session still answers %q", got)
			}
			for _, p := range strings.Split(got, "\x1e") {
				if p == "2" {
					pollPost(t, direct, sid, "3")
				}
			}
		}
		wait.Eventually(t, slowSlack, func() bool {
			return sumOf(t, gateways, "natter_gateway_partial_packet_bytes") == 0
		}, "timed out waiting for the attachments to be let go")
		if n := sumOf(t, gateways, "natter_gateway_attachment_timeouts_total") - timedOut; n != float64(len(conns)+1) {
			t.Errorf("%v attachment timeouts counted, want %d", n, len(conns)+1)
		}
		peak := stopSampling()
		t.Logf("at most %.1f MB held for unfinished packets, heap in use at most %.1f MB", peak[0]/1e6, peak[1]/1e6)
		backToBaseline(t, s, gateways, before)
	})

	t.Run("oversized", func(t *testing.T) {
		for _, base := range []string{direct, s.url} {
			sid := pollOpen(t, base)
			if got := pollPost(t, base, sid, "4"+strings.Repeat("x", 1_000_000)); got != http.StatusRequestEntityTooLarge {
				t.Errorf("%s: POST of 1,000,001 bytes: %d, want 413", base, got)
			}
			ws, _, err := websocket.DefaultDialer.Dial(wsURL(base, ""), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			ws.WriteMessage(websocket.TextMessage, []byte("4"+strings.Repeat("x", 1_000_000)))
			for {
				ws.SetReadDeadline(time.Now().Add(slowSlack))
				if _, _, err := ws.ReadMessage(); err != nil {
					if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
						t.Errorf("%s: a message of 1,000,001 bytes: %v, want close 1009", base, err)
					}
					break
				}
			}
		}
	})

	c.stop(t)
	t.Logf("gateways after: %s", figuresOf(t, gateways))
}

// figures are what the gateways' metrics say of their resources, summed.
type figures struct {
	goroutines, fds, sessions float64
	rss, heap                 float64 // bytes
}

func (f figures) String() string {
	return fmt.Sprintf("%.0f goroutines, %.0f descriptors, %.0f sessions, RSS %.1f MB, heap in use %.1f MB",
		f.goroutines, f.fds, f.sessions, f.rss/1e6, f.heap/1e6)
}

func figuresOf(tb testing.TB, gateways []string) figures {
	tb.Helper()
	var f figures
	for _, g := range gateways {
		f.goroutines += metricSum(tb, g, "go_goroutines")
		f.fds += metricSum(tb, g, "process_open_fds")
		f.sessions += metricSum(tb, g, "natter_gateway_sessions")
		f.rss += metricSum(tb, g, "process_resident_memory_bytes")
		f.heap += metricSum(tb, g, "go_memstats_heap_inuse_bytes")
	}
	return f
}

// sumOf adds up a metric over the gateways.
func sumOf(tb testing.TB, gateways []string, name string) float64 {
	tb.Helper()
	sum := 0.0
	for _, g := range gateways {
		sum += metricSum(tb, g, name)
	}
	return sum
}

// backToBaseline waits until the gateways hold no more goroutines,
// descriptors and sessions than before, give or take a few per gateway
// (connections between them, NATS and HTTP clients come and go).
func backToBaseline(tb testing.TB, s *stack, gateways []string, before figures) {
	tb.Helper()
	// nginx keeps idle connections to the gateways (keepalive, up to 32 +
	// 4 × 8 a worker, deploy/nginx/natter.conf.template), each a goroutine
	// and a descriptor there: a reload lets them go (its old workers close
	// their idle connections), so that what remains is what the probe left.
	b, err := os.ReadFile(filepath.Join(s.dir, "nginx", "nginx.pid"))
	if err != nil {
		tb.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		tb.Fatal(err)
	}
	var now figures
	wait.Succeeds(tb, 2*slowSlack, func() error {
		now = figuresOf(tb, gateways)
		if now.goroutines > before.goroutines+20 || now.fds > before.fds+20 || now.sessions > before.sessions {
			return fmt.Errorf("the gateways did not let go: %s, before %s", now, before)
		}
		return nil
	})
	tb.Logf("gateways afterwards: %s", now)
}

// trickled is what a slow client got: the status line the server
// answered, "" if it closed without one, or "open" if it had done neither
// when the client gave up; and after how long.
type trickled struct {
	status string
	after  time.Duration
}

// trickle sends head to addr, then a byte a second, until the server
// answers or closes the connection, or give has passed.
func trickle(addr, head string, give time.Duration) trickled {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return trickled{status: "dial: " + err.Error()}
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		return trickled{status: "write: " + err.Error()}
	}
	buf := make([]byte, 512)
	for time.Since(start) < give {
		// The read comes first: a write to a closed connection may reset
		// it, and the answer with it.
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if n > 0 {
			line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
			return trickled{line, time.Since(start)}
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			c.Write([]byte("x"))
			continue
		}
		return trickled{"", time.Since(start)}
	}
	return trickled{"open", time.Since(start)}
}

// trickleAll runs n slow clients at once; it returns what each got, and
// the gateways' figures once all had started.
func trickleAll(tb testing.TB, n int, gateways []string, client func() trickled) ([]trickled, figures) {
	tb.Helper()
	results := make([]trickled, n)
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			started.Done()
			results[i] = client()
		}()
	}
	started.Wait()
	peak := figuresOf(tb, gateways)
	done.Wait()
	return results, peak
}

// waitClosed reads what each connection's server sends (the client still
// writes nothing) until it closes the connection or give has passed.
func waitClosed(conns []*websocket.Conn, give time.Duration) []trickled {
	return readEach(conns, give, func(ws *websocket.Conn) error {
		_, err := io.Copy(io.Discard, ws.UnderlyingConn())
		return err
	})
}

// readEach runs read on each connection at once, with a read deadline
// give from now, and says how each ended: "open" if read ran into the
// deadline, "closed" if it returned another error, and when.
func readEach(conns []*websocket.Conn, give time.Duration, read func(*websocket.Conn) error) []trickled {
	start := time.Now()
	results := make([]trickled, len(conns))
	var wg sync.WaitGroup
	for i, ws := range conns {
		wg.Go(func() {
			ws.SetReadDeadline(start.Add(give))
			err := read(ws)
			results[i] = trickled{"closed", time.Since(start)}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				results[i].status = "open"
			}
		})
	}
	wg.Wait()
	return results
}

// sampleMax reads the gateways' metrics every 50 ms until stop is called,
// which returns the highest sum each reached.
func sampleMax(gateways []string, names ...string) (stop func() []float64) {
	peak := make([]float64, len(names))
	done, quit := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			for i, name := range names {
				sum := 0.0
				for _, g := range gateways {
					resp, err := http.Get(g + "/metrics")
					if err != nil {
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					for _, line := range strings.Split(string(b), "\n") {
						if f := strings.Fields(line); len(f) == 2 && f[0] == name {
							v, _ := strconv.ParseFloat(f[1], 64)
							sum += v
						}
					}
				}
				peak[i] = max(peak[i], sum)
			}
			select {
			case <-quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return func() []float64 {
		close(quit)
		<-done
		return peak
	}
}

// pongUntilClosed reads each connection, answering Engine.IO pings, until
// its server closes it or give has passed.
func pongUntilClosed(conns []*websocket.Conn, give time.Duration) []trickled {
	return readEach(conns, give, func(ws *websocket.Conn) error {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return err
			}
			if string(data) == "2" {
				ws.WriteMessage(websocket.TextMessage, []byte("3"))
			}
		}
	})
}

// summary counts the answers, with the slowest.
func summary(results []trickled) string {
	count := map[string]int{}
	var slowest time.Duration
	for _, r := range results {
		count[r.status]++
		slowest = max(slowest, r.after)
	}
	return fmt.Sprintf("%v, the last after %v", count, slowest.Round(time.Millisecond))
}

func code(status string) string {
	if f := strings.Fields(status); len(f) > 1 {
		return f[1]
	}
	return ""
}

func hostOf(base string) string {
	u, _ := url.Parse(base)
	return u.Host
}

// handshake opens a polling session on base and returns its sid.
func openSID(base string) (string, error) {
	resp, err := http.Get(base + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		return "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, rest, ok := strings.Cut(string(b), `"sid":"`)
	sid, _, _ := strings.Cut(rest, `"`)
	if !ok || sid == "" {
		return "", fmt.Errorf("handshake: %s %s", resp.Status, b)
	}
	return sid, nil
}

// nginxCanary chats through nginx while the probes run: one user sends a
// message every 200 ms and waits for its ack, another receives them.
type nginxCanary struct {
	stopc, done        chan struct{}
	recv               *websocket.Conn
	sent, acked, heard atomic.Int64
	mu                 sync.Mutex
	errs               []string
}

func startNginxCanary(tb testing.TB, base string) *nginxCanary {
	tb.Helper()
	c := &nginxCanary{stopc: make(chan struct{}), done: make(chan struct{})}
	room := "canary"
	sender := dialChatter(tb, base, "canary-a", room)
	c.recv = dialChatter(tb, base, "canary-b", room).c
	go c.listen()
	go func() {
		defer close(c.done)
		every(200*time.Millisecond, c.stopc, func(i int) {
			n := i + 1
			c.sent.Add(1)
			sender.send(fmt.Sprintf(`42%d["client message",{"message":"canary %d","clientId":"canary-%d"}]`, n, n, n))
			ack := sender.readUntil("43" + strconv.Itoa(n) + "[")
			if !strings.Contains(ack, `"ok":true`) {
				c.fail("message %d: ack %q", n, ack)
				return
			}
			c.acked.Add(1)
		})
	}()
	return c
}

func (c *nginxCanary) fail(format string, args ...any) {
	c.mu.Lock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

// listen counts the canary messages the receiver hears, answering pings.
func (c *nginxCanary) listen() {
	for {
		_, data, err := c.recv.ReadMessage()
		if err != nil {
			select {
			case <-c.stopc:
			default:
				c.fail("receiver: %v", err)
			}
			return
		}
		switch msg := string(data); {
		case msg == "2":
			c.recv.WriteMessage(websocket.TextMessage, []byte("3"))
		case strings.HasPrefix(msg, `42["server message"`) && strings.Contains(msg, `"message":"canary `):
			c.heard.Add(1)
		}
	}
}

// stop ends the chat and checks that every message was acked and heard.
func (c *nginxCanary) stop(tb testing.TB) {
	tb.Helper()
	close(c.stopc)
	<-c.done
	wait.Eventually(tb, slowSlack, func() bool { return c.heard.Load() >= c.acked.Load() }, "timed out waiting for the canary's last messages")
	c.recv.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	tb.Logf("canary: %d sent, %d acked, %d heard", c.sent.Load(), c.acked.Load(), c.heard.Load())
	if len(c.errs) > 0 || c.acked.Load() != c.sent.Load() || c.heard.Load() != c.acked.Load() || c.sent.Load() == 0 {
		tb.Errorf("the canary was disturbed: %v", c.errs)
	}
}
