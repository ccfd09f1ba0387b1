package web

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/natter/natter/proto"
)

// body GETs p and fails unless it is a 200 with the headers of every asset.
func body(t *testing.T, p, contentType string) string {
	t.Helper()
	res := get(t, http.MethodGet, p, nil)
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d, want 200", p, res.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":            contentType,
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-cache",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %s %q, want %q", p, k, got, want)
		}
	}
	if res.Header.Get("ETag") == "" {
		t.Errorf("%s: no ETag", p)
	}
	return string(b)
}

var (
	scriptSrc  = regexp.MustCompile(`<script\b[^>]*\bsrc="([^"]+)"[^>]*>`)
	importFrom = regexp.MustCompile(`(?m)^import\b[^;]*?\bfrom\s+'([^']+)';`)
	exportName = regexp.MustCompile(`(?m)^export const (\w+) = (.+);$`)
)

// TestModuleGraphIsServed follows the page's module script and every
// import from it: each is served as JavaScript with the headers of the
// other assets, and every embedded module is reached, so none is dead.
func TestModuleGraphIsServed(t *testing.T) {
	page := body(t, "/", "text/html; charset=utf-8")
	var entry string
	for _, m := range scriptSrc.FindAllStringSubmatch(page, -1) {
		if strings.Contains(m[0], `type="module"`) {
			if entry != "" {
				t.Fatalf("two module scripts: %s and %s", entry, m[1])
			}
			entry = "/" + m[1]
		}
	}
	if entry != "/js/main.js" {
		t.Fatalf("module script %q, want js/main.js", entry)
	}
	seen := map[string]bool{}
	queue := []string{entry}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		src := body(t, p, "text/javascript; charset=utf-8")
		for _, m := range importFrom.FindAllStringSubmatch(src, -1) {
			if !strings.HasPrefix(m[1], "./") {
				t.Errorf("%s imports %q: only ./ paths stay under js/", p, m[1])
				continue
			}
			queue = append(queue, "/js/"+strings.TrimPrefix(m[1], "./"))
		}
	}
	embedded, err := fs.Glob(files, "js/*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range embedded {
		if !seen["/"+name] {
			t.Errorf("%s is embedded but nothing imports it", name)
		}
	}
	if !seen[limitsPath] {
		t.Errorf("no module imports %s", limitsPath)
	}
}

// wantLimits is what the page must be told, straight from proto.
var wantLimits = map[string]any{
	"MAX_NAME_RUNES":    proto.MaxNameRunes,
	"MAX_ROOM_RUNES":    proto.MaxRoomRunes,
	"MAX_MESSAGE_RUNES": proto.MaxMessageRunes,
	"MAX_HISTORY_PAGE":  proto.MaxHistoryPage,
	"MAX_UNREAD":        proto.MaxUnread,
	"DEFAULT_ROOM":      proto.DefaultRoom,
	"PALETTE":           proto.Palette,
}

// TestServedLimitsAreProtos reads the served limits module back and
// compares each constant with proto's.
func TestServedLimitsAreProtos(t *testing.T) {
	src := body(t, limitsPath, "text/javascript; charset=utf-8")
	got := map[string]string{}
	for _, m := range exportName.FindAllStringSubmatch(src, -1) {
		got[m[1]] = m[2]
	}
	if len(got) != len(wantLimits) {
		t.Errorf("limits.js exports %d constants, want %d:\n%s", len(got), len(wantLimits), src)
	}
	for name, want := range wantLimits {
		v, ok := got[name]
		if !ok {
			t.Errorf("limits.js lacks %s", name)
			continue
		}
		var parsed any
		if err := json.Unmarshal([]byte(v), &parsed); err != nil {
			t.Errorf("%s = %s: %v", name, v, err)
			continue
		}
		if fmt.Sprint(parsed) != fmt.Sprint(want) {
			t.Errorf("%s = %v, proto says %v", name, parsed, want)
		}
	}
}

// restated finds, in a module's text, proto's limits written out: a
// number equal to a numeric limit, or a string literal equal to a string
// one. A duration in milliseconds may share a number with a limit (2000
// ms): it is let through only on the line of a constant named *_MS.
func restated(src string) []string {
	var found []string
	for i, line := range strings.Split(src, "\n") {
		for name, v := range wantLimits {
			switch x := v.(type) {
			case int:
				re := regexp.MustCompile(fmt.Sprintf(`(^|[^\w.])%d($|[^\w.])`, x))
				if re.MatchString(line) && !regexp.MustCompile(`\bconst \w+_MS = `).MatchString(line) {
					found = append(found, fmt.Sprintf("line %d: %s (%d): %s", i+1, name, x, strings.TrimSpace(line)))
				}
			case string:
				if strings.Contains(line, "'"+x+"'") || strings.Contains(line, `"`+x+`"`) {
					found = append(found, fmt.Sprintf("line %d: %s (%q): %s", i+1, name, x, strings.TrimSpace(line)))
				}
			}
		}
	}
	return found
}

// TestModulesRestateNoLimit fails if any embedded module writes out one
// of proto's limits instead of importing it from limits.js.
func TestModulesRestateNoLimit(t *testing.T) {
	modules, err := fs.Glob(files, "js/*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range modules {
		src, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range restated(string(src)) {
			t.Errorf("%s restates a limit, %s", name, f)
		}
	}
}

// TestRestatedCatchesLiterals shows that restated finds what it is for,
// and lets through what it must.
func TestRestatedCatchesLiterals(t *testing.T) {
	for _, src := range []string{
		"const MAX = 2000;",
		"if (n > 2000) return;",
		"'A name is 1 to 32 letters'",
		"request('history', { room, limit: 100 })",
		"return s || 'lobby';",
	} {
		if len(restated(src)) == 0 {
			t.Errorf("restated(%q) found nothing", src)
		}
	}
	for _, src := range []string{
		"const TYPING_REFRESH_MS = 2000; // repeat typing on this often",
		"const RETRY_MS = [500, 1000, 2000, 5000];",
		"b[8] = (b[8] & 0x3f) | 0x80;",
		"if (n > MAX_MESSAGE_RUNES) return;",
		"x = 1.32;",
	} {
		if f := restated(src); len(f) != 0 {
			t.Errorf("restated(%q) = %v, want nothing", src, f)
		}
	}
}

// TestPageHintsMatchProto checks the join form's static hints, which the
// page shows before any script runs, against proto.
func TestPageHintsMatchProto(t *testing.T) {
	page := body(t, "/", "text/html; charset=utf-8")
	for _, want := range []string{
		fmt.Sprintf("1–%d letters, digits, spaces, _ or -", proto.MaxNameRunes),
		fmt.Sprintf(`placeholder="%s"`, proto.DefaultRoom),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
