package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/gateway/admin"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

const adminKey = "a test admin key, 16 bytes or more"

// adminPaths are every path of the admin page: the page's files, every
// JSON route, and ones that are none.
func adminPaths() (page, api []string) {
	page = []string{"/admin/", "/admin/admin.js", "/admin/admin.css"}
	for _, r := range append(proto.AdminRoutes, "", "nope", "gateways/x") {
		api = append(api, proto.AdminAPIPrefix+r)
	}
	return page, api
}

// TestAdminRoutesNeedTheKey: without an admin key no admin path exists
// (404, whatever the request carries); with one, every JSON route, known
// or not, answers 401 unauthorized to a request without the key, with a
// wrong one or with the server API's, and the page's files, which hold
// no data, are served with their CSP.
func TestAdminRoutesNeedTheKey(t *testing.T) {
	page, api := adminPaths()
	auths := []string{"", "Bearer ", "Bearer " + apiKey, "Bearer " + adminKey + "x", "Bearer " + adminKey[:len(adminKey)-1],
		"bearer " + adminKey, "Basic " + adminKey, adminKey}
	methods := []string{http.MethodGet, http.MethodPost}

	t.Run("off", func(t *testing.T) {
		s := startSystemWith(t, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{}, gateway.Config{APIKey: gateway.Secret(apiKey)})
		for _, path := range append(page, api...) {
			for _, method := range methods {
				for _, auth := range append(auths, "Bearer "+adminKey) {
					if status, body := adminCall(t, method, s.gateways[0].URL+path, auth, "{}"); status != http.StatusNotFound {
						t.Errorf("%s %s with %q: %d %s, want 404", method, path, auth, status, body)
					}
				}
			}
		}
	})

	t.Run("on", func(t *testing.T) {
		s := startSystemWith(t, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{}, gateway.Config{
			APIKey: gateway.Secret(apiKey), AdminKey: gateway.Secret(adminKey),
		})
		base := s.gateways[0].URL
		for _, path := range api {
			for _, method := range methods {
				for _, auth := range auths {
					status, body := adminCall(t, method, base+path, auth, `{"user":"someone"}`)
					if status != http.StatusUnauthorized || !strings.Contains(body, `"code":"`+proto.CodeUnauthorized+`"`) {
						t.Errorf("%s %s with %q: %d %s, want 401 %s", method, path, auth, status, body, proto.CodeUnauthorized)
					}
				}
			}
		}
		for _, path := range page {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") != admin.ContentSecurityPolicy {
				t.Errorf("GET %s: %d, CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
			}
		}
		// With the key: each route answers, and what is not one is 404.
		key := "Bearer " + adminKey
		for _, tc := range []struct {
			method, route, body string
			status              int
			want                string
		}{
			{http.MethodGet, proto.AdminGateways, "", 200, `"gateway":"gw1"`},
			{http.MethodGet, proto.AdminRooms, "", 200, `"rooms":[`},
			{http.MethodGet, proto.AdminMembers + "?room=lobby", "", 200, `"members":[]`},
			{http.MethodGet, proto.AdminMembers, "", 400, proto.CodeInvalidRoom},
			{http.MethodGet, proto.AdminMembers + "?room=lobby&limit=x", "", 400, proto.CodeBadRequest},
			{http.MethodPost, proto.AdminDisconnect, `{"user":"nobody here"}`, 404, proto.CodeNoSuchUser},
			{http.MethodPost, proto.AdminDisconnect, `{"nope":1}`, 400, proto.CodeBadRequest},
			{http.MethodPost, proto.AdminGateways, "", 405, proto.CodeMethodNotAllowed},
			{http.MethodGet, proto.AdminDisconnect, "", 405, proto.CodeMethodNotAllowed},
			{http.MethodPost, proto.EventMute, `{"username":"someone"}`, 400, proto.CodeInvalidRoom},
			{http.MethodGet, proto.EventKick, "", 405, proto.CodeMethodNotAllowed},
			{http.MethodPost, proto.APIModeration, `{"room":"lobby"}`, 200, `"actions":[]`},
			{http.MethodGet, "nope", "", 404, proto.CodeNotFound},
		} {
			status, body := adminCall(t, tc.method, base+proto.AdminAPIPrefix+tc.route, key, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.route, status, body, tc.status, tc.want)
			}
		}
	})
}

// adminCall sends body to url with the header auth (none when empty),
// and returns the status and the body.
func adminCall(tb testing.TB, method, url, auth, body string) (int, string) {
	tb.Helper()
	resp, b := authCall(tb, method, url, auth, body)
	return resp.StatusCode, string(b)
}
