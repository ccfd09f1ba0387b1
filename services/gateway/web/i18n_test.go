package web

import (
	"io/fs"
	"regexp"
	"testing"
)

var (
	wordKey  = regexp.MustCompile(`(?m)^  (\w+): \[`)
	usedAttr = regexp.MustCompile(`data-i18n(?:-placeholder)?="(\w+)"`)
	usedCall = regexp.MustCompile(`\bt\('(\w+)'`)
)

// TestEveryTextIsTranslated: each key the page asks for (index.html's
// data-i18n attributes, and t('…') in the modules) is in js/i18n.js's
// words, which holds each text in English and Korean side by side.
func TestEveryTextIsTranslated(t *testing.T) {
	src, err := files.ReadFile("js/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	words := map[string]bool{}
	for _, m := range wordKey.FindAllStringSubmatch(string(src), -1) {
		words[m[1]] = true
	}
	if len(words) < 10 {
		t.Fatalf("js/i18n.js: %d words found; the pattern no longer reads it", len(words))
	}
	check := func(name string, re *regexp.Regexp) {
		b, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if !words[m[1]] {
				t.Errorf("%s asks for %q, which js/i18n.js lacks", name, m[1])
			}
		}
	}
	check("index.html", usedAttr)
	modules, err := fs.Glob(files, "js/*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range modules {
		check(name, usedCall)
	}
}
