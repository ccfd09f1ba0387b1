// Package jwtauth verifies the JSON Web Tokens (RFC 7519) that clients
// present in their Socket.IO CONNECT: JWS compact form, signed HS256 with
// a shared secret, or RS256 or ES256 with a public key (a PEM file, or a
// JWKS fetched from a URL). The key decides the algorithm: a token whose
// alg is not its key's ("none", HS256 for an RSA key…) is refused before
// any signature is checked.
package jwtauth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/natter/natter/proto"
)

// Defaults for the zero values of Config.
const (
	DefaultLeeway = 30 * time.Second
	// MaxTokenBytes bounds a token: a CONNECT payload is small.
	MaxTokenBytes = 8 << 10
	// MaxSubjectBytes bounds sub, which names the user's session.
	MaxSubjectBytes = 256
)

// The algorithms, each of one kind of key.
const (
	HS256 = "HS256"
	RS256 = "RS256"
	ES256 = "ES256"
)

// Config configures a Verifier: exactly one of HS256Secret,
// PublicKeyPEM and JWKSURL. The zero value of the others means their
// default.
type Config struct {
	HS256Secret  []byte // the shared secret, at least 32 bytes
	PublicKeyPEM []byte // an RSA (RS256) or P-256 (ES256) public key, PEM
	JWKSURL      string // a key set, fetched when needed (see JWKS)
	JWKS         JWKSConfig
	// Audience, when set, must be in the token's aud; Issuer, when set,
	// must be its iss.
	Audience string
	Issuer   string
	Leeway   time.Duration    // for exp and nbf, the clocks' skew; 30s
	Now      func() time.Time // time.Now
}

// Claims are what a verified token says of its user.
type Claims struct {
	Issuer  string
	Subject string // the user's identity
	Name    string // the display name (claim "name"); may be ""
	Role    string // claim "role"; may be ""
	// Expires is exp; zero when the token has none.
	Expires time.Time
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cfg  Config
	keys keySource
}

// keySource finds the key a token names (by its header's kid).
type keySource interface {
	key(ctx context.Context, kid string) (key, error)
}

// key is a verification key and the one algorithm it verifies.
type key struct {
	alg string
	pub any // []byte (HS256), *rsa.PublicKey, *ecdsa.PublicKey
}

// New returns a verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if cfg.Leeway <= 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	n := 0
	for _, set := range []bool{len(cfg.HS256Secret) > 0, len(cfg.PublicKeyPEM) > 0, cfg.JWKSURL != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("jwtauth: configure one key: an HS256 secret, a public key or a JWKS URL (%d given)", n)
	}
	v := &Verifier{cfg: cfg}
	switch {
	case len(cfg.HS256Secret) > 0:
		if len(cfg.HS256Secret) < 32 {
			return nil, fmt.Errorf("jwtauth: an HS256 secret needs at least 32 bytes, it has %d", len(cfg.HS256Secret))
		}
		v.keys = fixedKey{alg: HS256, pub: bytes.Clone(cfg.HS256Secret)}
	case len(cfg.PublicKeyPEM) > 0:
		k, err := parsePEM(cfg.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		v.keys = fixedKey(k)
	default:
		set, err := newJWKS(cfg.JWKSURL, cfg.JWKS, cfg.Now)
		if err != nil {
			return nil, err
		}
		v.keys = set
	}
	return v, nil
}

type fixedKey key

func (k fixedKey) key(context.Context, string) (key, error) { return key(k), nil }

// header is a JWS header's fields that matter here.
type header struct {
	Alg  string   `json:"alg"`
	Kid  string   `json:"kid"`
	Crit []string `json:"crit"`
}

// claims are the token's claims as sent.
type claims struct {
	Iss  string          `json:"iss"`
	Sub  string          `json:"sub"`
	Aud  json.RawMessage `json:"aud"` // a string or an array of them
	Exp  *json.Number    `json:"exp"`
	Nbf  *json.Number    `json:"nbf"`
	Name string          `json:"name"`
	Role string          `json:"role"`
}

// Verify checks token and returns its claims, or a *proto.Error whose
// code says what is wrong (proto.CodeToken*, proto.CodeAuthUnavailable).
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if len(token) > MaxTokenBytes {
		return Claims{}, proto.Errorf(proto.CodeTokenMalformed, "the token is over %d bytes", MaxTokenBytes)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, proto.Errorf(proto.CodeTokenMalformed, "a token is three base64url parts, joined by dots")
	}
	var h header
	if err := decodePart(parts[0], &h); err != nil {
		return Claims{}, proto.Errorf(proto.CodeTokenMalformed, "header: %v", err)
	}
	if len(h.Crit) > 0 {
		return Claims{}, proto.Errorf(proto.CodeTokenMalformed, "header: crit %v is not understood", h.Crit)
	}
	k, err := v.keys.key(ctx, h.Kid)
	if err != nil {
		return Claims{}, err
	}
	if h.Alg != k.alg {
		return Claims{}, proto.Errorf(proto.CodeTokenAlgorithm, "alg %q: the key is %s", h.Alg, k.alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return Claims{}, proto.Errorf(proto.CodeTokenMalformed, "signature: not base64url")
	}
	if !verifySignature(k, parts[0]+"."+parts[1], sig) {
		return Claims{}, proto.Errorf(proto.CodeTokenSignature, "the signature does not verify")
	}
	var c claims
	if err := decodePart(parts[1], &c); err != nil {
		return Claims{}, proto.Errorf(proto.CodeTokenMalformed, "claims: %v", err)
	}
	return v.check(c)
}

// check checks the claims of a token whose signature holds.
func (v *Verifier) check(c claims) (Claims, error) {
	now := v.cfg.Now()
	out := Claims{Issuer: c.Iss, Subject: c.Sub, Name: c.Name, Role: c.Role}
	if c.Exp != nil {
		exp, err := numericDate(*c.Exp)
		if err != nil {
			return Claims{}, proto.Errorf(proto.CodeTokenMalformed, "exp: %v", err)
		}
		if !now.Before(exp.Add(v.cfg.Leeway)) {
			return Claims{}, proto.Errorf(proto.CodeTokenExpired, "the token expired at %s", exp.UTC().Format(time.RFC3339))
		}
		out.Expires = exp
	}
	if c.Nbf != nil {
		nbf, err := numericDate(*c.Nbf)
		if err != nil {
			return Claims{}, proto.Errorf(proto.CodeTokenMalformed, "nbf: %v", err)
		}
		if now.Add(v.cfg.Leeway).Before(nbf) {
			return Claims{}, proto.Errorf(proto.CodeTokenNotYetValid, "the token is valid from %s", nbf.UTC().Format(time.RFC3339))
		}
	}
	if v.cfg.Issuer != "" && c.Iss != v.cfg.Issuer {
		return Claims{}, proto.Errorf(proto.CodeTokenIssuer, "the token is not from the issuer this server trusts")
	}
	if v.cfg.Audience != "" {
		aud, err := audiences(c.Aud)
		if err != nil {
			return Claims{}, proto.Errorf(proto.CodeTokenMalformed, "aud: %v", err)
		}
		if !slices.Contains(aud, v.cfg.Audience) {
			return Claims{}, proto.Errorf(proto.CodeTokenAudience, "the token is not for this service")
		}
	}
	if c.Sub == "" || len(c.Sub) > MaxSubjectBytes {
		return Claims{}, proto.Errorf(proto.CodeTokenSubject, "sub must be 1 to %d bytes", MaxSubjectBytes)
	}
	return out, nil
}

func verifySignature(k key, signed string, sig []byte) bool {
	digest := sha256.Sum256([]byte(signed))
	switch pub := k.pub.(type) {
	case []byte:
		mac := hmac.New(sha256.New, pub)
		mac.Write([]byte(signed))
		return hmac.Equal(mac.Sum(nil), sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, cryptoSHA256, digest[:], sig) == nil
	case *ecdsa.PublicKey:
		// JWS ES256: r and s, 32 bytes each, big-endian (not ASN.1).
		if len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(pub, digest[:], r, s)
	}
	return false
}

// decodePart decodes a base64url JSON object.
func decodePart(part string, v any) error {
	raw, err := b64.DecodeString(part)
	if err != nil {
		return fmt.Errorf("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not a JSON object of the expected fields")
	}
	return nil
}

// numericDate reads a NumericDate: seconds since the epoch, maybe with a
// fraction.
func numericDate(n json.Number) (time.Time, error) {
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1<<40 {
		return time.Time{}, fmt.Errorf("not a date")
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

func audiences(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("neither a string nor an array of strings")
	}
	return many, nil
}

// b64 decodes base64url strictly: unused bits set in the last character
// make another spelling of the same bytes, which a token may not have.
var b64 = base64.RawURLEncoding.Strict()
