package jwtauth

import (
	"context"
	"strings"
	"testing"

	"github.com/natter/natter/kit/jwttest"
)

// FuzzVerify: whatever the input, Verify returns without panicking, and
// accepts only a token whose header and claims were signed with the
// secret (the seeds' valid tokens, unchanged).
func FuzzVerify(f *testing.F) {
	v := verifier(f, Config{HS256Secret: secret})
	valid := map[string]bool{}
	for _, c := range []string{"u-1", "u-2"} {
		tok := jwttest.Sign(f, HS256, "", secret, tokenClaims(jwttest.Claims{"sub": c}))
		valid[tok] = true
		f.Add(tok)
		f.Add(withHeader(tok, jwttest.Sign(f, "none", "", nil, tokenClaims(nil))))
		f.Add(strings.TrimSuffix(tok, tok[len(tok)-3:]))
	}
	f.Add("a.b.c")
	f.Add("..")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		_, err := v.Verify(context.Background(), token)
		if err == nil && !valid[token] {
			t.Fatalf("accepted %q", token)
		}
	})
}
