// Package admin is the admin page that a gateway serves at /admin/ while
// it has an admin key: a static page, its script and its style sheet,
// embedded, with no build step. The page reads its data from the
// gateway's JSON routes under /admin/api/, each behind the admin key
// (services/gateway/admin.go; docs/admin.md).
package admin

import (
	"embed"
	"net/http"

	"github.com/natter/natter/services/gateway/web"
)

//go:embed index.html admin.js admin.css
var files embed.FS

// ContentSecurityPolicy allows the page's own script, style and JSON and
// nothing else: no inline script or style, no framing, no form posting
// anywhere (the login form is the script's), and Trusted Types, so that
// any HTML-string sink throws: the page builds its DOM from text nodes.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// Handler serves the page at /admin/, /admin/admin.js and
// /admin/admin.css; anything else is 404.
func Handler() http.Handler {
	return web.Files(files, map[string]string{
		"/admin/":          "index.html",
		"/admin/admin.js":  "admin.js",
		"/admin/admin.css": "admin.css",
	}, ContentSecurityPolicy)
}
