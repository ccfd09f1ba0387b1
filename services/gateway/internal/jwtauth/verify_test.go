package jwtauth

import (
	"context"
	"crypto"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/natter/natter/kit/jwttest"
	"github.com/natter/natter/proto"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	now    = time.Unix(1_800_000_000, 0)
)

func tokenClaims(extra jwttest.Claims) jwttest.Claims {
	c := jwttest.Claims{
		"sub": "u-1", "name": "Alice", "role": "moderator", "iss": "https://id.example",
		"aud": "natter", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func verifier(tb testing.TB, cfg Config) *Verifier {
	tb.Helper()
	cfg.Audience, cfg.Issuer = "natter", "https://id.example"
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return now }
	}
	v, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	var pe *proto.Error
	switch {
	case code == "" && err != nil:
		tb.Fatalf("refused: %v", err)
	case code == "":
	case !errors.As(err, &pe):
		tb.Fatalf("got %v, want a *proto.Error %s", err, code)
	case pe.Code != code:
		tb.Fatalf("got %v, want %s", err, code)
	}
}

// TestVerifyHS256: the claims are checked, each failure with its code.
func TestVerifyHS256(t *testing.T) {
	v := verifier(t, Config{HS256Secret: secret})
	rsaKey := jwttest.RSAKey(t)
	hs := func(c jwttest.Claims) string { return jwttest.Sign(t, HS256, "", secret, c) }
	tests := []struct {
		name, token, code string
	}{
		{"valid", hs(tokenClaims(nil)), ""},
		{"audience in a list", hs(tokenClaims(jwttest.Claims{"aud": []string{"other", "natter"}})), ""},
		{"no exp, no nbf", hs(tokenClaims(jwttest.Claims{"exp": nil, "nbf": nil})), ""},
		{"expired within the leeway", hs(tokenClaims(jwttest.Claims{"exp": now.Add(-10 * time.Second).Unix()})), ""},
		{"expired", hs(tokenClaims(jwttest.Claims{"exp": now.Add(-time.Minute).Unix()})), proto.CodeTokenExpired},
		{"not yet valid", hs(tokenClaims(jwttest.Claims{"nbf": now.Add(time.Minute).Unix()})), proto.CodeTokenNotYetValid},
		{"nbf within the leeway", hs(tokenClaims(jwttest.Claims{"nbf": now.Add(10 * time.Second).Unix()})), ""},
		{"wrong audience", hs(tokenClaims(jwttest.Claims{"aud": "another"})), proto.CodeTokenAudience},
		{"no audience", hs(tokenClaims(jwttest.Claims{"aud": nil})), proto.CodeTokenAudience},
		{"audience of the wrong type", hs(tokenClaims(jwttest.Claims{"aud": 7})), proto.CodeTokenMalformed},
		{"wrong issuer", hs(tokenClaims(jwttest.Claims{"iss": "https://evil.example"})), proto.CodeTokenIssuer},
		{"no subject", hs(tokenClaims(jwttest.Claims{"sub": nil})), proto.CodeTokenSubject},
		{"subject too long", hs(tokenClaims(jwttest.Claims{"sub": strings.Repeat("x", 257)})), proto.CodeTokenSubject},
		{"exp not a number", hs(tokenClaims(jwttest.Claims{"exp": "soon"})), proto.CodeTokenMalformed},
		{"forged signature", jwttest.Sign(t, HS256, "", []byte("another secret, also 32 bytes ok"), tokenClaims(nil)), proto.CodeTokenSignature},
		{"alg none", jwttest.Sign(t, "none", "", nil, tokenClaims(nil)), proto.CodeTokenAlgorithm},
		{"alg none, signed anyway", withHeader(hs(tokenClaims(nil)), jwttest.Sign(t, "none", "", nil, tokenClaims(nil))), proto.CodeTokenAlgorithm},
		{"RS256 header", jwttest.Sign(t, RS256, "", rsaKey, tokenClaims(nil)), proto.CodeTokenAlgorithm},
		{"lower-case alg", jwttest.Sign(t, "hs256", "", secret, tokenClaims(nil)), proto.CodeTokenAlgorithm},
		{"two parts", "a.b", proto.CodeTokenMalformed},
		{"not base64", "!!.??.**", proto.CodeTokenMalformed},
		{"empty", "", proto.CodeTokenMalformed},
		{"too long", strings.Repeat("a", MaxTokenBytes+1), proto.CodeTokenMalformed},
		{"signature tampered", hs(tokenClaims(nil))[:len(hs(tokenClaims(nil)))-2] + "AA", proto.CodeTokenSignature},
		{"signature spelled with unused bits set", respell(hs(tokenClaims(nil))), proto.CodeTokenMalformed},
		{"claims swapped", swapClaims(hs(tokenClaims(nil)), hs(tokenClaims(jwttest.Claims{"sub": "admin"}))), proto.CodeTokenSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.token)
			wantCode(t, err, tc.code)
			if tc.code == "" && (c.Subject != "u-1" || c.Name != "Alice") {
				t.Errorf("claims %+v", c)
			}
		})
	}
	c, err := v.Verify(context.Background(), hs(tokenClaims(nil)))
	if err != nil || c.Role != "moderator" || c.Issuer != "https://id.example" || !c.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("claims %+v, %v", c, err)
	}
}

// withHeader puts b's header on a's claims and signature.
func withHeader(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pb[0] + "." + pa[1] + "." + pa[2]
}

// respell sets an unused bit of the last base64url character of a
// token whose signature leaves bits unused (HS256 and ES256 do): the same
// bytes, spelled otherwise.
func respell(token string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, token[len(token)-1])
	return token[:len(token)-1] + string(alphabet[i^1])
}

// swapClaims puts b's claims under a's header and signature.
func swapClaims(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pa[0] + "." + pb[1] + "." + pa[2]
}

// TestVerifyPublicKeys: RS256 and ES256 keys verify their own algorithm
// only; an HS256 token made with the public key as its secret (the
// classic confusion) is refused.
func TestVerifyPublicKeys(t *testing.T) {
	rsaKey, ecKey := jwttest.RSAKey(t), jwttest.ECKey(t)
	otherRSA, otherEC := jwttest.RSAKey(t), jwttest.ECKey(t)
	for _, tc := range []struct {
		alg          string
		key, other   crypto.Signer
		wrongAlg     string
		wrongAlgSign crypto.Signer
	}{
		{RS256, rsaKey, otherRSA, ES256, ecKey},
		{ES256, ecKey, otherEC, RS256, rsaKey},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			pemKey := jwttest.PublicPEM(t, tc.key)
			v := verifier(t, Config{PublicKeyPEM: pemKey})
			for _, c := range []struct {
				name, token, code string
			}{
				{"valid", jwttest.Sign(t, tc.alg, "", tc.key, tokenClaims(nil)), ""},
				{"another key", jwttest.Sign(t, tc.alg, "", tc.other, tokenClaims(nil)), proto.CodeTokenSignature},
				{"HS256 with the public key as secret", jwttest.Sign(t, HS256, "", pemKey, tokenClaims(nil)), proto.CodeTokenAlgorithm},
				{"the other algorithm", jwttest.Sign(t, tc.wrongAlg, "", tc.wrongAlgSign, tokenClaims(nil)), proto.CodeTokenAlgorithm},
				{"alg none", jwttest.Sign(t, "none", "", nil, tokenClaims(nil)), proto.CodeTokenAlgorithm},
				{"expired", jwttest.Sign(t, tc.alg, "", tc.key, tokenClaims(jwttest.Claims{"exp": now.Add(-time.Hour).Unix()})), proto.CodeTokenExpired},
			} {
				t.Run(c.name, func(t *testing.T) {
					_, err := v.Verify(context.Background(), c.token)
					wantCode(t, err, c.code)
				})
			}
		})
	}
}

// TestNewRefuses: a configuration with no key, two keys, a short secret
// or a weak key is an error, not a verifier that lets tokens by.
func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no key", Config{}},
		{"two keys", Config{HS256Secret: secret, JWKSURL: "https://id.example/jwks"}},
		{"short secret", Config{HS256Secret: []byte("short")}},
		{"not PEM", Config{PublicKeyPEM: []byte("hello")}},
		{"a private key", Config{PublicKeyPEM: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}},
		{"JWKS URL not http", Config{JWKSURL: "file:///etc/passwd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}

// keyServer serves a key set that the test may change, counting fetches.
type keyServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int32
}

func serveKeys(tb testing.TB, body []byte) *keyServer {
	ks := &keyServer{body: body}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.fetches.Add(1)
		ks.mu.Lock()
		b := ks.body
		ks.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	tb.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) set(body []byte) {
	ks.mu.Lock()
	ks.body = body
	ks.mu.Unlock()
}

// TestJWKSRotation: the set is fetched once and kept; a token with a kid
// it lacks fetches it again, so a rotated key is found; a kid that is not
// in the new set either is token_unknown_key, and does not fetch again
// before MinRefresh.
func TestJWKSRotation(t *testing.T) {
	k1, k2 := jwttest.RSAKey(t), jwttest.ECKey(t)
	ks := serveKeys(t, jwttest.JWKS(t, map[string]crypto.Signer{"k1": k1}))
	var clock atomic.Int64 // seconds after now
	v := verifier(t, Config{JWKSURL: ks.URL, JWKS: JWKSConfig{MinRefresh: time.Minute},
		Now: func() time.Time { return now.Add(time.Duration(clock.Load()) * time.Second) }})
	ctx := context.Background()

	for range 3 {
		_, err := v.Verify(ctx, jwttest.Sign(t, RS256, "k1", k1, tokenClaims(nil)))
		wantCode(t, err, "")
	}
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for three tokens of one key", n)
	}
	// A kid-less token: the set's only key.
	_, err := v.Verify(ctx, jwttest.Sign(t, RS256, "", k1, tokenClaims(nil)))
	wantCode(t, err, "")

	ks.set(jwttest.JWKS(t, map[string]crypto.Signer{"k1": k1, "k2": k2}))
	rotated := jwttest.Sign(t, ES256, "k2", k2, tokenClaims(nil))
	// Within MinRefresh of the last fetch, the new kid waits.
	_, err = v.Verify(ctx, rotated)
	wantCode(t, err, proto.CodeTokenUnknownKey)
	clock.Store(61)
	_, err = v.Verify(ctx, rotated)
	wantCode(t, err, "")
	if n := ks.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the rotation, want 2", n)
	}
	// k2's kid with k1's algorithm, and a kid that no set has.
	_, err = v.Verify(ctx, jwttest.Sign(t, RS256, "k2", k1, tokenClaims(nil)))
	wantCode(t, err, proto.CodeTokenAlgorithm)
	for range 3 {
		_, err = v.Verify(ctx, jwttest.Sign(t, RS256, "forged", k1, tokenClaims(nil)))
		wantCode(t, err, proto.CodeTokenUnknownKey)
	}
	// A kid-less token when the set has two keys.
	_, err = v.Verify(ctx, jwttest.Sign(t, RS256, "", k1, tokenClaims(nil)))
	wantCode(t, err, proto.CodeTokenUnknownKey)
	if n := ks.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches: unknown kids fetched again before MinRefresh", n)
	}
	// After MaxAge the set is fetched again, for a known kid too.
	clock.Store(61 + 3601)
	_, err = v.Verify(ctx, jwttest.Sign(t, ES256, "k2", k2, tokenClaims(jwttest.Claims{"exp": now.Add(3 * time.Hour).Unix()})))
	wantCode(t, err, "")
	if n := ks.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches after MaxAge, want 3", n)
	}
}

// TestJWKSFailures: a key server that is down, slow, too big or broken
// makes tokens auth_unavailable (never accepted), within the timeout.
func TestJWKSFailures(t *testing.T) {
	k := jwttest.RSAKey(t)
	token := jwttest.Sign(t, RS256, "k", k, tokenClaims(nil))
	good := jwttest.JWKS(t, map[string]crypto.Signer{"k": k})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"HTTP 500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) }},
		{"too big", func(w http.ResponseWriter, r *http.Request) {
			w.Write(good[:len(good)-2])
			w.Write([]byte(strings.Repeat(" ", 2048) + "]}"))
		}},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }},
		{"a broken key", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"keys":[{"kty":"RSA","kid":"k","n":"!!","e":"AQAB"}]}`))
		}},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			v := verifier(t, Config{JWKSURL: srv.URL, JWKS: JWKSConfig{MaxBytes: 1024, Timeout: 200 * time.Millisecond}})
			_, err := v.Verify(context.Background(), token)
			wantCode(t, err, proto.CodeAuthUnavailable)
		})
	}
}
