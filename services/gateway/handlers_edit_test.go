package gateway

import (
	"context"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
)

// TestReplayChangeRecords: a recovered connection that missed an edit or
// a deletion is sent it as "message edited" or "message deleted", in the
// stream's order, and nothing of the erased original: whether it had the
// message before it went away or not.
func TestReplayChangeRecords(t *testing.T) {
	js, stream := messagesStream(t, jetstream.FileStorage)
	ctx := context.Background()
	store := func(record, data string) uint64 {
		m := nats.NewMsg(proto.RoomMsgSubject("lobby"))
		if record != "" {
			m.Header.Set(proto.HeaderRecord, record)
		}
		m.Data = []byte(data)
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	one := store("", `{"id":"1","message":"old one"}`)            // 1
	two := store("", `{"id":"2","message":"old two"}`)            // 2
	edit := store(proto.RecordEdit, `{"id":"1","message":"new"}`) // 3
	del := store(proto.RecordDelete, `{"id":"2","deleted":true}`) // 4
	for _, seq := range []uint64{one, two} {
		if err := stream.SecureDeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]byte{
		encodeStored(proto.EventEdited, []byte(`{"id":"1","message":"new"}`), edit, true),
		encodeStored(proto.EventDeleted, []byte(`{"id":"2","deleted":true}`), del, true),
	}
	for _, from := range []uint64{0, one, two} {
		t.Run("after "+strconv.FormatUint(from, 10), func(t *testing.T) {
			r := &replay{stream: stream, rooms: []proto.RecoveryRoom{{Room: "lobby"}}, sid: proto.SessionID("token-a"), offsets: true}
			if err := r.read(ctx, from, del); err != nil {
				t.Fatal(err)
			}
			wantFrames(t, "replay", r.sorted(), want)
		})
	}
}
