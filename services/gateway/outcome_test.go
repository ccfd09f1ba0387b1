package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
)

func TestPublishFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"no stream listens", jetstream.ErrNoStreamResponse, proto.CodeUnavailable},
		{"no responders", nats.ErrNoResponders, proto.CodeUnavailable},
		{"JetStream refused it", fmt.Errorf("nats: %w", &jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum messages exceeded"}), proto.CodeUnavailable},
		{"the connection is draining", nats.ErrConnectionDraining, proto.CodeUnavailable},
		{"the reconnect buffer is full", nats.ErrReconnectBufExceeded, proto.CodeUnavailable},
		{"timed out", context.DeadlineExceeded, proto.CodeUnknownOutcome},
		{"NATS timeout", nats.ErrTimeout, proto.CodeUnknownOutcome},
		{"disconnected while waiting", nats.ErrDisconnected, proto.CodeUnknownOutcome},
		{"closed while waiting", nats.ErrConnectionClosed, proto.CodeUnknownOutcome},
		{"an answer not understood", jetstream.ErrInvalidJSAck, proto.CodeUnknownOutcome},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := publishFailure(tc.err).Code; got != tc.want {
				t.Errorf("publishFailure(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}
