package gateway

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
)

// TestReplayOrder: what a recovered connection missed is its room's
// messages after the one offset and its session's whispers after the
// other, and nothing else, in the stream's order, each once (a whisper to
// oneself matches both of the session's filters).
func TestReplayOrder(t *testing.T) {
	js, stream := messagesStream(t, jetstream.MemoryStorage)
	ctx := context.Background()
	a, b, c := proto.SessionID("token-a"), proto.SessionID("token-b"), proto.SessionID("token-c")
	type stored struct {
		subject, event string
		mine           bool // a's, in lobby
	}
	log := []stored{
		{proto.RoomMsgSubject("lobby"), proto.EventServerMessage, true},    // 1
		{proto.WhisperMsgSubject(a, b), proto.EventWhisper, true},          // 2
		{proto.RoomMsgSubject("kitchen"), proto.EventServerMessage, false}, // 3
		{proto.WhisperMsgSubject(b, c), proto.EventWhisper, false},         // 4
		{proto.RoomMsgSubject("lobby"), proto.EventServerMessage, true},    // 5
		{proto.WhisperMsgSubject(a, a), proto.EventWhisper, true},          // 6: to oneself
		{proto.WhisperMsgSubject(c, a), proto.EventWhisper, true},          // 7
		{proto.RoomMsgSubject("lobby"), proto.EventServerMessage, true},    // 8
	}
	data := func(seq int) []byte { return []byte(`{"n":` + string(rune('0'+seq)) + `}`) }
	for i, m := range log {
		if _, err := js.Publish(ctx, m.subject, data(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	want := func(roomFrom, whispersFrom int) [][]byte {
		var out [][]byte
		for i, m := range log {
			seq := i + 1
			from := roomFrom
			if m.event == proto.EventWhisper {
				from = whispersFrom
			}
			if m.mine && seq > from {
				out = append(out, encodeStored(m.event, data(seq), uint64(seq), true))
			}
		}
		return out
	}
	for _, tc := range []struct {
		name                   string
		roomFrom, whispersFrom int
	}{
		{"everything", 0, 0},
		{"after one offset", 2, 2},
		{"room messages after the join's history", 5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The room's join history went through roomFrom; the
			// client's offset is whispersFrom.
			rooms := []proto.RecoveryRoom{{Room: "lobby", Through: uint64(tc.roomFrom)}}
			r := &replay{stream: stream, rooms: rooms, sid: a, offsets: true}
			if err := r.read(ctx, uint64(tc.whispersFrom), uint64(len(log))); err != nil {
				t.Fatal(err)
			}
			wantFrames(t, "replay", r.sorted(), want(tc.roomFrom, tc.whispersFrom))
		})
	}
	t.Run("in two reads", func(t *testing.T) {
		// What was missed until the recovery, then what came meanwhile.
		r := &replay{stream: stream, rooms: []proto.RecoveryRoom{{Room: "lobby"}}, sid: a, offsets: true}
		if err := r.read(ctx, 0, 5); err != nil {
			t.Fatal(err)
		}
		if err := r.read(ctx, 5, uint64(len(log))); err != nil {
			t.Fatal(err)
		}
		wantFrames(t, "replay", r.sorted(), want(0, 0))
		if r.roomMsgs != 2 { // lobby's 1 and 5 in the first read, 8 in the second
			t.Errorf("roomMsgs = %d, want 2", r.roomMsgs)
		}
	})
	t.Run("two rooms", func(t *testing.T) {
		// lobby joined through 5, kitchen through 0; the offset is 1:
		// lobby's 8, kitchen's 3, the whispers after 1.
		rooms := []proto.RecoveryRoom{{Room: "lobby", Through: 5}, {Room: "kitchen"}}
		r := &replay{stream: stream, rooms: rooms, sid: a, offsets: true}
		if err := r.read(ctx, 1, uint64(len(log))); err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, seq := range []int{2, 3, 6, 7, 8} {
			out = append(out, encodeStored(log[seq-1].event, data(seq), uint64(seq), true))
		}
		wantFrames(t, "replay", r.sorted(), out)
	})
}

// messagesStream makes the messages stream, stored as storage, on a NATS
// server of the test's own.
func messagesStream(t *testing.T, storage jetstream.StorageType) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	js, err := jetstream.New(natstest.Connect(t, natstest.Run(t).ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name:     proto.MessagesStream,
		Subjects: []string{proto.MessagesStreamSubjects},
		Storage:  storage,
	})
	if err != nil {
		t.Fatal(err)
	}
	return js, stream
}
