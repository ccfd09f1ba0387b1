package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func TestServesFiles(t *testing.T) {
	cases := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script src="/socket.io/socket.io.js" defer></script>
<script type="module" src="js/main.js"></script>`},
		{"/index.html", "text/html; charset=utf-8", `data-testid="join-button"`},
		{"/js/main.js", "text/javascript; charset=utf-8", "import "},
		{"/js/limits.js", "text/javascript; charset=utf-8", "export const MAX_MESSAGE_RUNES"},
		{"/style.css", "text/css; charset=utf-8", ":root"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			res := get(t, http.MethodGet, c.path, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != c.contentType {
				t.Errorf("Content-Type %q, want %q", got, c.contentType)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q", got)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if !strings.Contains(string(body), c.contains) {
				t.Errorf("body lacks %q", c.contains)
			}
		})
	}
}

func TestPolicyIsStrict(t *testing.T) {
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self' ws: wss:", "frame-ancestors 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(ContentSecurityPolicy, want) {
			t.Errorf("policy lacks %q", want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(ContentSecurityPolicy, bad) {
			t.Errorf("policy has %q", bad)
		}
	}
}

func TestPageHasNoInlineCode(t *testing.T) {
	res := get(t, http.MethodGet, "/", nil)
	body, _ := io.ReadAll(res.Body)
	page := string(body)
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", " onerror="} {
		if strings.Contains(page, bad) {
			t.Errorf("page has %q, which the CSP blocks", bad)
		}
	}
	if !strings.Contains(page, `<meta charset="utf-8">`) {
		t.Error("page does not declare UTF-8")
	}
}

func TestConditionalGet(t *testing.T) {
	for _, p := range []string{"/js/main.js", "/js/limits.js"} {
		res := get(t, http.MethodGet, p, nil)
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", p)
		}
		res = get(t, http.MethodGet, p, http.Header{"If-None-Match": {etag}})
		if res.StatusCode != http.StatusNotModified {
			t.Fatalf("%s: status %d with If-None-Match, want 304", p, res.StatusCode)
		}
	}
}

func TestHead(t *testing.T) {
	res := get(t, http.MethodHead, "/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("HEAD status %d, want 200", res.StatusCode)
	}
}

func TestUnknownPathIs404(t *testing.T) {
	for _, p := range []string{"/nope", "/app.js", "/js/", "/js", "/js/main.js/", "/limits.go", "/web.go", "/socket.io/socket.io.js", "/../web.go"} {
		res := get(t, http.MethodGet, p, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, res.StatusCode)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", p, got)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	res := get(t, http.MethodPost, "/", nil)
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST status %d, want 405", res.StatusCode)
	}
	if got := res.Header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow %q", got)
	}
}
