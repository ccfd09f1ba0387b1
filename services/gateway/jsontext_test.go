package gateway

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONTextValid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"message":"hello"}`, true},
		{`{"message":"민지 \u00e9"}`, true},
		{`{"message":"\ud83d\ude00"}`, true}, // a pair: 😀
		{`{"message":"\\ud800"}`, true},      // an escaped backslash, then text
		{`{"message":"\\\ud83d\ude00"}`, true},
		{`{"message":"a\ud800"}`, false},
		{`{"message":"a\ud800b"}`, false},
		{`{"message":"a\udc00"}`, false},
		{`{"message":"\ude00\ud83d"}`, false},
		{`{"message":"\ud83d\u0041"}`, false},
		{`{"message":"\uD800"}`, false},
		{"{\"message\":\"a\xffb\"}", false},
		{"{\"message\":\"\xed\xa0\x80\"}", false}, // a surrogate in UTF-8
		{"{\"message\":\"\xc0\xaf\"}", false},     // overlong
	} {
		if got := jsonTextValid([]byte(tc.in)); got != tc.want {
			t.Errorf("jsonTextValid(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzJSONTextValid: text that jsonTextValid passes decodes without
// encoding/json putting in a U+FFFD that the text did not write.
func FuzzJSONTextValid(f *testing.F) {
	for _, s := range []string{`"a"`, `"\ud800"`, `"\ud83d\ude00"`, `"\\ud800"`, "\"\xff\"", `"\ufffd"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s string
		if json.Unmarshal(b, &s) != nil || !jsonTextValid(b) {
			return
		}
		written := strings.Count(string(b), "\ufffd") + strings.Count(strings.ToLower(string(b)), `\ufffd`)
		if got := strings.Count(s, "\ufffd"); got > written {
			t.Fatalf("%q decoded to %q: %d U+FFFD, %d written", b, s, got, written)
		}
	})
}
