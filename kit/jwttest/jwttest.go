// Package jwttest mints JSON Web Tokens and key sets for tests of the
// gateway's authentication: HS256, RS256 and ES256, and forgeries of
// them (alg none, a wrong key, one algorithm's header on another's key).
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
)

// Claims are a token's claims, as sent.
type Claims map[string]any

// Sign returns the compact JWS of claims with header alg (and kid, when
// not ""), signed with key: []byte for HS256, *rsa.PrivateKey for RS256,
// *ecdsa.PrivateKey for ES256, nil for an unsigned token. alg need not be
// key's: that is how tests forge.
func Sign(tb testing.TB, alg, kid string, key any, claims Claims) string {
	tb.Helper()
	h := map[string]string{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	signed := encode(tb, h) + "." + encode(tb, claims)
	digest := sha256.Sum256([]byte(signed))
	var sig []byte
	switch k := key.(type) {
	case nil:
	case []byte:
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(signed))
		sig = mac.Sum(nil)
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:]); err != nil {
			tb.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			tb.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		tb.Fatalf("jwttest: a %T key", key)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func encode(tb testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// RSAKey returns a new 2048-bit RSA key.
func RSAKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// ECKey returns a new P-256 key.
func ECKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// PublicPEM returns the public half of an RSA or ECDSA key as a PEM
// "PUBLIC KEY".
func PublicPEM(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// JWKS returns a key set of the public halves of keys, by kid.
func JWKS(tb testing.TB, keys map[string]crypto.Signer) []byte {
	tb.Helper()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	for kid, k := range keys {
		switch pub := k.Public().(type) {
		case *rsa.PublicKey:
			set.Keys = append(set.Keys, map[string]string{
				"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
				"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
			})
		case *ecdsa.PublicKey:
			x, y := make([]byte, 32), make([]byte, 32)
			raw, err := pub.Bytes()
			if err != nil {
				tb.Fatal(err)
			}
			copy(x, raw[1:33])
			copy(y, raw[33:])
			set.Keys = append(set.Keys, map[string]string{
				"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(x), "y": b64(y),
			})
		default:
			tb.Fatalf("jwttest: a %T key", pub)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
