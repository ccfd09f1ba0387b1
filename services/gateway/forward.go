package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/engineio"
)

// Long-polling without sticky sessions: a session id starts with the id of
// the gateway that owns it ("gw3.Xa9…"), and a polling request that a
// balancer sends to another gateway is passed, over NATS, to the owner
// (this file), which answers it as if it had come directly, long-poll
// waits included (forwarded.go). A WebSocket is passed on over TCP
// (wsproxy.go).

// sidSeparator ends the gateway id at the start of a session id; neither
// gateway ids nor random ids contain it.
const sidSeparator = "."

// forwardedRequest is a polling request passed to the owner of its session.
type forwardedRequest struct {
	ID          string `json:"id"`             // names it in a cancel
	From        string `json:"from,omitempty"` // the gateway passing it on
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

// newSID returns a session id owned by gateway id.
func newSID(id string) string { return id + sidSeparator + engineio.RandomID() }

// owner returns the gateway a session id names.
func owner(sid string) (string, bool) {
	gw, _, ok := strings.Cut(sid, sidSeparator)
	return gw, ok && proto.ValidGatewayID(gw)
}

// forwarder passes the requests for sessions of other gateways on to
// them: polls over NATS, WebSockets through ws.
type forwarder struct {
	id         string
	nc         *nats.Conn
	peers      *peers
	ws         *wsProxy
	maxPayload int           // of a POST body
	wait       time.Duration // the longest a poll may wait at the owner
	log        *slog.Logger
	forwarded  *prometheus.CounterVec
	latency    prometheus.Histogram
}

func newForwarder(id string, nc *nats.Conn, p *peers, ws *wsProxy, maxPayload int, wait time.Duration, log *slog.Logger, reg prometheus.Registerer) *forwarder {
	f := &forwarder{
		id: id, nc: nc, peers: p, ws: ws, maxPayload: maxPayload, wait: wait, log: log,
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

// newSID is engineio.Config.NewID: a session id owned by this gateway.
func (f *forwarder) newSID() string { return newSID(f.id) }

// forward is engineio.Config.Forward: it passes a polling request for a
// session of another gateway to that gateway. A session id that names no
// gateway, or this one, is refused without a NATS round trip.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, sid string) bool {
	gw, ok := owner(sid)
	if !ok || gw == f.id {
		return false
	}
	if r.URL.Query().Get("transport") == "websocket" {
		return f.ws.forward(w, r, gw)
	}
	req := forwardedRequest{
		ID:          engineio.RandomID(),
		From:        f.id,
		Method:      r.Method,
		Query:       r.URL.RawQuery,
		Host:        r.Host,
		Origin:      r.Header.Get("Origin"),
		ContentType: r.Header.Get("Content-Type"),
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(f.maxPayload)))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.Header().Set("Connection", "close")
			http.Error(w, "request body too slow", http.StatusRequestTimeout)
			f.forwarded.WithLabelValues("too_slow").Inc()
			return true
		}
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
	msg, err := f.request(ctx, gw, data)
	if err != nil {
		if r.Context().Err() != nil {
			// The client gave up: let the owner know, as a direct client's
			// closed connection would have told it.
			f.nc.Publish(proto.GatewayCancelSubject(gw), []byte(req.ID))
			f.forwarded.WithLabelValues("abandoned").Inc()
			return true
		}
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, errGone) {
			// The owner is gone, and its sessions with it.
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

// errGone says that the gateway a request waits on has left NATS.
var errGone = errors.New("gateway gone")

// request passes a polling request to gateway gw and waits for the answer,
// or errGone as soon as gw has left NATS.
func (f *forwarder) request(ctx context.Context, gw string, data []byte) (*nats.Msg, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		msg *nats.Msg
		err error
	}
	done := make(chan result, 1)
	go func() {
		msg, err := f.nc.RequestWithContext(ctx, proto.GatewayHTTPSubject(gw), data)
		done <- result{msg, err}
	}()
	t := time.NewTicker(livenessInterval)
	defer t.Stop()
	for {
		select {
		case res := <-done:
			return res.msg, res.err
		case <-t.C:
			if f.peers.gone(gw) {
				return nil, errGone
			}
		}
	}
}
