package rpc_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/proto/rpc"
)

func connect(tb testing.TB) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(natstest.Run(tb).ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

func TestCall(t *testing.T) {
	nc := connect(t)
	serve := func(subject string, handle func(m *nats.Msg)) {
		sub, err := nc.Subscribe(subject, handle)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Unsubscribe() })
	}
	serve("t.lookup", func(m *nats.Msg) {
		if string(m.Data) != `{"username":"민지"}` {
			rpc.Respond(m, proto.PresenceLookupReply{Error: proto.ErrBadRequest})
			return
		}
		rpc.Respond(m, proto.PresenceLookupReply{Username: "민지", Online: true})
	})
	serve("t.taken", func(m *nats.Msg) {
		rpc.Respond(m, proto.PresenceJoinReply{Error: proto.Errorf(proto.CodeNameTaken, "민지 is taken")})
	})
	serve("t.garbled", func(m *nats.Msg) { m.Respond([]byte("{")) })
	ctx := context.Background()

	t.Run("reply", func(t *testing.T) {
		var r proto.PresenceLookupReply
		if err := rpc.Call(ctx, nc, "t.lookup", proto.PresenceLookup{Username: "민지"}, &r); err != nil {
			t.Fatal(err)
		}
		if r.Username != "민지" || !r.Online {
			t.Fatalf("reply %+v", r)
		}
	})
	t.Run("the reply's error", func(t *testing.T) {
		var r proto.PresenceJoinReply
		err := rpc.Call(ctx, nc, "t.taken", proto.PresenceJoin{}, &r)
		var pe *proto.Error
		if !errors.As(err, &pe) || pe.Code != proto.CodeNameTaken || pe.Message != "민지 is taken" {
			t.Fatalf("err %v, want the reply's name_taken", err)
		}
	})
	unavailable := func(t *testing.T, ctx context.Context, subject string) {
		t.Helper()
		var r proto.PresenceLookupReply
		err := rpc.Call(ctx, nc, subject, proto.PresenceLookup{}, &r)
		if !errors.Is(err, proto.ErrUnavailable) {
			t.Fatalf("err %v, want unavailable", err)
		}
		if got := proto.AsError(err); got.Code != proto.CodeUnavailable || got.Message != proto.ErrUnavailable.Message {
			t.Fatalf("a client is told %+v, want only unavailable", got)
		}
	}
	t.Run("no responder", func(t *testing.T) { unavailable(t, ctx, "t.nobody") })
	t.Run("garbled reply", func(t *testing.T) { unavailable(t, ctx, "t.garbled") })
	t.Run("timeout", func(t *testing.T) {
		serve("t.silent", func(*nats.Msg) {})
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		unavailable(t, ctx, "t.silent")
	})
}

func TestRespondWithoutReplySubject(t *testing.T) {
	if err := rpc.Respond(&nats.Msg{Subject: "t.event"}, proto.OKAck{OK: true}); err != nil {
		t.Fatalf("a message that asks no reply: %v", err)
	}
}

func TestRepliesCarryTheirErrors(t *testing.T) {
	for _, r := range []rpc.Reply{
		proto.PresenceJoinReply{Error: proto.ErrNameTaken},
		proto.PresenceLookupReply{Error: proto.ErrNameTaken},
		proto.PresenceMembersReply{Error: proto.ErrNameTaken},
		proto.PresenceRoomsReply{Error: proto.ErrNameTaken},
		proto.HistoryReply{Error: proto.ErrNameTaken},
		proto.WhispersReply{Error: proto.ErrNameTaken},
		proto.ErrorAck{Error: proto.ErrNameTaken},
	} {
		if r.ReplyError() != proto.ErrNameTaken {
			t.Errorf("%T does not give its error", r)
		}
	}
}

// TestCallSendsItsBudget: a request sent under a deadline tells the
// responder how long its asker still waits (proto.HeaderBudget), and
// GivenUp tells once that has passed since the request arrived.
func TestCallSendsItsBudget(t *testing.T) {
	nc := connect(t)
	got := make(chan *nats.Msg, 2)
	sub, err := nc.Subscribe("t.budget", func(m *nats.Msg) {
		got <- m
		rpc.Respond(m, proto.OKAck{OK: true})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var r proto.ErrorAck
	if err := rpc.Call(ctx, nc, "t.budget", struct{}{}, &r); err != nil {
		t.Fatal(err)
	}
	m := <-got
	budget := m.Header.Get(proto.HeaderBudget)
	if ms, err := strconv.Atoi(budget); err != nil || ms > 3000 || ms < 2000 {
		t.Fatalf("%s = %q, want the ms left of 3 s", proto.HeaderBudget, budget)
	}
	arrived := time.Now()
	if rpc.GivenUp(m, arrived, arrived.Add(2*time.Second)) {
		t.Errorf("given up 2 s after arrival with a budget of %s ms", budget)
	}
	if !rpc.GivenUp(m, arrived, arrived.Add(3*time.Second)) {
		t.Errorf("not given up 3 s after arrival with a budget of %s ms", budget)
	}

	// Without a deadline: no budget, never given up.
	if err := rpc.Call(context.Background(), nc, "t.budget", struct{}{}, &r); err != nil {
		t.Fatal(err)
	}
	m = <-got
	if b := m.Header.Get(proto.HeaderBudget); b != "" {
		t.Errorf("%s = %q without a deadline", proto.HeaderBudget, b)
	}
	if rpc.GivenUp(m, arrived, arrived.Add(time.Hour)) {
		t.Error("a request without a budget given up")
	}
}
