// Package rpc is the one way natter's services ask each other something
// over NATS: a JSON request on a subject of proto, answered by a JSON
// reply whose error, if any, is a *proto.Error. Call is the asking side,
// Respond the answering one.
package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// Reply is a reply that may carry the error it answers with. Every
// *Reply type of proto implements it.
type Reply interface {
	ReplyError() *proto.Error
}

// Call sends req on subject and decodes the reply into resp, which must
// be a pointer. A request that cannot be sent, is not answered before ctx
// ends, or is answered with something that does not decode, is
// proto.ErrUnavailable, wrapped with what failed (errors.Is tells it). A
// reply that carries an error (resp implements Reply) returns that error.
// A ctx with a deadline sends the time left in proto.HeaderBudget.
func Call(ctx context.Context, nc *nats.Conn, subject string, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s request: %w", subject, err)
	}
	msg := &nats.Msg{Subject: subject, Data: b}
	if d, ok := ctx.Deadline(); ok {
		msg.Header = nats.Header{proto.HeaderBudget: {strconv.FormatInt(time.Until(d).Milliseconds(), 10)}}
	}
	m, err := nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return unavailable(subject, err)
	}
	if err := json.Unmarshal(m.Data, resp); err != nil {
		return unavailable(subject, err)
	}
	if r, ok := resp.(Reply); ok {
		if e := r.ReplyError(); e != nil {
			return e
		}
	}
	return nil
}

// Respond sends reply, as JSON, to the requester of m; a message that
// asks for no reply gets none. It fails only when reply cannot be
// encoded or the connection cannot send.
func Respond(m *nats.Msg, reply any) error {
	if m.Reply == "" {
		return nil
	}
	b, err := json.Marshal(reply)
	if err != nil {
		return fmt.Errorf("encode reply on %s: %w", m.Subject, err)
	}
	return m.Respond(b)
}

// GivenUp reports whether the asker of m, which arrived at arrived, has
// stopped waiting for its answer by now: its proto.HeaderBudget has
// passed since. A request without one (or with one that does not parse)
// is always worth answering.
func GivenUp(m *nats.Msg, arrived, now time.Time) bool {
	ms, err := strconv.ParseInt(m.Header.Get(proto.HeaderBudget), 10, 64)
	if err != nil {
		return false
	}
	return now.Sub(arrived) >= time.Duration(ms)*time.Millisecond
}

// unavailable is proto.ErrUnavailable for a client, with the cause for a
// log: errors.Is(err, proto.ErrUnavailable) holds, and proto.AsError
// gives the client only the code and message of ErrUnavailable.
func unavailable(subject string, cause error) error {
	return &callError{subject: subject, cause: cause}
}

type callError struct {
	subject string
	cause   error
}

func (e *callError) Error() string {
	return fmt.Sprintf("%s: %v: %v", e.subject, proto.ErrUnavailable, e.cause)
}

func (e *callError) Unwrap() []error { return []error{proto.ErrUnavailable, e.cause} }
