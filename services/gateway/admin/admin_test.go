package admin

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestHandler: the page's three files, each with the CSP, nosniff and its
// type; nothing else.
func TestHandler(t *testing.T) {
	h := Handler()
	for path, ctype := range map[string]string{
		"/admin/": "text/html", "/admin/admin.js": "text/javascript", "/admin/admin.css": "text/css",
		"/admin/index.html": "", "/admin/api/rooms": "", "/admin/../web/index.html": "",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if ctype == "" {
			if rec.Code != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, rec.Code)
			}
			continue
		}
		hd := rec.Header()
		if rec.Code != http.StatusOK || !strings.HasPrefix(hd.Get("Content-Type"), ctype) ||
			hd.Get("Content-Security-Policy") != ContentSecurityPolicy || hd.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: %d %v", path, rec.Code, hd)
		}
	}
}

// TestScriptPutsNoHTML: the script builds its DOM from elements and text
// only, never from HTML strings (the CSP's Trusted Types would make any
// such sink throw in Chromium; other browsers would run it).
func TestScriptPutsNoHTML(t *testing.T) {
	js, err := files.ReadFile("admin.js")
	if err != nil {
		t.Fatal(err)
	}
	sinks := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|srcdoc|eval\(|new Function`)
	if m := sinks.FindAll(js, -1); len(m) > 0 {
		t.Errorf("admin.js uses HTML sinks: %q", m)
	}
}
