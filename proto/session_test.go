package proto

import (
	"strings"
	"testing"
)

func TestSessionID(t *testing.T) {
	tokens := []string{"", "a", "b", "tok", "Tok", "0123456789abcdefghijklmnopqrstuv", "natter session id"}
	seen := map[string]string{}
	for _, tok := range tokens {
		id := SessionID(tok)
		if SessionID(tok) != id {
			t.Errorf("SessionID(%q) is not stable", tok)
		}
		if !ValidSessionID(id) {
			t.Errorf("SessionID(%q) = %q, not a valid session id", tok, id)
		}
		if len(tok) >= 4 && strings.Contains(id, tok) {
			t.Errorf("SessionID(%q) = %q holds the token", tok, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("SessionID(%q) = SessionID(%q) = %q", tok, other, id)
		}
		seen[id] = tok
	}
	// The id is not a plain hash of the token: it is separated from any
	// other use of one.
	if SessionID("x") == SessionID("natter session id\x00x") {
		t.Error("the domain is not in the hash")
	}
	// A realistic token (24 random bytes, base64url) and its id share no
	// run of 4 characters: the id is no encoding of the token.
	const tok = "q3Zt8mWk1bN0pL7sYx2cVd9fGh4jRe6T"
	id := SessionID(tok)
	for i := 0; i+4 <= len(tok); i++ {
		if strings.Contains(id, tok[i:i+4]) {
			t.Errorf("SessionID(%q) = %q shares %q with it", tok, id, tok[i:i+4])
		}
	}
}

func TestValidSessionID(t *testing.T) {
	for _, id := range []string{"", "short", strings.Repeat("a", 23), strings.Repeat("a", 25),
		strings.Repeat("a", 23) + ".", strings.Repeat("a", 23) + "*", strings.Repeat("a", 23) + ">",
		strings.Repeat("a", 23) + " ", strings.Repeat("a", 23) + "="} {
		if ValidSessionID(id) {
			t.Errorf("ValidSessionID(%q) = true", id)
		}
	}
	if !ValidSessionID(strings.Repeat("aZ9_-", 4) + "abcd") {
		t.Error("a valid id refused")
	}
}

func TestWhisperSubjects(t *testing.T) {
	a, b := SessionID("token of a"), SessionID("token of b")
	if WhisperMsgSubject(a, b) != WhisperMsgSubject(b, a) {
		t.Fatalf("the two directions differ: %s, %s", WhisperMsgSubject(a, b), WhisperMsgSubject(b, a))
	}
	subject := WhisperMsgSubject(a, b)
	if !strings.HasPrefix(subject, WhisperMsgPrefix) {
		t.Fatalf("%s lacks the prefix", subject)
	}
	x, y, ok := WhisperParties(subject[len(WhisperMsgPrefix):])
	if !ok || !(x == a && y == b || x == b && y == a) || x > y {
		t.Errorf("WhisperParties of %s: %q %q %v", subject, x, y, ok)
	}
	if got := WhisperMsgSubject(a, a); got != WhisperMsgPrefix+a+"."+a {
		t.Errorf("to oneself: %s", got)
	}
	// Each user's filters match the conversation, from either side, and
	// no other user's.
	c := SessionID("token of c")
	for _, sid := range []string{a, b} {
		if !matchesAny(subject, UserWhisperFilters(sid)) {
			t.Errorf("%s's filters miss %s", sid, subject)
		}
		stored := StoredWhisperPrefix + subject[len(WhisperMsgPrefix):]
		if !matchesAny(stored, UserStoredWhisperSubjects(sid)) {
			t.Errorf("%s's stored subjects miss %s", sid, stored)
		}
	}
	if matchesAny(subject, UserWhisperFilters(c)) {
		t.Errorf("c's filters match %s", subject)
	}
	// What is not two session ids, an old name-keyed subject among them,
	// is no whisper's.
	for _, rest := range []string{"", ".", a, a + ".", "." + b, Token("alice") + "." + Token("bob"), a + "." + b + ".x"} {
		if _, _, ok := WhisperParties(rest); ok {
			t.Errorf("WhisperParties(%q) ok", rest)
		}
	}
}

// matchesAny reports whether subject matches one of the filters, with
// NATS's "*" for one token.
func matchesAny(subject string, filters []string) bool {
	for _, f := range filters {
		ft, st := strings.Split(f, "."), strings.Split(subject, ".")
		if len(ft) != len(st) {
			continue
		}
		match := true
		for i := range ft {
			if ft[i] != "*" && ft[i] != st[i] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestIdentityToken: one token per identity, told apart from random ones;
// issuer and subject cannot be shifted into each other.
func TestIdentityToken(t *testing.T) {
	a := IdentityToken("https://id.example", "u1", "alice")
	if a != IdentityToken("https://id.example", "u1", "alice") || !IsIdentityToken(a) {
		t.Fatalf("IdentityToken = %q", a)
	}
	for _, other := range []string{
		IdentityToken("https://id.example", "u2", "alice"),
		IdentityToken("https://id.example/", "u1", "alice"),
		IdentityToken("https://id.exampleu", "1", "alice"),
		IdentityToken("https://id.example", "u1a", "lice"),
		IdentityToken("https://id.example", "u1", "bob"),
		IdentityToken("", "u1", "alice"),
	} {
		if other == a {
			t.Errorf("%q for two identities", a)
		}
	}
	for range 100 {
		if IsIdentityToken(NewToken()) {
			t.Fatal("a random token looks like an identity token")
		}
	}
}
