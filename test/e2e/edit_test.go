package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/presence"
)

// TestEditAndDelete runs test/client/edit.test.mjs against two gateways
// (a WebSocket client on one, a long-polling one on the other): edits and
// deletions live, in history, through recovery and a join with since.
// Then it reads the stream raw, every message it holds, and the NATS
// server's files: the original texts, which all held a secret word, are
// in neither, while the one message left as it was is in both.
func TestEditAndDelete(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 2, presence.Config{})
	secret := "sekrit-" + proto.NewToken()[:8]
	nodetest.Run(t, "edit.test.mjs", 2*time.Minute,
		"NATTER_URL="+s.gateways[0].URL, "NATTER_URL_2="+s.gateways[1].URL, "NATTER_EDIT_SECRET="+secret)

	ctx := context.Background()
	js, err := jetstream.New(s.conns[0])
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, proto.MessagesStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var read, records int
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		read++
		if raw.Header.Get(proto.HeaderRecord) != "" {
			records++
		}
		if bytes.Contains(raw.Data, []byte(secret)) {
			t.Errorf("the stream's message %d holds an old text: %s", seq, raw.Data)
		}
	}
	if records < 5 || read <= records {
		t.Errorf("read %d messages, %d of them change records: the test read the wrong stream", read, records)
	}
	kept := false // the message left as it was, in the files: they are written
	err = filepath.WalkDir(s.nats.StoreDir(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		kept = kept || bytes.Contains(b, []byte(strings.ToUpper(secret)))
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds an old text", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !kept {
		t.Error("the store's files do not hold the message left as it was: the test reads the wrong files")
	}
	t.Logf("stream: %d messages read raw, %d change records, no old text", read, records)
}
