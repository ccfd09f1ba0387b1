package history_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/history"
)

// editID is the message id of test message n, written as gateways write
// ids (proto.ValidID).
func editID(n int) string { return fmt.Sprintf("01J%023d", n) }

// sayAs stores a room message of the session's, as a gateway does (with
// its sender), and returns its stream sequence.
func (f *fixture) sayAs(t *testing.T, room string, n int, session, text string) uint64 {
	t.Helper()
	m := nats.NewMsg(proto.RoomMsgSubject(room))
	m.Header.Set(proto.HeaderSender, sid(session))
	m.Data, _ = json.Marshal(proto.Message{ID: editID(n), Room: room, Username: nameOf(session), Message: text, TS: time.Now().UnixMilli()})
	ack, err := f.js.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

func (f *fixture) change(t *testing.T, q proto.HistoryEdit) proto.HistoryEditReply {
	t.Helper()
	return ask[proto.HistoryEdit, proto.HistoryEditReply](t, f, proto.HistoryEditSubject, q)
}

func (f *fixture) history(t *testing.T, q proto.HistoryQuery) proto.HistoryReply {
	t.Helper()
	r := ask[proto.HistoryQuery, proto.HistoryReply](t, f, proto.HistoryQuerySubject, q)
	if r.Error != nil {
		t.Fatalf("history %+v: %v", q, r.Error)
	}
	return r
}

// texts shows a history as id-less lines: the text, "(edited)", or a
// tombstone.
func texts(msgs []proto.Message) []string {
	out := []string{}
	for _, m := range msgs {
		switch {
		case m.Deleted:
			out = append(out, "deleted by "+m.DeletedBy)
		case m.EditedAt != 0:
			out = append(out, m.Message+" (edited)")
		default:
			out = append(out, m.Message)
		}
	}
	return out
}

// streamHolds reports whether any message the stream holds, read raw,
// has text in its data.
func (f *fixture) streamHolds(t *testing.T, text string) bool {
	t.Helper()
	for _, raw := range natstest.StoredMsgs(t, f.nc, proto.MessagesStream) {
		if bytes.Contains(raw.Data, []byte(text)) {
			return true
		}
	}
	return false
}

func TestEditAndDeleteRoomMessages(t *testing.T) {
	f := start(t, history.Config{})
	f.sayAs(t, "lobby", 1, "Ann", "첫 번째 secret-one")
	f.sayAs(t, "lobby", 2, "Bob", "bob's secret-two")
	f.sayAs(t, "lobby", 3, "Ann", "ann's secret-three")

	cases := []struct {
		name string
		q    proto.HistoryEdit
		code string // "" for ok
	}{
		{"own edit", proto.HistoryEdit{Room: "lobby", ID: editID(1), Session: sid("Ann"), Message: "고친 글"}, ""},
		{"edit again", proto.HistoryEdit{Room: "lobby", ID: editID(1), Session: sid("Ann"), Message: "고친 글 again"}, ""},
		{"someone else's", proto.HistoryEdit{Room: "lobby", ID: editID(2), Session: sid("Ann"), Message: "mine now"}, proto.CodeForbidden},
		{"someone else's, deleted", proto.HistoryEdit{Room: "lobby", ID: editID(2), Session: sid("Ann"), Delete: true}, proto.CodeForbidden},
		{"a later holder of the name", proto.HistoryEdit{Room: "lobby", ID: editID(3), Session: sid("Ann again"), Delete: true}, proto.CodeForbidden},
		{"a moderator's edit", proto.HistoryEdit{Room: "lobby", ID: editID(2), Session: sid("Mod"), Moderator: true, Message: "x"}, proto.CodeForbidden},
		{"a moderator's delete", proto.HistoryEdit{Room: "lobby", ID: editID(2), Session: sid("Mod"), Moderator: true, By: "Mod", Delete: true}, ""},
		{"deleted already", proto.HistoryEdit{Room: "lobby", ID: editID(2), Session: sid("Bob"), Message: "back"}, proto.CodeNoSuchMessage},
		{"own delete", proto.HistoryEdit{Room: "lobby", ID: editID(3), Session: sid("Ann"), Delete: true}, ""},
		{"no such id", proto.HistoryEdit{Room: "lobby", ID: editID(9), Session: sid("Ann"), Delete: true}, proto.CodeNoSuchMessage},
		{"another room's", proto.HistoryEdit{Room: "other", ID: editID(1), Session: sid("Ann"), Delete: true}, proto.CodeNoSuchMessage},
		{"not an id", proto.HistoryEdit{Room: "lobby", ID: "m1", Session: sid("Ann"), Delete: true}, proto.CodeBadRequest},
		{"blank text", proto.HistoryEdit{Room: "lobby", ID: editID(1), Session: sid("Ann"), Message: " \u200b "}, proto.CodeInvalidMessage},
		{"too long", proto.HistoryEdit{Room: "lobby", ID: editID(1), Session: sid("Ann"), Message: strings.Repeat("가", proto.MaxMessageRunes+1)}, proto.CodeMessageTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.change(t, tc.q)
			switch {
			case tc.code == "" && r.Error != nil:
				t.Fatalf("refused: %v", r.Error)
			case tc.code != "" && (r.Error == nil || r.Error.Code != tc.code):
				t.Fatalf("got %+v, %v; want %s", r.Message, r.Error, tc.code)
			case tc.code == "" && (r.Message == nil || r.Message.ID != tc.q.ID || r.Message.Deleted != tc.q.Delete):
				t.Fatalf("answered %+v", r.Message)
			}
		})
	}

	got := texts(f.history(t, proto.HistoryQuery{Room: "lobby"}).Messages)
	want := []string{"고친 글 again (edited)", "deleted by Mod", "deleted by "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("history %q, want %q", got, want)
	}
	for _, old := range []string{"secret-one", "고친 글\"", "secret-two", "secret-three"} {
		if f.streamHolds(t, old) {
			t.Errorf("the stream still holds %q", old)
		}
	}
	// Read again from the stream (a restarted history, or another
	// replica): the same history, in the same order.
	stop := serve(t, history.Config{}, f.ns.ClientURL())
	stop()
	f.ns.Restart(t)
	for _, old := range []string{"secret-one", "secret-two", "secret-three"} {
		if files := f.ns.FilesHolding(t, []byte(old)); len(files) > 0 {
			t.Errorf("%q is still in the store's files %v", old, files)
		}
	}
}

// TestHistoryReadsChangesAgain: a history that reads the stream from the
// start (restarted, or another replica) finds every message as it is now,
// in its place, though the originals are erased; a client catching up
// (after) is told what changed before its last message.
func TestHistoryReadsChangesAgain(t *testing.T) {
	f := start(t, history.Config{})
	for n := 1; n <= 4; n++ {
		f.sayAs(t, "lobby", n, "Ann", fmt.Sprintf("text %d", n))
	}
	for _, q := range []proto.HistoryEdit{
		{ID: editID(2), Message: "two, edited"},
		{ID: editID(2), Message: "two, edited twice"},
		{ID: editID(3), Delete: true},
	} {
		q.Room, q.Session = "lobby", sid("Ann")
		if r := f.change(t, q); r.Error != nil {
			t.Fatal(r.Error)
		}
	}
	f.sayAs(t, "lobby", 5, "Ann", "text 5")
	want := "text 1|two, edited twice (edited)|deleted by |text 4|text 5"

	// A second service on the same stream answers some of the queries.
	serve(t, history.Config{}, f.ns.ClientURL())
	for i := range 6 {
		if got := strings.Join(texts(f.history(t, proto.HistoryQuery{Room: "lobby"}).Messages), "|"); got != want {
			t.Fatalf("query %d: history %q, want %q", i, got, want)
		}
	}
	r := f.history(t, proto.HistoryQuery{Room: "lobby", After: editID(3), Limit: 10})
	if got := strings.Join(texts(r.Changed), "|"); r.Gap || got != "two, edited twice (edited)|deleted by " {
		t.Errorf("after %s: changed %q (gap %v)", editID(3), got, r.Gap)
	}
	if got := strings.Join(texts(r.Messages), "|"); got != "text 4|text 5" {
		t.Errorf("after %s: messages %q", editID(3), got)
	}
	r = f.history(t, proto.HistoryQuery{Room: "lobby", After: editID(5), Limit: 10})
	if len(r.Changed) != 0 || len(r.Messages) != 0 {
		t.Errorf("after the newest, stored after the changes: changed %d, messages %d", len(r.Changed), len(r.Messages))
	}
}

// TestDeletingTheNewestMessage: the change record goes in after the
// message, so the stream's last sequence is one that history reads: it
// stays available for rooms and whispers, and for a reader that had not
// read the message yet.
func TestDeletingTheNewestMessage(t *testing.T) {
	f := start(t, history.Config{})
	f.sayAs(t, "lobby", 1, "Ann", "one")
	f.sayAs(t, "lobby", 2, "Ann", "the newest")
	if r := f.change(t, proto.HistoryEdit{Room: "lobby", ID: editID(2), Session: sid("Ann"), Delete: true}); r.Error != nil {
		t.Fatal(r.Error)
	}
	serve(t, history.Config{}, f.ns.ClientURL()) // reads from the start
	for i := range 4 {
		if got := strings.Join(texts(f.history(t, proto.HistoryQuery{Room: "lobby"}).Messages), "|"); got != "one|deleted by " {
			t.Fatalf("query %d: %q", i, got)
		}
		w := ask[proto.WhispersQuery, proto.WhispersReply](t, f, proto.WhispersQuerySubject, proto.WhispersQuery{User: sid("Ann")})
		if w.Error != nil {
			t.Fatalf("whispers %d: %v", i, w.Error)
		}
	}
	if f.streamHolds(t, "the newest") {
		t.Error("the stream still holds the deleted text")
	}
}

// TestConcurrentChangesLeaveOneVersion: an edit and a deletion of one
// message, asked at once of two history replicas, end with the message
// deleted (the deletion always holds; the edit may be refused, once the
// deletion came first) and only the newest record of it in the stream:
// neither the original nor the edit's text.
func TestConcurrentChangesLeaveOneVersion(t *testing.T) {
	f := start(t, history.Config{})
	serve(t, history.Config{}, f.ns.ClientURL())
	const rounds = 12
	for n := 1; n <= rounds; n++ {
		f.sayAs(t, "lobby", n, "Ann", fmt.Sprintf("original %d", n))
	}
	var wg sync.WaitGroup
	var refused atomic.Int32 // edits that came after the deletion
	errs := make(chan string, 2*rounds)
	for n := 1; n <= rounds; n++ {
		for _, q := range []proto.HistoryEdit{
			{Room: "lobby", ID: editID(n), Session: sid("Ann"), Message: fmt.Sprintf("edited %d", n)},
			{Room: "lobby", ID: editID(n), Session: sid("Ann"), Delete: true},
		} {
			wg.Go(func() {
				data, _ := json.Marshal(q)
				m, err := f.nc.Request(proto.HistoryEditSubject, data, 10*time.Second)
				var r proto.HistoryEditReply
				if err == nil {
					err = json.Unmarshal(m.Data, &r)
				}
				switch {
				case err != nil:
					errs <- err.Error()
				case r.Error != nil && !q.Delete && r.Error.Code == proto.CodeNoSuchMessage:
					refused.Add(1)
				case r.Error != nil:
					errs <- fmt.Sprintf("%s of %s: %v", map[bool]string{true: "delete", false: "edit"}[q.Delete], q.ID, r.Error)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	t.Logf("%d of %d edits came after the deletion", refused.Load(), rounds)
	for e := range errs {
		t.Error(e)
	}
	for i, m := range f.history(t, proto.HistoryQuery{Room: "lobby", Limit: proto.MaxHistoryPage}).Messages {
		if !m.Deleted || m.Message != "" {
			t.Errorf("message %d: %+v, want a tombstone", i+1, m)
		}
	}
	perID := map[string]int{}
	for _, raw := range natstest.StoredMsgs(t, f.nc, proto.MessagesStream) {
		var m proto.Message
		json.Unmarshal(raw.Data, &m)
		perID[m.ID]++
		if raw.Header.Get(proto.HeaderRecord) != proto.RecordDelete || bytes.Contains(raw.Data, []byte("original")) || bytes.Contains(raw.Data, []byte("edited")) {
			t.Errorf("the stream holds %s %s", raw.Header.Get(proto.HeaderRecord), raw.Data)
		}
	}
	for n := 1; n <= rounds; n++ {
		if perID[editID(n)] != 1 {
			t.Errorf("message %d: %d versions in the stream, want 1", n, perID[editID(n)])
		}
	}
}
