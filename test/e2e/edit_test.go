package e2e

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/kit/jwttest"
	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/kit/wait"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestEditAndDelete runs test/client/edit.test.mjs against two gateways
// (a WebSocket client on one, a long-polling one on the other): edits and
// deletions live, in history, through recovery and a join with since; a
// moderator's deletion (a token with the role), on gateways that let
// anonymous users in too.
// Then it reads the stream raw, every message it holds, and the NATS
// server's files: the original texts, which all held a secret word, are
// in neither, while the one message left as it was is in both.
func TestEditAndDelete(t *testing.T) {
	key := "a test secret of 32 bytes or more, for HS256"
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, gateway.Config{
		Auth: gateway.AuthConfig{HS256Secret: gateway.Secret(key), Anonymous: true},
	})
	token := func(sub, name, role string) string {
		c := jwttest.Claims{"sub": sub, "name": name, "exp": time.Now().Add(10 * time.Minute).Unix()}
		if role != "" {
			c["role"] = role
		}
		return jwttest.Sign(t, "HS256", "", []byte(key), c)
	}
	secret := "sekrit-" + proto.NewToken()[:8]
	nodetest.Run(t, "edit.test.mjs", 2*time.Minute,
		"NATTER_URL="+s.gateways[0].URL, "NATTER_URL_2="+s.gateways[1].URL, "NATTER_EDIT_SECRET="+secret,
		"NATTER_MOD_TOKEN="+token("mod-1", "Moderator", proto.RoleModerator), "NATTER_USER_TOKEN="+token("user-2", "Plain", ""))

	stored := natstest.StoredMsgs(t, s.conns[0], proto.MessagesStream)
	records := 0
	for _, raw := range stored {
		if raw.Header.Get(proto.HeaderRecord) != "" {
			records++
		}
		if bytes.Contains(raw.Data, []byte(secret)) {
			t.Errorf("the stream's message %d holds an old text: %s", raw.Sequence, raw.Data)
		}
	}
	if records < 5 || len(stored) <= records {
		t.Errorf("read %d messages, %d of them change records: the test read the wrong stream", len(stored), records)
	}
	if files := s.nats.FilesHolding(t, []byte(secret)); len(files) > 0 {
		t.Errorf("the store's files %v hold an old text", files)
	}
	// The message left as it was is in the files: they are written.
	if files := s.nats.FilesHolding(t, []byte(strings.ToUpper(secret))); len(files) == 0 {
		t.Error("the store's files do not hold the message left as it was: the test reads the wrong files")
	}
	t.Logf("stream: %d messages read raw, %d change records, no old text", len(stored), records)
}

// TestEditOutcomes: an edit or deletion that history cannot make is
// answered as a send would be: unavailable when nothing answers (history
// down: it is known not to be made), unknown_outcome when history took
// the request and did not answer in time (it may be made); once history
// is back, the retry makes it.
func TestEditOutcomes(t *testing.T) {
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{},
		gateway.Config{RequestTimeout: 500 * time.Millisecond})
	cl := dialH(t, s.gateways[0].URL, "127.0.0.1", "")
	cl.join("Outcome", "", "outcomes")
	sent := cl.call(proto.EventClientMessage, proto.ClientMessage{Message: "to change"})
	if !sent.OK {
		t.Fatalf("send: %s", sent.raw)
	}
	s.stopHistory()
	if a := cl.call(proto.EventEditMessage, proto.EditRequest{ID: sent.ID, Message: "changed"}); a.code() != proto.CodeUnavailable {
		t.Errorf("edit with history down: %s, want unavailable", a.raw)
	}
	// Something takes the request and never answers.
	sink, err := s.conns[0].QueueSubscribe(proto.HistoryEditSubject, proto.HistoryQueue, func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.conns[0].Flush(); err != nil {
		t.Fatal(err)
	}
	if a := cl.call(proto.EventDeleteMessage, proto.DeleteRequest{ID: sent.ID}); a.code() != proto.CodeUnknownOutcome {
		t.Errorf("delete not answered in time: %s, want unknown_outcome", a.raw)
	}
	sink.Unsubscribe()
	s.startHistory()
	wait.Succeeds(t, 10*time.Second, func() error { // history starting: unavailable until it serves
		if a := cl.call(proto.EventDeleteMessage, proto.DeleteRequest{ID: sent.ID}); !a.OK {
			return errors.New(a.raw)
		}
		return nil
	})
	if m := s.history(t, "outcomes"); len(m) != 1 || !m[0].Deleted {
		t.Errorf("history after the retry: %+v", m)
	}
}
