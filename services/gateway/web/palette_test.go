package web

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/natter/natter/proto"
)

// luminance is the WCAG 2 relative luminance of a #rrggbb colour.
func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	if len(hex) != 7 || hex[0] != '#' {
		t.Fatalf("colour %q is not #rrggbb", hex)
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			t.Fatalf("colour %q: %v", hex, err)
		}
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

// contrast is the WCAG 2 contrast ratio of two colours, 1 to 21.
func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

var cssVar = regexp.MustCompile(`--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;`)

// themes reads style.css's custom properties: the light ones of the first
// :root, and the dark scheme's, which override them.
func themes(t *testing.T) map[string]map[string]string {
	t.Helper()
	css, err := files.ReadFile("style.css")
	if err != nil {
		t.Fatal(err)
	}
	src := string(css)
	i := strings.Index(src, "@media (prefers-color-scheme: dark)")
	if i < 0 {
		t.Fatal("style.css has no dark scheme")
	}
	end := strings.Index(src[i:], "\n}\n")
	if end < 0 {
		t.Fatal("style.css: the dark scheme's block does not end")
	}
	read := func(s string) map[string]string {
		m := map[string]string{}
		for _, v := range cssVar.FindAllStringSubmatch(s, -1) {
			m[v[1]] = strings.ToLower(v[2])
		}
		return m
	}
	light := read(src[:i])
	dark := read(src[:i])
	for k, v := range read(src[i : i+end]) {
		dark[k] = v
	}
	return map[string]map[string]string{"light": light, "dark": dark}
}

// TestPaletteContrast: in each theme, every user colour is at least 3:1
// and the message text and links at least 4.5:1 against every background a name or
// a message is shown on (WCAG 2.1 AA for text and for large or
// non-text elements); the light colours are proto.Palette's, in its order
// (the page finds a colour's --user-<i> by its place there).
func TestPaletteContrast(t *testing.T) {
	backgrounds := []string{"bg", "surface", "surface-2", "whisper-soft"}
	for theme, vars := range themes(t) {
		get := func(name string) string {
			v, ok := vars[name]
			if !ok {
				t.Fatalf("%s theme: style.css has no --%s", theme, name)
			}
			return v
		}
		for _, bg := range backgrounds {
			for _, fg := range []string{"text", "link"} { // a message's text, and its links
				if r := contrast(t, get(fg), get(bg)); r < 4.5 {
					t.Errorf("%s theme: --%s %s on --%s %s is %.2f:1, want ≥ 4.5", theme, fg, get(fg), bg, get(bg), r)
				}
			}
			for i := range proto.Palette {
				c := get(fmt.Sprintf("user-%d", i))
				if r := contrast(t, c, get(bg)); r < 3 {
					t.Errorf("%s theme: --user-%d %s on --%s %s is %.2f:1, want ≥ 3", theme, i, c, bg, get(bg), r)
				}
			}
		}
		if _, extra := vars[fmt.Sprintf("user-%d", len(proto.Palette))]; extra {
			t.Errorf("%s theme: more --user- colours than proto.Palette's %d", theme, len(proto.Palette))
		}
	}
	light := themes(t)["light"]
	for i, c := range proto.Palette {
		if got := light[fmt.Sprintf("user-%d", i)]; got != c {
			t.Errorf("--user-%d is %s in the light theme, proto.Palette[%d] is %s", i, got, i, c)
		}
	}
}

// TestContrastFormula checks contrast against WCAG's known values, and
// shows the test would fail the old palette in the dark theme.
func TestContrastFormula(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#767676", "#ffffff", 4.54},
		{"#000075", "#14161b", 1.1}, // the figures
		{"#800000", "#14161b", 1.7},
	} {
		if got := contrast(t, tc.a, tc.b); math.Abs(got-tc.want) > 0.05 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
}
