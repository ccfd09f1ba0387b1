package gateway

import (
	"context"
	"net/http"

	"github.com/natter/natter/proto"
)

// moderationRoutes are the admin page's moderation routes: the server
// API's own moderation operations (api_moderation.go: mute, unmute,
// kick, ban, unban, delete, role, moderation) and history (the room's
// newest messages, for their delete buttons), each a POST of the API's body
// under proto.AdminAPIPrefix, behind the admin key like every other admin
// route, and listed in proto.AdminRoutes so that the route table tests
// cover them. The page's side is marked MODERATION in admin/index.html
// and admin/admin.js.
func (a *adminServer) moderationRoutes() map[string]adminRoute {
	routes := map[string]adminRoute{}
	ops := a.ops.moderationRoutes()
	ops[proto.APIHistory] = route(a.ops.history)
	for name, h := range ops {
		routes[name] = adminRoute{http.MethodPost, func(ctx context.Context, _ *http.Request, body []byte) (any, error) {
			return h(ctx, body)
		}}
	}
	return routes
}
