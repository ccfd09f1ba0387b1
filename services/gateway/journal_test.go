package gateway

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
)

// TestJournalBetween: what the fan-out's backfill relies on, against a
// real JetStream stream configured as history makes it (republished under
// natter.stored.>): a republished message names its subject and the
// sequence stored before it on that subject, and between reads back the
// messages of one subject between two sequences, oldest first.
func TestJournalBetween(t *testing.T) {
	nc := natstest.Connect(t, natstest.Run(t).ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:      proto.MessagesStream,
		Subjects:  []string{proto.MessagesStreamSubjects},
		RePublish: &jetstream.RePublish{Source: proto.MessagesStreamSubjects, Destination: proto.StoredSubjects},
	}); err != nil {
		t.Fatal(err)
	}
	stored := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(proto.RoomStoredSubject("lobby"), stored)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	lobby, kitchen := proto.RoomMsgSubject("lobby"), proto.RoomMsgSubject("kitchen")
	for i, subject := range []string{lobby, kitchen, lobby, kitchen, kitchen, lobby} { // sequences 1 to 6
		if _, err := js.Publish(ctx, subject, []byte(strconv.Itoa(i+1))); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range [][2]string{{"1", "0"}, {"3", "1"}, {"6", "3"}} {
		select {
		case msg := <-stored:
			if got := [2]string{msg.Header.Get(jetstream.SequenceHeader), msg.Header.Get(jetstream.LastSequenceHeader)}; got != want ||
				msg.Header.Get(jetstream.SubjectHeader) != lobby {
				t.Errorf("republished %v on %q, want sequence and previous %v on %q", got, msg.Header.Get(jetstream.SubjectHeader), want, lobby)
			}
		case <-ctx.Done():
			t.Fatal("no republished message")
		}
	}

	j, err := newJournal(nc, 5*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		subject       string
		after, before uint64
		want          []uint64
	}{
		{lobby, 1, 6, []uint64{3}},
		{lobby, 0, 7, []uint64{1, 3, 6}},
		{kitchen, 2, 6, []uint64{4, 5}},
		{kitchen, 5, 6, nil},
		{lobby, 6, 100, nil},
	} {
		msgs, err := j.between(tc.subject, tc.after, tc.before)
		if err != nil {
			t.Fatalf("between(%s, %d, %d): %v", tc.subject, tc.after, tc.before, err)
		}
		var got []uint64
		for _, m := range msgs {
			got = append(got, m.Sequence)
			if string(m.Data) != strconv.FormatUint(m.Sequence, 10) {
				t.Errorf("message %d holds %q", m.Sequence, m.Data)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("between(%s, %d, %d) = %v, want %v", tc.subject, tc.after, tc.before, got, tc.want)
		}
	}
}
