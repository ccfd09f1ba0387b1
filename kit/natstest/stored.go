package natstest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StoredMsgs reads, raw, every message the stream called name holds on the
// connection nc: from its first sequence to its last, skipping those
// deleted.
func StoredMsgs(tb testing.TB, nc *nats.Conn, name string) []*jetstream.RawStreamMsg {
	tb.Helper()
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := js.Stream(ctx, name)
	if err != nil {
		tb.Fatalf("stream %s: %v", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatalf("stream %s: %v", name, err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			tb.Fatalf("stream %s, message %d: %v", name, seq, err)
		}
		out = append(out, raw)
	}
	return out
}

// FilesHolding returns the files under the server's store folder whose
// bytes hold b: what JetStream wrote to disk, read raw.
func (s *Server) FilesHolding(tb testing.TB, b []byte) []string {
	tb.Helper()
	var found []string
	err := filepath.WalkDir(s.StoreDir(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, b) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return found
}
