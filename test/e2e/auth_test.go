package e2e

import (
	"crypto"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/natter/natter/kit/jwttest"
	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestAuthInProcess runs test/client/auth.test.mjs against two systems:
// one whose gateway requires HS256 tokens (the Node test mints them: a
// valid one joins with its name; forged, expired, wrong audience or
// issuer, alg none, missing… are refused at CONNECT with their codes;
// expiry ends a live connection), and one of two gateways whose keys come
// from a JWKS served here on 127.0.0.1, rotated mid-test, and which lets
// anonymous clients in (none of whom can take an authenticated user's
// name); and a third whose key is an ES256 public key file, which no
// HS256 token made with that public key as its secret passes.
func TestAuthInProcess(t *testing.T) {
	secret := "a test secret of 32 bytes or more, for HS256"
	const leeway = time.Second
	hs := startSystemWith(t, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{}, gateway.Config{
		Auth: gateway.AuthConfig{
			HS256Secret: gateway.Secret(secret), Audience: "natter", Issuer: "https://id.example", Leeway: leeway,
		},
	})

	k1, k2 := jwttest.RSAKey(t), jwttest.ECKey(t)
	before := jwttest.JWKS(t, map[string]crypto.Signer{"k1": k1})
	after := jwttest.JWKS(t, map[string]crypto.Signer{"k1": k1, "k2": k2})
	var rotated atomic.Bool
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			rotated.Store(true)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if rotated.Load() {
			w.Write(after)
		} else {
			w.Write(before)
		}
	}))
	t.Cleanup(keys.Close)
	jwks := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, gateway.Config{
		Auth: gateway.AuthConfig{
			JWKSURL: keys.URL, Audience: "natter", Issuer: "https://id.example", Anonymous: true,
			JWKSMinRefresh: time.Millisecond,
		},
	})

	// A third: an ES256 public key from a PEM file.
	ecKey := jwttest.ECKey(t)
	pemKey := jwttest.PublicPEM(t, ecKey)
	keyFile := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	pem := startSystemWith(t, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{}, gateway.Config{
		Auth: gateway.AuthConfig{PublicKeyFile: keyFile, Audience: "natter", Issuer: "https://id.example"},
	})

	exp := time.Now().Add(10 * time.Minute).Unix()
	claims := func(sub, name string) jwttest.Claims {
		return jwttest.Claims{"sub": sub, "name": name, "iss": "https://id.example", "aud": "natter", "exp": exp}
	}
	tokens, _ := json.Marshal(map[string]string{
		"k1":         jwttest.Sign(t, "RS256", "k1", k1, claims("alice-1", "Alice")),
		"k2":         jwttest.Sign(t, "ES256", "k2", k2, claims("bob-2", "Bob")),
		"k2Alice":    jwttest.Sign(t, "ES256", "k2", k2, claims("another-alice", "alice")),
		"unknownKid": jwttest.Sign(t, "RS256", "k9", k1, claims("alice-1", "Alice")),
		"pem":        jwttest.Sign(t, "ES256", "", ecKey, claims("carol-3", "Carol")),
		"pemOther":   jwttest.Sign(t, "ES256", "", k2, claims("carol-3", "Carol")),
	})
	nodetest.Run(t, "auth.test.mjs", 3*time.Minute,
		"NATTER_URL="+hs.gateways[0].URL, "NATTER_AUTH_SECRET="+secret, "NATTER_LEEWAY_S=1",
		"NATTER_JWKS_URL_1="+jwks.gateways[0].URL, "NATTER_JWKS_URL_2="+jwks.gateways[1].URL,
		"NATTER_JWKS_ROTATE="+keys.URL, "NATTER_JWKS_TOKENS="+string(tokens),
		"NATTER_PEM_URL="+pem.gateways[0].URL, "NATTER_PEM_PUBLIC="+string(pemKey))

	// What the gateways counted: each refusal by its code, over both
	// transports; the two expiries; the anonymous clients let in.
	reg := hs.metrics[0]
	for _, code := range []string{"token_missing", "token_signature", "token_algorithm", "token_expired", "token_audience", "token_issuer"} {
		if n := metricValue(t, reg, "natter_gateway_auth_connects_total", "result", code); n < 2 {
			t.Errorf("auth_connects_total{result=%q} = %v, want 2 or more", code, n)
		}
	}
	if n := metricValue(t, reg, "natter_gateway_auth_expiries_total"); n != 2 {
		t.Errorf("auth_expiries_total = %v, want 2", n)
	}
	if n := metricValue(t, jwks.metrics[0], "natter_gateway_auth_connects_total", "result", "anonymous"); n < 1 {
		t.Errorf("anonymous connects = %v", n)
	}
}
