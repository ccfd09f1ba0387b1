package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
)

// MinAPIKeyBytes is the shortest API key a gateway accepts.
const MinAPIKeyBytes = 16

// apiRoot is every path the API server answers, each behind the key:
// proto.APIPrefix's operations, and 404 for the rest of it.
const apiRoot = "/api/"

// apiServer serves the server API over HTTP at proto.APIPrefix: every
// request must carry the key ("Authorization: Bearer <key>"), checked
// before anything else, routes unknown or not; then an operation is a
// POST with a JSON body of at most proto.MaxAPIBody bytes.
type apiServer struct {
	key      bearerKey
	ops      *apiOps
	log      *slog.Logger
	requests *prometheus.CounterVec
	routes   map[string]apiHandler
	limiter  *apiLimiter
}

// apiHandler runs one operation on a request body.
type apiHandler func(ctx context.Context, body []byte) (any, error)

// route makes the apiHandler of an operation taking Req.
func route[Req, Reply any](op func(context.Context, Req) (Reply, error)) apiHandler {
	return func(ctx context.Context, body []byte) (any, error) {
		var req Req
		if err := decodeAPI(body, &req); err != nil {
			return nil, err
		}
		return op(ctx, req)
	}
}

// decodeAPI decodes a request body, which must be one JSON object with
// no fields but the request's; an empty body is an empty request.
func decodeAPI(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if !jsonTextValid(body) {
		return proto.Errorf(proto.CodeBadRequest, "the body must be valid UTF-8")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return proto.Errorf(proto.CodeBadRequest, "the body must be a JSON object of the operation's fields: %v", err)
	}
	if d.More() {
		return proto.Errorf(proto.CodeBadRequest, "the body must be one JSON object")
	}
	return nil
}

func newAPIServer(key Secret, ops *apiOps, limiter *apiLimiter, log *slog.Logger, reg prometheus.Registerer) *apiServer {
	a := &apiServer{
		key:     newBearerKey(key),
		ops:     ops,
		log:     log,
		limiter: limiter,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_api_requests_total",
			Help: "Server API requests, by operation and result (ok or an error code), over HTTP and NATS.",
		}, []string{"op", "result"}),
	}
	reg.MustRegister(a.requests)
	a.routes = map[string]apiHandler{
		proto.APIPublish:    route(ops.publish),
		proto.APIWhisper:    route(ops.whisper),
		proto.APIRooms:      route(ops.rooms),
		proto.APIMembers:    route(ops.members),
		proto.APIHistory:    route(ops.history),
		proto.APIDisconnect: route(ops.disconnect),
	}
	maps.Copy(a.routes, ops.moderationRoutes())
	return a
}

// bearerKey is the hash of a key that requests carry as
// "Authorization: Bearer <key>" (the API's, the admin page's).
type bearerKey [sha256.Size]byte

func newBearerKey(key Secret) bearerKey { return sha256.Sum256(key) }

// carriedBy reports whether r carries the key. Both sides are hashed
// first, so the comparison takes the same time whatever the key's length.
func (k bearerKey) carriedBy(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	h := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(h[:], k[:]) == 1
}

// authorized reports whether r carries the API key.
func (a *apiServer) authorized(r *http.Request) bool { return a.key.carriedBy(r) }

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="natter api"`)
		a.count("", proto.CodeUnauthorized)
		writeAPI(w, http.StatusUnauthorized, proto.Ack(proto.Errorf(proto.CodeUnauthorized, "this API needs its key: Authorization: Bearer <key>")))
		return
	}
	op, _ := strings.CutPrefix(r.URL.Path, proto.APIPrefix)
	h := a.routes[op]
	if wait, err := a.limiter.admit(a.limiter.httpClient(r)); err != nil {
		w.Header().Set("Retry-After", retryAfter(wait))
		if h == nil {
			op = "" // a label only of the known operations
		}
		a.count(op, proto.CodeRateLimited)
		writeAPI(w, http.StatusTooManyRequests, proto.Ack(err))
		return
	}
	if h == nil {
		a.count("", proto.CodeNotFound)
		writeAPI(w, http.StatusNotFound, proto.Ack(proto.Errorf(proto.CodeNotFound, "no operation %q; see proto/README.md", op)))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		a.count(op, proto.CodeMethodNotAllowed)
		writeAPI(w, http.StatusMethodNotAllowed, proto.Ack(proto.Errorf(proto.CodeMethodNotAllowed, "%s is a POST", op)))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, proto.MaxAPIBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			a.count(op, proto.CodeTooLarge)
			writeAPI(w, http.StatusRequestEntityTooLarge, proto.Ack(proto.Errorf(proto.CodeTooLarge, "a body is at most %d bytes", proto.MaxAPIBody)))
			return
		}
		a.count(op, proto.CodeBadRequest)
		writeAPI(w, http.StatusBadRequest, proto.Ack(proto.Errorf(proto.CodeBadRequest, "the body could not be read")))
		return
	}
	reply, err := h(r.Context(), body)
	if err != nil {
		e := proto.AsError(err)
		if e.Code == proto.CodeInternal {
			a.log.Error("api", "op", op, "err", err)
		}
		a.count(op, e.Code)
		writeAPI(w, apiStatus(e.Code), proto.ErrorAck{Error: e})
		return
	}
	a.count(op, "ok")
	writeAPI(w, http.StatusOK, reply)
}

func (a *apiServer) count(op, result string) { a.requests.WithLabelValues(op, result).Inc() }

// apiStatus is the HTTP status of an error code.
func apiStatus(code string) int {
	switch code {
	case proto.CodeNoSuchUser, proto.CodeNoSuchMessage, proto.CodeNotFound:
		return http.StatusNotFound
	case proto.CodeUnavailable, proto.CodeUnknownOutcome:
		return http.StatusServiceUnavailable
	case proto.CodeInternal:
		return http.StatusInternalServerError
	case proto.CodeUnauthorized:
		return http.StatusUnauthorized
	case proto.CodeRateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

func writeAPI(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// apiOff answers every API path while no key is configured: the API is
// off, and says nothing more.
func apiOff(w http.ResponseWriter, _ *http.Request) {
	writeAPI(w, http.StatusNotFound, proto.Ack(proto.Errorf(proto.CodeNotFound, "the server API is off (no NATTER_API_KEY)")))
}
