package proto

import (
	"crypto/rand"
	"encoding/base64"
)

// ReplyError returns the error a reply carries, nil when it succeeded:
// what package rpc's Call returns for it.
func (r PresenceJoinReply) ReplyError() *Error    { return r.Error }
func (r PresenceLookupReply) ReplyError() *Error  { return r.Error }
func (r PresenceMembersReply) ReplyError() *Error { return r.Error }
func (r PresenceRoomsReply) ReplyError() *Error   { return r.Error }
func (r HistoryReply) ReplyError() *Error         { return r.Error }
func (r WhispersReply) ReplyError() *Error        { return r.Error }
func (r ErrorAck) ReplyError() *Error             { return r.Error }
func (r HistoryEditReply) ReplyError() *Error     { return r.Error }
func (r PresenceRenameReply) ReplyError() *Error  { return r.Error }

// tokenBytes is how much randomness a token holds: 192 bits, 32
// base64url characters.
const tokenBytes = 24

// NewToken returns a new random secret, base64url: a session's token, a
// connection's private id.
func NewToken() string {
	var b [tokenBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24 and later)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NonNil returns s, or an empty slice when s is nil: JSON's [] rather
// than null, for lists a client reads.
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
