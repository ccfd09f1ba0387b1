package web

import (
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

var (
	wordKey  = regexp.MustCompile(`(?m)^  (\w+): \[`)
	usedAttr = regexp.MustCompile(`data-i18n(?:-placeholder|-aria-label|-title)?="(\w+)"`)
	usedCall = regexp.MustCompile(`\bt\('(\w+)'`)
)

// wordsOf reads js/i18n.js's words: each key with the text of its entry
// (what is inside its [ ]).
func wordsOf(t *testing.T) map[string]string {
	t.Helper()
	b, err := files.ReadFile("js/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	words := map[string]string{}
	for _, m := range wordKey.FindAllStringSubmatchIndex(src, -1) {
		open := m[1] - 1 // the entry's [
		end := closing(src, open)
		if end < 0 {
			t.Fatalf("js/i18n.js: the entry %s has no closing ]", src[m[2]:m[3]])
		}
		words[src[m[2]:m[3]]] = src[open+1 : end]
	}
	if len(words) < 10 {
		t.Fatalf("js/i18n.js: %d words found; the pattern no longer reads it", len(words))
	}
	return words
}

// TestEveryTextIsTranslated: each key the page asks for (index.html's
// data-i18n attributes, and t('…') in the modules) is in js/i18n.js's
// words, which holds each text in English and Korean side by side.
func TestEveryTextIsTranslated(t *testing.T) {
	words := wordsOf(t)
	check := func(name string, re *regexp.Regexp) {
		b, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if _, ok := words[m[1]]; !ok {
				t.Errorf("%s asks for %q, which js/i18n.js lacks", name, m[1])
			}
		}
	}
	check("index.html", usedAttr)
	for _, name := range modules(t) {
		check(name, usedCall)
	}
}

// TestEveryTextHasBothLanguages: each entry of words is [English, Korean]:
// two texts, the first without Hangul, the second with.
func TestEveryTextHasBothLanguages(t *testing.T) {
	for key, entry := range wordsOf(t) {
		texts := splitTop(entry)
		if len(texts) != 2 {
			t.Errorf("words.%s has %d texts, want 2 (English, Korean): [%s]", key, len(texts), entry)
			continue
		}
		if hasHangul(texts[0]) || !hasHangul(texts[1]) {
			t.Errorf("words.%s is not [English, Korean]: [%s]", key, entry)
		}
	}
}

func hasHangul(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Hangul, r) }) >= 0
}

// TestEveryErrorCodeHasWords: each code of proto/README.md's table that
// the page can get (all but the server API's own) has the page's words,
// error_<code>, or for a token_* code the words of a token that will not
// do, error_token; the server's English message is shown only for a code
// the page does not know.
func TestEveryErrorCodeHasWords(t *testing.T) {
	readme, err := os.ReadFile("../../../proto/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Error codes\n")
	if !ok {
		t.Fatal("proto/README.md has no ## Error codes")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	words := wordsOf(t)
	n := 0
	for _, m := range regexp.MustCompile("(?m)^\\| `(\\w+)` \\| (.*) \\|$").FindAllStringSubmatch(table, -1) {
		code, meaning := m[1], m[2]
		if strings.HasPrefix(meaning, "server API:") {
			continue // an HTTP answer to a backend, never to the page
		}
		n++
		if _, ok := words["error_"+code]; ok {
			continue
		}
		if _, ok := words["error_token"]; ok && strings.HasPrefix(code, "token_") {
			continue
		}
		t.Errorf("the error code %s has no words in js/i18n.js (error_%s)", code, code)
	}
	if n < 25 {
		t.Errorf("%d codes read from proto/README.md's table; the test reads it wrong", n)
	}
}

// textArgs are the functions whose argument at that place is text shown to
// the user.
var textArgs = map[string]int{
	"addSystem":    0,
	"addNotice":    2,
	"localError":   1,
	"makeEl":       2,
	"setMeta":      1,
	"actionButton": 1,
	"setJoinBusy":  1,
}

var (
	textCall   = regexp.MustCompile(`\b(\w+)\(`)
	textAssign = regexp.MustCompile(`\.(textContent|title|placeholder|ariaLabel) = |\bmessage: `)
	textAttr   = regexp.MustCompile(`\.setAttribute\('(aria-label|title|placeholder)', `)
	literal    = regexp.MustCompile(`'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|` + "`[^`]*`")
)

// TestNoHardCodedText: no module but js/i18n.js shows a string literal of
// words (a letter in it) to the user: as text of a system line, notice,
// error, element or button, as textContent, title, placeholder or
// aria-label, or as an error's message. What the user reads goes through
// t(), whose words are in English and Korean.
func TestNoHardCodedText(t *testing.T) {
	n := 0
	for _, name := range modules(t) {
		if name == "js/i18n.js" {
			continue
		}
		b, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		check := func(at int, expr string) {
			n++
			if lit := wordsLiteral(expr); lit != "" {
				line := strings.Count(src[:at], "\n") + 1
				t.Errorf("%s:%d shows %s to the user; give it to t() with words in js/i18n.js", name, line, lit)
			}
		}
		for _, m := range textCall.FindAllStringSubmatchIndex(src, -1) {
			i, ok := textArgs[src[m[2]:m[3]]]
			if !ok || isDefinition(src, m[0]) {
				continue
			}
			end := closing(src, m[1]-1)
			if end < 0 {
				t.Fatalf("%s: %s( not closed", name, src[m[2]:m[3]])
			}
			if args := splitTop(src[m[1]:end]); i < len(args) {
				check(m[0], args[i])
			}
		}
		for _, m := range textAttr.FindAllStringIndex(src, -1) {
			end := closing(src, m[0]+strings.IndexByte(src[m[0]:m[1]], '('))
			if end < 0 {
				t.Fatalf("%s: setAttribute( not closed", name)
			}
			check(m[0], src[m[1]:end])
		}
		for _, m := range textAssign.FindAllStringIndex(src, -1) {
			if strings.HasSuffix(src[:m[0]], "document") {
				continue // the tab's title: the room and the brand, natter
			}
			check(m[0], exprAt(src, m[1]))
		}
	}
	if n < 40 {
		t.Errorf("%d places of text checked; the test no longer reads the modules", n)
	}
}

// wordsLiteral is the first string literal of expr that holds a letter,
// outside t(…); "" for none.
func wordsLiteral(expr string) string {
	for {
		i := regexp.MustCompile(`\bt\(`).FindStringIndex(expr)
		if i == nil {
			break
		}
		end := closing(expr, i[1]-1)
		if end < 0 {
			break
		}
		expr = expr[:i[0]] + expr[end+1:]
	}
	for _, lit := range literal.FindAllString(expr, -1) {
		if strings.IndexFunc(lit, unicode.IsLetter) >= 0 {
			return lit
		}
	}
	return ""
}

// isDefinition tells whether the call at i is the function's own
// definition (function name(…)).
func isDefinition(src string, i int) bool {
	return strings.HasSuffix(src[:i], "function ")
}

// exprAt is the expression that starts at i: up to a ; , ) } or line end
// outside brackets and strings.
func exprAt(src string, i int) string {
	depth := 0
	for j := i; j < len(src); j++ {
		switch c := src[j]; c {
		case '\'', '"', '`':
			j = skipString(src, j)
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth == 0 {
				return src[i:j]
			}
			depth--
		case ';', ',', '\n':
			if depth == 0 {
				return src[i:j]
			}
		}
	}
	return src[i:]
}

// closing is the index of the bracket that closes the one at open in src,
// skipping strings; -1 for none.
func closing(src string, open int) int {
	depth := 0
	for j := open; j < len(src); j++ {
		switch src[j] {
		case '\'', '"', '`':
			j = skipString(src, j)
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// skipString is the index of the quote that ends the string starting at i.
func skipString(src string, i int) int {
	q := src[i]
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case q:
			return j
		}
	}
	return len(src)
}

// splitTop splits s at its commas outside brackets and strings, trimmed;
// a trailing comma makes no part.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for j := 0; j < len(s); j++ {
		switch s[j] {
		case '\'', '"', '`':
			j = skipString(s, j)
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(s[start:j]))
				start = j + 1
			}
		}
	}
	if last := strings.TrimSpace(s[start:]); last != "" {
		parts = append(parts, last)
	}
	return parts
}

// TestIndexHTMLTextIsTranslated: each text of index.html's body, and
// each aria-label, title and placeholder, is marked with the key of its
// words (data-i18n, data-i18n-<attribute>), but for what translate="no"
// keeps as it is (the brand, the default room's name).
func TestIndexHTMLTextIsTranslated(t *testing.T) {
	b, err := files.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	_, body, ok := strings.Cut(page, "<body>")
	if !ok {
		t.Fatal("index.html has no <body>")
	}
	tags := regexp.MustCompile(`<(\w+)\b([^>]*)>([^<]*)`)
	attrs := regexp.MustCompile(`\s(aria-label|title|placeholder)="`)
	n := 0
	for _, m := range tags.FindAllStringSubmatch(body, -1) {
		tag, attr, text := m[1], m[2], strings.TrimSpace(m[3])
		if strings.Contains(attr, `translate="no"`) {
			continue
		}
		for _, a := range attrs.FindAllStringSubmatch(attr, -1) {
			n++
			if !strings.Contains(attr, "data-i18n-"+a[1]+`="`) {
				t.Errorf("index.html: <%s%s> has a %s without data-i18n-%s", tag, attr, a[1], a[1])
			}
		}
		// A <kbd> is part of its paragraph's words (data-i18n on the <p>).
		if text != "" && strings.IndexFunc(text, unicode.IsLetter) >= 0 && tag != "kbd" {
			n++
			if !strings.Contains(attr, `data-i18n="`) {
				t.Errorf("index.html: <%s%s> shows %q without data-i18n", tag, attr, text)
			}
		}
	}
	if n < 20 {
		t.Errorf("%d texts of index.html checked; the test no longer reads it", n)
	}
}

// modules are the page's JavaScript modules.
func modules(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(files, "js/*.js")
	if err != nil {
		t.Fatal(err)
	}
	return names
}
