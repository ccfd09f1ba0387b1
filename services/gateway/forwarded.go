package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// forwardedServer serves, through the engine, the polling requests that
// other gateways pass to this one (forward.go), and tells them where it
// listens, for the WebSockets they pass on (wsproxy.go).
type forwardedServer struct {
	id        string
	advertise string // host:port where other gateways reach this one
	nc        *nats.Conn
	eio       http.Handler
	peers     *peers
	wait      time.Duration // the longest a poll may wait here
	log       *slog.Logger

	mu      sync.Mutex
	subs    []*nats.Subscription
	closed  bool
	pending map[string]context.CancelFunc // requests being served here
	serving sync.WaitGroup
}

func newForwardedServer(id, advertise string, nc *nats.Conn, eio http.Handler, p *peers, wait time.Duration, log *slog.Logger) *forwardedServer {
	return &forwardedServer{
		id: id, advertise: advertise, nc: nc, eio: eio, peers: p, wait: wait, log: log,
		pending: make(map[string]context.CancelFunc),
	}
}

// start subscribes to this gateway's subjects. On an error it holds none.
func (s *forwardedServer) start() error {
	handlers := []struct {
		subject string
		handle  nats.MsgHandler
	}{
		{proto.GatewayHTTPSubject(s.id), s.serve},
		{proto.GatewayCancelSubject(s.id), s.cancel},
		// Where to pass a WebSocket on to; the subscription also says, to
		// other gateways, that this one lives (see peers.gone).
		{proto.GatewayAddrSubject(s.id), func(m *nats.Msg) { m.Respond([]byte(s.advertise)) }},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("closed")
	}
	for _, h := range handlers {
		sub, err := s.nc.Subscribe(h.subject, h.handle)
		if err != nil {
			s.unsubscribe()
			return fmt.Errorf("subscribe %s: %w", h.subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	// Once the server has the subscriptions, other gateways reach this
	// one: only then is it ready (asked for its address before, it would
	// seem gone).
	if err := s.nc.Flush(); err != nil {
		s.unsubscribe()
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

// unsubscribe drops the subscriptions; s.mu is held.
func (s *forwardedServer) unsubscribe() {
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	s.subs = nil
}

// close stops serving, ends the requests being served and waits for them.
func (s *forwardedServer) close() {
	s.mu.Lock()
	s.unsubscribe()
	s.closed = true
	for _, cancel := range s.pending {
		cancel()
	}
	s.mu.Unlock()
	s.serving.Wait()
}

// cancel ends the request a cancel names: its client gave up.
func (s *forwardedServer) cancel(m *nats.Msg) {
	s.mu.Lock()
	cancel := s.pending[string(m.Data)]
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// serve answers a request that another gateway passed here, on a
// goroutine of its own: a poll may wait. A poll whose gateway dies while
// it waits is abandoned, as if the client's connection had closed: the
// session ends (as the reference server ends one whose poll broke), so
// that nothing is written to a gateway that cannot pass it on and the
// client, whose request failed, starts again cleanly.
func (s *forwardedServer) serve(m *nats.Msg) {
	var req forwardedRequest
	if json.Unmarshal(m.Data, &req) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.wait)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return
	}
	s.pending[req.ID] = cancel
	s.serving.Add(1)
	s.mu.Unlock()
	if req.From != "" && req.Method == http.MethodGet {
		s.serving.Add(1)
		go func() {
			defer s.serving.Done()
			s.watch(ctx, req.From, cancel)
		}()
	}
	go func() {
		defer s.serving.Done()
		defer func() {
			s.mu.Lock()
			delete(s.pending, req.ID)
			s.mu.Unlock()
			cancel()
		}()
		r, err := http.NewRequestWithContext(ctx, req.Method, "/socket.io/?"+req.Query, bytes.NewReader(req.Body))
		if err != nil {
			return
		}
		r.Host = req.Host
		if req.Origin != "" {
			r.Header.Set("Origin", req.Origin)
		}
		if req.ContentType != "" {
			r.Header.Set("Content-Type", req.ContentType)
		}
		rec := &recorder{header: http.Header{}, status: http.StatusOK}
		s.eio.ServeHTTP(rec, r)
		data, _ := json.Marshal(forwardedResponse{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()})
		m.Respond(data)
	}()
}

// watch calls cancel when gateway gw leaves NATS, until ctx is done.
func (s *forwardedServer) watch(ctx context.Context, gw string, cancel context.CancelFunc) {
	t := time.NewTicker(livenessInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.peers.gone(gw) {
				s.log.Info("forwarded poll abandoned: its gateway is gone", "gateway", gw)
				cancel()
				return
			}
		}
	}
}

// recorder is the http.ResponseWriter of a forwarded request.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
