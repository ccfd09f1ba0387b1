package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
)

const cryptoSHA256 = crypto.SHA256

// minRSABits is the smallest RSA key accepted.
const minRSABits = 2048

// parsePEM reads a public key, or a certificate's, in PEM: RSA (RS256)
// or ECDSA P-256 (ES256).
func parsePEM(data []byte) (key, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return key{}, errors.New("jwtauth: the public key file holds no PEM block")
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return key{}, fmt.Errorf("jwtauth: a PEM %q block is not a public key", block.Type)
	}
	if err != nil {
		return key{}, fmt.Errorf("jwtauth: public key: %w", err)
	}
	return keyOf(pub)
}

// keyOf returns pub as a key, with its algorithm.
func keyOf(pub any) (key, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < minRSABits {
			return key{}, fmt.Errorf("jwtauth: an RSA key of %d bits; at least %d", p.N.BitLen(), minRSABits)
		}
		return key{alg: RS256, pub: p}, nil
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return key{}, fmt.Errorf("jwtauth: an ECDSA key on %s; ES256 needs P-256", p.Curve.Params().Name)
		}
		return key{alg: ES256, pub: p}, nil
	}
	return key{}, fmt.Errorf("jwtauth: a %T key; RSA or ECDSA P-256", pub)
}

// jwk is a JSON Web Key (RFC 7517) of the kinds used here.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parse returns the JWK as a verification key; ok is false for a key
// this package does not use (another kty, an encryption key), which a
// set may well hold.
func (j jwk) parse() (k key, ok bool, err error) {
	if j.Use != "" && j.Use != "sig" {
		return key{}, false, nil
	}
	switch j.Kty {
	case "RSA":
		n, err1 := decodeInt(j.N)
		e, err2 := decodeInt(j.E)
		if err := errors.Join(err1, err2); err != nil {
			return key{}, false, fmt.Errorf("RSA key %q: %w", j.Kid, err)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return key{}, false, fmt.Errorf("RSA key %q: exponent out of range", j.Kid)
		}
		k, err = keyOf(&rsa.PublicKey{N: n, E: int(e.Int64())})
	case "EC":
		if j.Crv != "P-256" {
			return key{}, false, nil
		}
		x, err1 := decodeInt(j.X)
		y, err2 := decodeInt(j.Y)
		if err := errors.Join(err1, err2); err != nil {
			return key{}, false, fmt.Errorf("EC key %q: %w", j.Kid, err)
		}
		// Through ECDH's parser, which checks that the point is on the curve.
		raw := make([]byte, 65)
		raw[0] = 4
		if len(x.Bytes()) > 32 || len(y.Bytes()) > 32 {
			return key{}, false, fmt.Errorf("EC key %q: a coordinate over 32 bytes", j.Kid)
		}
		x.FillBytes(raw[1:33])
		y.FillBytes(raw[33:])
		pub, perr := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if perr != nil {
			return key{}, false, fmt.Errorf("EC key %q: %w", j.Kid, perr)
		}
		k, err = keyOf(pub)
	default:
		return key{}, false, nil
	}
	if err != nil {
		return key{}, false, err
	}
	if j.Alg != "" && j.Alg != k.alg {
		return key{}, false, fmt.Errorf("key %q: alg %q for a %s key", j.Kid, j.Alg, k.alg)
	}
	return k, true, nil
}

func decodeInt(s string) (*big.Int, error) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("not a base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}
