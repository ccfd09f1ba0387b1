package proto

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
)

// A session's id is what whispers and whisper history belong to: the
// session, never its name, so that whoever holds a name after the session
// ends (a freed name is anyone's) finds nothing of the old holder's there.
// It is derived from the secret token, one way: it names the session in
// NATS subjects and between the services, and gives nothing away of the
// token. It is an internal routing key, never sent to a client: whispers
// name their users by display name (Whisper.From and To).

// sessionIDDomain separates this hash of the token from any other that
// may be made of it.
const sessionIDDomain = "natter session id\x00"

// sessionIDBytes is how much of the hash the id keeps: 144 bits, 24
// base64url characters.
const sessionIDBytes = 18

// SessionID returns the id of the session whose token is token.
func SessionID(token string) string {
	h := sha256.Sum256([]byte(sessionIDDomain + token))
	return base64.RawURLEncoding.EncodeToString(h[:sessionIDBytes])
}

var sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{24}$`)

// ValidSessionID reports whether id has the form of a SessionID: safe in
// a subject as it is (no ".", "*", ">" or white space).
func ValidSessionID(id string) bool { return sessionIDPattern.MatchString(id) }

// An authenticated user's session token is made of their identity (the
// issuer and subject of their JWT) and their name's key by the gateway
// that verified it, so that every connection of the identity under that
// name, on any gateway, is one session and holds the name. (A new name
// in a later JWT is a new session.) It is never secret (anyone may compute it): the
// gateways never take one from a client (IsIdentityToken), only from a
// token they verified; presence opens the session under it rather than
// under a new random token.

// identityTokenPrefix starts every identity token; random tokens
// (NewToken) are base64url, which has no ".".
const identityTokenPrefix = "id."

const identityDomain = "natter identity\x00"

// IdentityToken returns the session token of the identity sub of issuer
// iss under the name whose key is key (NameKey).
func IdentityToken(iss, sub, key string) string {
	// Each part with its length: no part can shift into the next.
	h := sha256.Sum256(fmt.Appendf(nil, "%s%d:%s%d:%s%d:%s", identityDomain, len(iss), iss, len(sub), sub, len(key), key))
	return identityTokenPrefix + base64.RawURLEncoding.EncodeToString(h[:])
}

// IsIdentityToken reports whether token has the form of an IdentityToken.
func IsIdentityToken(token string) bool { return strings.HasPrefix(token, identityTokenPrefix) }
