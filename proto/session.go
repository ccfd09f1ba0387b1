package proto

import (
	"crypto/sha256"
	"encoding/base64"
	"regexp"
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
