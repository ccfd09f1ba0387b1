package gateway

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

// TestUpstreamNoAnswer: a request nobody answers is noAnswer (a join is
// asked again, a recovery is an error); a reply with an error is not,
// even when its code is unavailable (a join is refused as presence says).
func TestUpstreamNoAnswer(t *testing.T) {
	nc := natstest.Connect(t, natstest.Run(t).ClientURL())
	up := newUpstream(nc, 200*time.Millisecond, slog.New(slog.DiscardHandler))

	_, err := up.join(proto.PresenceJoin{})
	if !noAnswer(err) || !errors.Is(err, proto.ErrUnavailable) {
		t.Fatalf("unanswered join: err %v, want no answer", err)
	}

	sub, err := nc.Subscribe(proto.PresenceJoinSubject, func(m *nats.Msg) {
		rpc.Respond(m, proto.PresenceJoinReply{Error: proto.ErrUnavailable})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_, err = up.join(proto.PresenceJoin{})
	if err == nil || noAnswer(err) || !errors.Is(err, proto.ErrUnavailable) {
		t.Fatalf("refused join: err %v, want the reply's error, answered", err)
	}
	if noAnswer(nil) {
		t.Fatal("noAnswer(nil)")
	}
}
