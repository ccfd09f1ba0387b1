package gateway

import (
	"errors"
	"fmt"
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

// TestAskUntilAnswered: a request nobody answered is asked again, backing
// off, until it is answered (ok or with an error), the tries run out, or
// the gateway closes.
func TestAskUntilAnswered(t *testing.T) {
	unanswered := fmt.Errorf("nobody: %w", proto.ErrUnavailable)
	answers := func(errs ...error) (func() error, *int) {
		calls := 0
		return func() error {
			calls++
			if calls <= len(errs) {
				return errs[calls-1]
			}
			return nil
		}, &calls
	}
	never := make(chan struct{})

	ask, calls := answers(unanswered, unanswered)
	if err := askUntilAnswered(never, time.Millisecond, time.Second, 10, ask); err != nil || *calls != 3 {
		t.Errorf("answered at the third: err %v after %d calls, want nil after 3", err, *calls)
	}
	ask, calls = answers(proto.ErrBadRequest)
	if err := askUntilAnswered(never, time.Millisecond, time.Second, 10, ask); !errors.Is(err, proto.ErrBadRequest) || *calls != 1 {
		t.Errorf("an error reply: err %v after %d calls, want it after 1", err, *calls)
	}
	ask, calls = answers(proto.ErrUnavailable, unanswered)
	if err := askUntilAnswered(never, time.Millisecond, time.Second, 10, ask); err != nil || *calls != 3 {
		t.Errorf("unavailable (the store failing over), then unanswered: err %v after %d calls, want nil after 3", err, *calls)
	}
	ask, calls = answers(unanswered, unanswered, unanswered, unanswered, unanswered)
	if err := askUntilAnswered(never, time.Millisecond, 2*time.Millisecond, 4, ask); err != unanswered || *calls != 4 {
		t.Errorf("4 tries: err %v after %d calls, want the last after 4", err, *calls)
	}
	closed := make(chan struct{})
	close(closed)
	ask, calls = answers(unanswered, unanswered)
	if err := askUntilAnswered(closed, time.Hour, time.Hour, 10, ask); err != unanswered || *calls != 1 {
		t.Errorf("closing: err %v after %d calls, want the first after 1", err, *calls)
	}
}
