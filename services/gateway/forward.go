package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/engineio"
)

// Long-polling without sticky sessions: a session id starts with the id of
// the gateway that owns it ("gw3.Xa9…"), and a polling request that a
// balancer sends to another gateway is passed, over NATS, to the owner,
// which answers it as if it had come directly, long-poll waits included.

// sidSeparator ends the gateway id at the start of a session id; neither
// gateway ids nor random ids contain it.
const sidSeparator = "."

// forwardedRequest is a polling request passed to the owner of its session.
type forwardedRequest struct {
	ID          string `json:"id"` // names it in a cancel
	Method      string `json:"method"`
	Query       string `json:"query"`
	Host        string `json:"host"`
	Origin      string `json:"origin,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// forwardedResponse is the owner's answer.
type forwardedResponse struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

// forwarder passes polling requests between gateways.
type forwarder struct {
	id         string
	nc         *nats.Conn
	eio        http.Handler // set after the engine is made
	maxPayload int
	wait       time.Duration // the longest a poll may wait at the owner
	log        *slog.Logger
	forwarded  *prometheus.CounterVec
	latency    prometheus.Histogram

	sub, cancelSub *nats.Subscription
	mu             sync.Mutex
	closed         bool
	pending        map[string]context.CancelFunc // requests being served here
	serving        sync.WaitGroup
}

func newForwarder(id string, nc *nats.Conn, maxPayload int, wait time.Duration, log *slog.Logger, reg prometheus.Registerer) *forwarder {
	f := &forwarder{
		id: id, nc: nc, maxPayload: maxPayload, wait: wait, log: log,
		pending: make(map[string]context.CancelFunc),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_forwarded_requests_total",
			Help: "Long-polling requests passed to the gateway owning their session, by result.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "natter_gateway_forward_duration_seconds",
			Help:    "Time from passing a POST to the owning gateway to its answer (GETs wait for data, so they are not timed).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
	for _, result := range []string{"ok", "no_owner", "abandoned", "too_large", "error"} {
		f.forwarded.WithLabelValues(result) // a series from the start, at 0
	}
	if reg != nil {
		reg.MustRegister(f.forwarded, f.latency)
	}
	return f
}

func httpSubject(gateway string) string   { return "natter.gateway." + gateway + ".http" }
func cancelSubject(gateway string) string { return "natter.gateway." + gateway + ".cancel" }

// newSID returns a session id owned by this gateway.
func (f *forwarder) newSID() string { return f.id + sidSeparator + engineio.RandomID() }

// start serves the requests other gateways pass here.
func (f *forwarder) start() error {
	var err error
	if f.sub, err = f.nc.Subscribe(httpSubject(f.id), f.serve); err != nil {
		return err
	}
	f.cancelSub, err = f.nc.Subscribe(cancelSubject(f.id), func(m *nats.Msg) {
		f.mu.Lock()
		cancel := f.pending[string(m.Data)]
		f.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	})
	return err
}

// close stops serving and waits for the requests being served.
func (f *forwarder) close() {
	for _, s := range []*nats.Subscription{f.sub, f.cancelSub} {
		if s != nil {
			s.Unsubscribe()
		}
	}
	f.mu.Lock()
	f.closed = true
	for _, cancel := range f.pending {
		cancel()
	}
	f.mu.Unlock()
	f.serving.Wait()
}

// owner returns the gateway a session id names.
func owner(sid string) (string, bool) {
	gw, _, ok := strings.Cut(sid, sidSeparator)
	return gw, ok && proto.ValidGatewayID(gw)
}

// forward is engineio.Config.Forward: it passes a polling request for a
// session of another gateway to that gateway. A session id that names no
// gateway, or this one, is refused without a NATS round trip.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, sid string) bool {
	gw, ok := owner(sid)
	if !ok || gw == f.id || r.Header.Get("Upgrade") != "" {
		return false
	}
	req := forwardedRequest{
		ID:          engineio.RandomID(),
		Method:      r.Method,
		Query:       r.URL.RawQuery,
		Host:        r.Host,
		Origin:      r.Header.Get("Origin"),
		ContentType: r.Header.Get("Content-Type"),
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(f.maxPayload)))
		if err != nil {
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
			f.forwarded.WithLabelValues("too_large").Inc()
			return true
		}
		req.Body = body
	}
	data, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(r.Context(), f.wait)
	defer cancel()
	start := time.Now()
	msg, err := f.nc.RequestWithContext(ctx, httpSubject(gw), data)
	if err != nil {
		if r.Context().Err() != nil {
			// The client gave up: let the owner know, as a direct client's
			// closed connection would have told it.
			f.nc.Publish(cancelSubject(gw), []byte(req.ID))
			f.forwarded.WithLabelValues("abandoned").Inc()
			return true
		}
		if errors.Is(err, nats.ErrNoResponders) {
			f.forwarded.WithLabelValues("no_owner").Inc()
			engineio.RefuseUnknownSession(w, r)
			return true
		}
		f.log.Warn("forward", "owner", gw, "err", err)
		f.forwarded.WithLabelValues("error").Inc()
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
		return true
	}
	if r.Method == http.MethodPost {
		f.latency.Observe(time.Since(start).Seconds())
	}
	var resp forwardedResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		f.forwarded.WithLabelValues("error").Inc()
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return true
	}
	for k, vs := range resp.Header {
		if k == "X-Natter-Gateway" {
			continue // this gateway answered the client; it names itself
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
	f.forwarded.WithLabelValues("ok").Inc()
	return true
}

// serve answers a request that another gateway passed here, on a
// goroutine of its own: a poll may wait.
func (f *forwarder) serve(m *nats.Msg) {
	var req forwardedRequest
	if json.Unmarshal(m.Data, &req) != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.wait)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		cancel()
		return
	}
	f.pending[req.ID] = cancel
	f.serving.Add(1)
	f.mu.Unlock()
	go func() {
		defer f.serving.Done()
		defer func() {
			f.mu.Lock()
			delete(f.pending, req.ID)
			f.mu.Unlock()
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
		f.eio.ServeHTTP(rec, r)
		data, _ := json.Marshal(forwardedResponse{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()})
		m.Respond(data)
	}()
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
