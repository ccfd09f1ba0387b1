package gateway

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natter/natter/proto"
)

// journal is the gateway's access to JetStream: the messages stream, which
// stores what users say, and the key-value buckets beside it. The history
// service creates both; the journal finds each on first need and keeps
// it.
type journal struct {
	js      jetstream.JetStream
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	stream  jetstream.Stream              // nil until found
	buckets map[string]jetstream.KeyValue // likewise
}

func newJournal(nc *nats.Conn, timeout time.Duration, log *slog.Logger) (*journal, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &journal{js: js, timeout: timeout, log: log, buckets: make(map[string]jetstream.KeyValue)}, nil
}

// messages returns the stream, found on first need.
func (j *journal) messages(ctx context.Context) (jetstream.Stream, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stream == nil {
		st, err := j.js.Stream(ctx, proto.MessagesStream)
		if err != nil {
			return nil, err
		}
		j.stream = st
	}
	return j.stream, nil
}

// bucket returns the key-value bucket called name, or nil when it cannot
// be had (the history service, which creates it, has not yet run).
func (j *journal) bucket(ctx context.Context, name string) jetstream.KeyValue {
	j.mu.Lock()
	defer j.mu.Unlock()
	if kv := j.buckets[name]; kv != nil {
		return kv
	}
	kv, err := j.js.KeyValue(ctx, name)
	if err != nil {
		j.log.Warn("bucket", "bucket", name, "err", err)
		return nil
	}
	j.buckets[name] = kv
	return kv
}

// head returns the sequence of the stream's newest message.
func (j *journal) head() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	st, err := j.messages(ctx)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// storedData reads a message's data back from the stream by sequence.
func (j *journal) storedData(ctx context.Context, seq uint64) ([]byte, error) {
	st, err := j.messages(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := st.GetMsg(ctx, seq)
	if err != nil {
		return nil, err
	}
	return raw.Data, nil
}

// maxBackfill bounds the messages a backfill reads back; a gap longer
// than that is a client's to fill (it asks history).
const maxBackfill = 1000

// between reads back the messages stored on subject after the sequence
// after and before the sequence before, oldest first, up to maxBackfill.
// It returns what it read before an error, with the error.
func (j *journal) between(subject string, after, before uint64) ([]*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	st, err := j.messages(ctx)
	if err != nil {
		return nil, err
	}
	var out []*jetstream.RawStreamMsg
	for seq := after + 1; seq < before && len(out) < maxBackfill; {
		raw, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			j.log.Warn("backfill", "subject", subject, "seq", seq, "err", err)
			return out, err
		}
		if raw.Sequence >= before {
			break
		}
		out = append(out, raw)
		seq = raw.Sequence + 1
	}
	return out, nil
}

// publish stores msg in the stream, asynchronously, under JetStream's
// deduplication id msgID.
func (j *journal) publish(msg *nats.Msg, msgID string) (jetstream.PubAckFuture, error) {
	return j.js.PublishMsgAsync(msg, jetstream.WithMsgID(msgID))
}
