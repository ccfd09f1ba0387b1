package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/admin"
)

// adminServer serves the admin page at proto.AdminPrefix while the
// gateway has an admin key (Config.AdminKey). The page itself (HTML, script,
// style) holds no data and is served to anyone; its data comes from the
// JSON routes under proto.AdminAPIPrefix, every one of which needs the
// key as "Authorization: Bearer <key>", checked before anything else,
// routes unknown or not. The page keeps the key in sessionStorage (no
// cookie: nothing a cross-site request could carry). See docs/admin.md.
type adminServer struct {
	key    bearerKey
	ops    *apiOps
	stats  *gatewayStats
	log    *slog.Logger
	page   http.Handler
	routes map[string]adminRoute
}

// adminRoute is one JSON route: its method, and what answers it.
type adminRoute struct {
	method string
	serve  func(ctx context.Context, r *http.Request, body []byte) (any, error)
}

func newAdminServer(key Secret, ops *apiOps, stats *gatewayStats, log *slog.Logger) *adminServer {
	a := &adminServer{key: newBearerKey(key), ops: ops, stats: stats, log: log, page: admin.Handler()}
	a.routes = map[string]adminRoute{
		proto.AdminGateways:   {http.MethodGet, a.gateways},
		proto.AdminRooms:      {http.MethodGet, a.rooms},
		proto.AdminMembers:    {http.MethodGet, a.members},
		proto.AdminDisconnect: {http.MethodPost, a.disconnect},
	}
	for name, r := range a.moderationRoutes() {
		a.routes[name] = r
	}
	return a
}

func (a *adminServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route, isAPI := strings.CutPrefix(r.URL.Path, proto.AdminAPIPrefix)
	if !isAPI {
		a.page.ServeHTTP(w, r)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !a.key.carriedBy(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="natter admin"`)
		writeAPI(w, http.StatusUnauthorized, proto.Ack(proto.Errorf(proto.CodeUnauthorized, "the admin page needs its key: Authorization: Bearer <key>")))
		return
	}
	h, ok := a.routes[route]
	if !ok {
		writeAPI(w, http.StatusNotFound, proto.Ack(proto.Errorf(proto.CodeNotFound, "no admin route %q", route)))
		return
	}
	if r.Method != h.method {
		w.Header().Set("Allow", h.method)
		writeAPI(w, http.StatusMethodNotAllowed, proto.Ack(proto.Errorf(proto.CodeMethodNotAllowed, "%s is a %s", route, h.method)))
		return
	}
	var body []byte
	if h.method == http.MethodPost {
		var err error
		if body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, proto.MaxAPIBody)); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeAPI(w, http.StatusRequestEntityTooLarge, proto.Ack(proto.Errorf(proto.CodeTooLarge, "a body is at most %d bytes", proto.MaxAPIBody)))
				return
			}
			writeAPI(w, http.StatusBadRequest, proto.Ack(proto.Errorf(proto.CodeBadRequest, "the body could not be read")))
			return
		}
	}
	reply, err := h.serve(r.Context(), r, body)
	if err != nil {
		e := proto.AsError(err)
		if e.Code == proto.CodeInternal {
			a.log.Error("admin", "route", route, "err", err)
		}
		writeAPI(w, apiStatus(e.Code), proto.ErrorAck{Error: e})
		return
	}
	writeAPI(w, http.StatusOK, reply)
}

func (a *adminServer) gateways(context.Context, *http.Request, []byte) (any, error) {
	return a.stats.gather()
}

func (a *adminServer) rooms(ctx context.Context, _ *http.Request, _ []byte) (any, error) {
	return a.ops.rooms(ctx, proto.APIRoomsRequest{})
}

// members answers ?room=&after=&limit=, as the server API's members.
func (a *adminServer) members(ctx context.Context, r *http.Request, _ []byte) (any, error) {
	q := r.URL.Query()
	req := proto.MembersRequest{Room: q.Get("room"), After: q.Get("after")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return nil, proto.Errorf(proto.CodeBadRequest, "limit must be a number")
		}
		req.Limit = n
	}
	return a.ops.members(ctx, req)
}

// disconnect takes the server API's disconnect request: {user}, or
// {gateway, conn}.
func (a *adminServer) disconnect(ctx context.Context, _ *http.Request, body []byte) (any, error) {
	var req proto.APIDisconnectRequest
	if err := decodeAPI(body, &req); err != nil {
		return nil, err
	}
	return a.ops.disconnect(ctx, req)
}

// adminOff answers every admin path while no admin key is configured: a
// plain 404, as for a path that never was.
func adminOff(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
