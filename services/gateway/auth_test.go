package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/natter/natter/kit/jwttest"
	"github.com/natter/natter/proto"
)

// TestSecretNeverPrints: a configuration printed or logged in any way
// shows no secret.
func TestSecretNeverPrints(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-hush"
	cfg := Config{Auth: AuthConfig{HS256Secret: Secret(secret)}}
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	log.Info("config", "cfg", cfg, "auth", cfg.Auth, "secret", cfg.Auth.HS256Secret)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg, "secret", cfg.Auth.HS256Secret)
	for _, out := range []string{
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%s", cfg.Auth.HS256Secret),
		fmt.Sprint(cfg.Auth), fmt.Sprint(cfg.Auth.HS256Secret), logged.String(),
	} {
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
			t.Errorf("the secret shows: %s", out)
		}
	}
}

// TestNewAuthenticator: off without any setting; a key file is read;
// settings that cannot verify anything (no key, a bad one) are an error,
// never authentication off.
func TestNewAuthenticator(t *testing.T) {
	if a, err := newAuthenticator(AuthConfig{}, time.Second, nil, nil); a != nil || err != nil {
		t.Errorf("no key: %v, %v; want off", a, err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, jwttest.PublicPEM(t, jwttest.ECKey(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	if a, err := newAuthenticator(AuthConfig{PublicKeyFile: keyFile}, time.Second, nil, nil); a == nil || err != nil {
		t.Errorf("ES256 key file: %v, %v", a, err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := readSecret(empty); err == nil {
		t.Error("an empty secret file read as a secret")
	}
	for name, cfg := range map[string]AuthConfig{
		"missing key file":  {PublicKeyFile: filepath.Join(dir, "none.pem")},
		"audience, no key":  {Audience: "natter"},
		"issuer, no key":    {Issuer: "https://id.example"},
		"anonymous, no key": {Anonymous: true},
		"short secret":      {HS256Secret: Secret("short")},
		"two keys":          {HS256Secret: Secret(strings.Repeat("s", 32)), JWKSURL: "https://id.example/jwks"},
	} {
		if _, err := newAuthenticator(cfg, time.Second, nil, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestSessionToken: an authenticated connection joins with its identity's
// token whatever it asks; an anonymous one with what it asks, but never
// an identity token.
func TestSessionToken(t *testing.T) {
	idTok := proto.IdentityToken("https://id.example", "u-1", proto.NameKey("Alice"))
	authed := &conn{ident: &identity{token: idTok}}
	for _, asked := range []string{"", "random-token", proto.IdentityToken("https://id.example", "u-2", "bob")} {
		if got, err := authed.sessionToken(asked); got != idTok || err != nil {
			t.Errorf("authenticated, asked %q: %q, %v", asked, got, err)
		}
	}
	anon := &conn{}
	if got, err := anon.sessionToken("random-token"); got != "random-token" || err != nil {
		t.Errorf("anonymous: %q, %v", got, err)
	}
	for _, cn := range []*conn{anon, nil} {
		if _, err := cn.sessionToken(idTok); !errors.Is(err, proto.ErrBadRequest) {
			t.Errorf("anonymous with an identity token: %v, want bad_request", err)
		}
	}
}
