// Package web is the browser chat client that the gateway serves at /: a
// static page, its script as ES modules under js/ and a style sheet, all
// embedded in the binary, plus js/limits.js, rendered at startup from
// proto's limits. The page loads the Socket.IO client from
// /socket.io/socket.io.js, which the gateway serves beside its Socket.IO
// endpoint.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed index.html style.css favicon.svg js/*.js
var files embed.FS

// ContentSecurityPolicy allows the page's own files and same-origin
// Socket.IO (polling over XHR, WebSocket); no inline script or style, no
// eval, no framing. Trusted Types (enforced by Chromium-based browsers)
// make any HTML-string sink such as innerHTML throw: the client builds its
// DOM from text nodes only.
const ContentSecurityPolicy = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; " +
	"style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

type asset struct {
	name        string
	contentType string
	etag        string
	body        []byte
}

var assets = load(map[string]string{
	"/":            "index.html",
	"/index.html":  "index.html",
	"/style.css":   "style.css",
	"/favicon.svg": "favicon.svg",
})

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// load reads the files of routes, and every module under js/ at its own
// path, and adds the limits module.
func load(routes map[string]string) map[string]*asset {
	modules, err := fs.Glob(files, "js/*.js")
	if err != nil || len(modules) == 0 {
		panic("web: no modules under js/") // the embed directive and this glob disagree
	}
	for _, name := range modules {
		routes["/"+name] = name
	}
	out := make(map[string]*asset, len(routes)+1)
	for route, name := range routes {
		body, err := files.ReadFile(name)
		if err != nil {
			panic("web: " + err.Error()) // the embed directive and this table disagree
		}
		out[route] = newAsset(name, body)
	}
	if _, ok := out[limitsPath]; ok {
		panic("web: " + limitsPath + " is rendered from proto; it must not be a file")
	}
	out[limitsPath] = newAsset(path.Base(limitsPath), limitsModule())
	return out
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	return &asset{
		name:        name,
		contentType: contentTypes[path.Ext(name)],
		etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
		body:        body,
	}
}

// Handler serves the client: the page at / (and /index.html), the modules
// under /js/ (limits.js among them), style.css and favicon.svg; anything
// else is 404. Responses carry the CSP,
// nosniff and Cache-Control: no-cache with an ETag, so browsers revalidate
// on every load and get 304 while the files are unchanged.
func Handler() http.Handler { return serve(assets, ContentSecurityPolicy) }

// Files serves the files of fsys at routes (URL path: file name), as
// Handler serves the client's, under csp: the admin page's handler.
func Files(fsys fs.FS, routes map[string]string, csp string) http.Handler {
	out := make(map[string]*asset, len(routes))
	for route, name := range routes {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			panic("web: " + err.Error()) // the embed directive and the table disagree
		}
		out[route] = newAsset(name, body)
	}
	return serve(out, csp)
}

func serve(assets map[string]*asset, csp string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		a, ok := assets[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Content-Security-Policy", csp)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
	})
}
