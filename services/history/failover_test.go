package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/testlog"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/history"
)

// TestHistoryFollowsTheStreamThroughItsLeadersLoss shuts down the NATS
// node that both leads the stream and serves history's connection, in a
// cluster of three: history moves to a survivor, and once the stream has a
// new leader it answers again with every message stored, those acked after
// the loss too. (An embedded server shuts down cleanly, handing its
// leadership over; the kill -9 of a process is TestNATSLeaderKilled's, in
// test/e2e, and a consumer that stays silent after it is
// TestHistoryReadsTheStreamAgainWhenItsReadingStalls's.)
func TestHistoryFollowsTheStreamThroughItsLeadersLoss(t *testing.T) {
	nodes := natstest.RunCluster(t, 3)
	first, survivors := nodes[0], nodes[1:]
	nc := natstest.Connect(t, natstest.URLs(nodes), nats.DontRandomize(), nats.ReconnectWait(100*time.Millisecond), nats.MaxReconnects(-1))
	svc, err := history.New(history.Config{Replicas: 3}, nc, testlog.Logger(t, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	wait.Succeeds(t, 30*time.Second, svc.Ready)
	if got := nc.ConnectedServerName(); got != first.Name() {
		t.Fatalf("history is on %s, not %s", got, first.Name())
	}

	// The asker and the publisher are on the survivors.
	ac := natstest.Connect(t, natstest.URLs(survivors), nats.MaxReconnects(-1))
	js, err := jetstream.New(ac)
	if err != nil {
		t.Fatal(err)
	}
	if err := natstest.LeadStream(js, proto.MessagesStream, first.Name(), 30*time.Second); err != nil {
		t.Fatal(err)
	}

	var acked []string
	store := func(id string) {
		data, _ := json.Marshal(proto.Message{ID: id, Room: "lobby", Username: "u", Message: id})
		wait.Succeeds(t, 30*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := js.Publish(ctx, proto.RoomMsgSubject("lobby"), data, jetstream.WithMsgID(id))
			return err
		})
		acked = append(acked, id)
	}
	for i := range 5 {
		store(fmt.Sprintf("before%d", i))
	}
	wait.Succeeds(t, 10*time.Second, func() error { return holds(ac, "lobby", acked...)() })

	lost := time.Now()
	first.Shutdown()
	first.WaitForShutdown()
	for i := range 5 {
		store(fmt.Sprintf("after%d", i))
	}
	t.Logf("stored again %s after the loss", time.Since(lost).Round(time.Millisecond))
	wait.Succeeds(t, 30*time.Second, func() error { return holds(ac, "lobby", acked...)() })
	t.Logf("history answered with all of them %s after the loss, on %s", time.Since(lost).Round(time.Millisecond), nc.ConnectedServerName())
}

// TestHistoryReadsTheStreamAgainWhenItsReadingStalls pauses the consumer
// that fills history's caches, server-side: it still sends heartbeats, so
// the ordered consumer sees nothing wrong, and delivers nothing, as a
// consumer left on a lost stream leader does. History notices that its
// caches stay behind the stream, reads it again from where they are, and
// answers with the message stored meanwhile (before, every query was
// refused as unavailable while the consumer stayed paused).
func TestHistoryReadsTheStreamAgainWhenItsReadingStalls(t *testing.T) {
	f := start(t, history.Config{StallAfter: 500 * time.Millisecond})
	f.say(t, "lobby", "m1")
	wait.Succeeds(t, 10*time.Second, holds(f.nc, "lobby", "m1"))

	paused := f.consumers(t)
	if len(paused) != 1 {
		t.Fatalf("history's consumers: %v", paused)
	}
	if _, err := f.js.PauseConsumer(context.Background(), proto.MessagesStream, paused[0], time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.say(t, "lobby", "m2")
	wait.Succeeds(t, 10*time.Second, holds(f.nc, "lobby", "m1", "m2"))
	if got := f.consumers(t); slices.Contains(got, paused[0]) || len(got) != 1 {
		t.Errorf("history reads the stream with %v, paused %v", got, paused)
	}
}

// holds is a check that room's history, asked through nc, answers with
// the messages ids, all of them and no other.
func holds(nc *nats.Conn, room string, want ...string) func() error {
	return func() error {
		data, _ := json.Marshal(proto.HistoryQuery{Room: room, Limit: 100})
		m, err := nc.Request(proto.HistoryQuerySubject, data, 5*time.Second)
		if err != nil {
			return err
		}
		var r proto.HistoryReply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return err
		}
		if r.Error != nil {
			return r.Error
		}
		if got := msgIDs(r); !slices.Equal(got, want) {
			return fmt.Errorf("history of %s: %v, want %v", room, got, want)
		}
		return nil
	}
}

// consumers names the stream's consumers.
func (f *fixture) consumers(t *testing.T) []string {
	t.Helper()
	var names []string
	s, err := f.js.Stream(context.Background(), proto.MessagesStream)
	if err != nil {
		t.Fatal(err)
	}
	l := s.ConsumerNames(context.Background())
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}
