package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/jwtauth"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// AuthConfig turns authentication on with one key: HS256Secret,
// PublicKeyFile (or PublicKeyPEM) or JWKSURL. Then a client presents a
// JWT in its CONNECT (io(url, {auth: {token}})), checked before the
// CONNECT is answered; its sub is the user's identity, its name claim
// (else sub) the user's name, its role claim their role. Without a token
// the CONNECT is refused, unless Anonymous. The zero value: off.
type AuthConfig struct {
	HS256Secret   Secret
	PublicKeyFile string
	PublicKeyPEM  []byte // the key itself, in place of PublicKeyFile
	JWKSURL       string
	// Audience, when set, must be in a token's aud; Issuer, when set,
	// must be its iss.
	Audience string
	Issuer   string
	// Anonymous lets clients without a token connect too, as anonymous
	// users are when authentication is off.
	Anonymous bool
	// Leeway is the clocks' skew allowed for exp and nbf; 30s. A
	// connection ends at its token's exp, plus the leeway.
	Leeway time.Duration
	// JWKSMinRefresh is the least time between two fetches of the key
	// set for a token whose kid it lacks; 10s.
	JWKSMinRefresh time.Duration
}

func (a AuthConfig) enabled() bool {
	return len(a.HS256Secret) > 0 || a.PublicKeyFile != "" || len(a.PublicKeyPEM) > 0 || a.JWKSURL != ""
}

// Secret is a secret's bytes; it prints as "(secret)", never as itself.
type Secret []byte

func (Secret) String() string                 { return "(secret)" }
func (Secret) GoString() string               { return "(secret)" }
func (Secret) LogValue() slog.Value           { return slog.StringValue("(secret)") }
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// readSecret reads a secret from a file, without its trailing newline.
func readSecret(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	secret := strings.TrimRight(string(b), "\r\n")
	if secret == "" {
		// Not authentication off: a secret that went missing.
		return nil, fmt.Errorf("read secret: %s is empty", path)
	}
	return Secret(secret), nil
}

// identity is an authenticated connection's user, from its token.
type identity struct {
	subject string
	name    string // normalized: the name the user joins with
	id      string // proto.IdentityID(subject): what moderation holds on
	// role is the user's role: the token's claim, or one granted through
	// the server API (moderation.go; read it with cn.role()).
	role  sessionRole
	token string // the session's token (proto.IdentityToken)
	// ends is when the connection ends: the token's exp, plus the
	// leeway; zero for a token without exp.
	ends time.Time
}

// authenticator checks the token of each CONNECT: a socketio.Middleware.
type authenticator struct {
	v         *jwtauth.Verifier
	anonymous bool
	leeway    time.Duration
	timeout   time.Duration // for a verification that fetches keys
	proxies   trustedProxies
	checked   *prometheus.CounterVec // CONNECTs, by result
	expired   prometheus.Counter     // connections ended by their token's expiry
}

// newAuthenticator returns the authenticator of cfg, or nil when
// authentication is off.
func newAuthenticator(cfg AuthConfig, timeout time.Duration, proxies trustedProxies, reg prometheus.Registerer) (*authenticator, error) {
	if !cfg.enabled() {
		if cfg.Audience != "" || cfg.Issuer != "" || cfg.Anonymous {
			// Meant on, but for its key: refuse to start rather than let
			// everyone in.
			return nil, errors.New("auth: an audience, issuer or anonymous switch without a key (NATTER_AUTH_HS256_SECRET, _FILE, NATTER_AUTH_PUBLIC_KEY_FILE or NATTER_AUTH_JWKS_URL)")
		}
		return nil, nil
	}
	pemKey := cfg.PublicKeyPEM
	if cfg.PublicKeyFile != "" {
		var err error
		if pemKey, err = os.ReadFile(cfg.PublicKeyFile); err != nil {
			return nil, fmt.Errorf("auth: public key: %w", err)
		}
	}
	leeway := cfg.Leeway
	if leeway <= 0 {
		leeway = jwtauth.DefaultLeeway
	}
	v, err := jwtauth.New(jwtauth.Config{
		HS256Secret:  cfg.HS256Secret,
		PublicKeyPEM: pemKey,
		JWKSURL:      cfg.JWKSURL,
		JWKS:         jwtauth.JWKSConfig{Timeout: timeout, MinRefresh: cfg.JWKSMinRefresh},
		Audience:     cfg.Audience,
		Issuer:       cfg.Issuer,
		Leeway:       leeway,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	a := &authenticator{
		v: v, anonymous: cfg.Anonymous, leeway: leeway, timeout: timeout, proxies: proxies,
		checked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "natter_gateway_auth_connects_total",
			Help: "CONNECTs checked for a token, by result: ok, anonymous, or the error code of the refusal.",
		}, []string{"result"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "natter_gateway_auth_expiries_total",
			Help: "Connections the server ended because their token expired.",
		}),
	}
	if reg != nil {
		reg.MustRegister(a.checked, a.expired)
	}
	return a, nil
}

// check is the middleware: it refuses a CONNECT whose token fails, with
// the failure's code as the connect_error's message and the *proto.Error
// as its data, and gives a connection whose token holds its identity.
func (a *authenticator) check(s *socketio.Socket) error {
	result, err := a.identify(s)
	a.checked.WithLabelValues(result).Inc()
	return err
}

// identify does check's work; result is "ok", "anonymous" or the code of
// the refusal.
func (a *authenticator) identify(s *socketio.Socket) (result string, err error) {
	var payload struct {
		Token json.RawMessage `json:"token"`
	}
	json.Unmarshal(s.Auth(), &payload)
	var token string
	if len(payload.Token) > 0 && string(payload.Token) != "null" {
		if json.Unmarshal(payload.Token, &token) != nil {
			return refuse(proto.Errorf(proto.CodeTokenMalformed, "auth.token must be a string"))
		}
	}
	if token == "" {
		if a.anonymous {
			return "anonymous", nil
		}
		return refuse(proto.Errorf(proto.CodeTokenMissing, "this server needs a token: io(url, {auth: {token}})"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	c, err := a.v.Verify(ctx, token)
	if err != nil {
		return refuse(proto.AsError(err))
	}
	name := c.Name
	if name == "" {
		name = c.Subject
	}
	name, err = proto.NormalizeName(name)
	if err != nil {
		pe := proto.AsError(err)
		return refuse(proto.Errorf(pe.Code, "the token's name: %s", pe.Message))
	}
	id := &identity{
		subject: c.Subject,
		name:    name,
		id:      proto.IdentityID(c.Subject),
		role:    sessionRole{claim: c.Role},
		token:   proto.IdentityToken(c.Issuer, c.Subject, proto.NameKey(name)),
	}
	if !c.Expires.IsZero() {
		id.ends = c.Expires.Add(a.leeway)
	}
	cn := newConn(s, a.proxies)
	cn.ident, cn.expired = id, a.expired
	s.SetData(cn)
	return "ok", nil
}

// refuse returns a refusal of the CONNECT for e, and e's code.
func refuse(e *proto.Error) (string, error) {
	return e.Code, &socketio.Refusal{Message: e.Code, Data: e}
}

// sessionToken is the session token a connection joins or recovers
// with: its identity's when it has one. An anonymous connection may not
// present an identity token (anyone can make one).
func (cn *conn) sessionToken(asked string) (string, error) {
	if cn != nil && cn.ident != nil {
		return cn.ident.token, nil
	}
	if proto.IsIdentityToken(asked) {
		return "", proto.Errorf(proto.CodeBadRequest, "that token is an authenticated user's")
	}
	return asked, nil
}

// watchExpiry ends the connection when its token does: the client is told
// why (proto.EventDisconnectReason, token_expired), then disconnected by
// the server; it may connect again with a fresh token (the auth
// callback), and is recovered if it had joined.
func (cn *conn) watchExpiry(s *socketio.Socket) {
	if cn.ident == nil || cn.ident.ends.IsZero() {
		return
	}
	t := time.AfterFunc(time.Until(cn.ident.ends), func() {
		if cn.expired != nil {
			cn.expired.Inc()
		}
		s.Emit(proto.EventDisconnectReason, proto.Errorf(proto.CodeTokenExpired, "your token has expired; connect again with a fresh one"))
		s.Disconnect()
	})
	cn.expiry.Store(t)
	if !s.Connected() {
		cn.stopExpiry() // gone meanwhile: its disconnect found no timer
	}
}

// stopExpiry stops watchExpiry's timer: the connection has gone.
func (cn *conn) stopExpiry() {
	if t := cn.expiry.Swap(nil); t != nil {
		t.Stop()
	}
}
