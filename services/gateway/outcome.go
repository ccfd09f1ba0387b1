package gateway

import (
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
)

// publishFailure says what a failed JetStream publish means for the
// message, so that the client's ack says what happened:
// proto.ErrUnavailable when it is known not to be stored, because the
// publish never left (the connection refused it) or the server answered
// without storing it (no stream listens, or JetStream refused it);
// proto.ErrUnknownOutcome otherwise. A publish that timed out, or whose
// connection dropped while waiting, may have been stored, its answer
// late or lost: only a resend with the same clientId can tell.
func publishFailure(err error) *proto.Error {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders),
		errors.As(err, &api),
		// Refused by the connection before anything was written.
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, nats.ErrInvalidConnection), errors.Is(err, nats.ErrHeadersNotSupported):
		return proto.ErrUnavailable
	}
	return proto.ErrUnknownOutcome
}
