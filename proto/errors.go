package proto

import (
	"errors"
	"fmt"
)

// Error codes: stable strings that clients may switch on.
const (
	CodeInvalidName    = "invalid_name"
	CodeNameTaken      = "name_taken"
	CodeInvalidRoom    = "invalid_room"
	CodeInvalidMessage = "invalid_message"
	CodeMessageTooLong = "message_too_long"
	CodeNotJoined      = "not_joined"
	CodeNoSuchUser     = "no_such_user"
	CodeRateLimited    = "rate_limited"
	CodeBadRequest     = "bad_request"
	CodeUnavailable    = "unavailable"
	CodeInternal       = "internal"
	// CodeUnknownOutcome: a message or whisper may or may not have been
	// stored (the store did not answer in time); resending it with the same
	// clientId stores it once either way.
	CodeUnknownOutcome = "unknown_outcome"
	// CodeDisconnected is the disconnect reason of a connection that a
	// backend disconnected through the server API.
	CodeDisconnected = "disconnected"
)

// Moderation error codes (see moderation.go).
const (
	CodeForbidden = "forbidden" // the connection's role may not moderate
	CodeMuted     = "muted"     // a muted user's message; Error.Until says until when
	CodeBanned    = "banned"    // a banned user's join; Error.Until says until when
	CodeKicked    = "kicked"    // the disconnect reason of a kicked or banned user
)

// Server API error codes, besides the ones above (bad_request,
// invalid_room, no_such_user…), with their HTTP status.
const (
	CodeUnauthorized     = "unauthorized"       // 401: no API key, or a wrong one
	CodeNotFound         = "not_found"          // 404: no such operation
	CodeMethodNotAllowed = "method_not_allowed" // 405: an operation is a POST
	CodeTooLarge         = "request_too_large"  // 413: a body over MaxAPIBody
)

// Error is a failure that a client is told of: a code and a message for
// people.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Until, on muted and banned, is when the mute or ban ends, in Unix
	// milliseconds; absent for one for good.
	Until int64 `json:"until,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is matches errors with the same code, so errors.Is(err, ErrNameTaken)
// holds for any name_taken error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinels, for errors.Is.
var (
	ErrInvalidName    = &Error{Code: CodeInvalidName, Message: "invalid name"}
	ErrNameTaken      = &Error{Code: CodeNameTaken, Message: "that name is taken"}
	ErrInvalidRoom    = &Error{Code: CodeInvalidRoom, Message: "invalid room"}
	ErrInvalidMessage = &Error{Code: CodeInvalidMessage, Message: "invalid message"}
	ErrMessageTooLong = &Error{Code: CodeMessageTooLong, Message: "message too long"}
	ErrNotJoined      = &Error{Code: CodeNotJoined, Message: "join a room first"}
	ErrNoSuchUser     = &Error{Code: CodeNoSuchUser, Message: "no such user"}
	ErrRateLimited    = &Error{Code: CodeRateLimited, Message: "too many messages; slow down"}
	ErrBadRequest     = &Error{Code: CodeBadRequest, Message: "bad request"}
	ErrUnavailable    = &Error{Code: CodeUnavailable, Message: "service unavailable; try again"}
	ErrUnknownOutcome = &Error{Code: CodeUnknownOutcome, Message: "not known whether it was stored; resend it with the same clientId"}
)

// AsError returns err as an *Error; errors that are not become "internal"
// (their text is not shown to clients).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: "internal error"}
}

// Authentication error codes: the message of a refused CONNECT's
// connect_error (its data is the *Error), or of the disconnect reason
// that ends a connection.
const (
	CodeTokenMissing     = "token_missing"       // no token, and tokens are required
	CodeTokenMalformed   = "token_malformed"     // not a JWS compact JWT with JSON claims
	CodeTokenAlgorithm   = "token_algorithm"     // alg is not the configured key's (none, HS/RS mix-ups)
	CodeTokenUnknownKey  = "token_unknown_key"   // kid names no key of the key set
	CodeTokenSignature   = "token_signature"     // the signature does not verify
	CodeTokenExpired     = "token_expired"       // exp has passed
	CodeTokenNotYetValid = "token_not_yet_valid" // nbf is to come
	CodeTokenAudience    = "token_audience"      // aud does not name this service
	CodeTokenIssuer      = "token_issuer"        // iss is not the configured issuer
	CodeTokenSubject     = "token_subject"       // no sub, or one too long
	CodeAuthUnavailable  = "auth_unavailable"    // the key set could not be fetched; retry
)
