package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// maxInFlight is how many of one connection's messages and whispers may
// wait for the stream's answer at once. The stream stores each one before
// it answers (and, with natter's sync_interval, fsyncs it), so a sender
// that waited for each answer before reading its next message would send
// no faster than one store's round trip allows; within the window its
// messages are published back to back, and answered as the stream
// answers. Past it, the connection's reader waits: a client cannot make
// the gateway hold more than this many of its messages.
const maxInFlight = 32

// publisher stores the messages and whispers of local clients in the
// journal's stream, at most once for each clientId, and acks them.
type publisher struct {
	journal *journal
	timeout time.Duration
	metrics *chatMetrics
	log     *slog.Logger
	waiting sync.WaitGroup // publications waiting for the stream, dedup bucket writes
}

func newPublisher(j *journal, timeout time.Duration, m *chatMetrics, log *slog.Logger) *publisher {
	return &publisher{journal: j, timeout: timeout, metrics: m, log: log}
}

// wait waits for the publications under way.
func (pb *publisher) wait() { pb.waiting.Wait() }

// store stores out in the stream and acks e with ack once the stream
// has answered, or, for a resend, with the id and time of what was stored
// the first time; then counts it. The publish is asynchronous: it returns
// before the answer, so that the connection's next message is read and
// published meanwhile (see maxInFlight). Messages of one connection are
// published in the order they were read, on the one NATS connection, so
// the stream stores them in that order.
//
// A message is stored at most once for one clientId of one session:
// JetStream's deduplication catches a resend within its window, the
// dedup bucket one after it. A failure is proto.ErrUnavailable when the
// message is known not to be stored, proto.ErrUnknownOutcome when it may
// be (see publishFailure): either way the client may resend with the
// same clientId.
func (pb *publisher) store(e *socketio.EventMessage, out *nats.Msg, m *member, clientID string, ack proto.SentAck, count prometheus.Counter) {
	ctx, cancel := context.WithTimeout(context.Background(), pb.timeout)
	p := &publication{pb: pb, e: e, ack: ack, count: count, msgID: ack.ID, cancel: cancel}
	if clientID != "" {
		// Scoped to the session, so that clients cannot collide by
		// choice, nor a later holder of the name with an earlier one.
		h := sha256.Sum256([]byte(m.sid + "\x00" + clientID))
		p.msgID = hex.EncodeToString(h[:16])
		p.guard = pb.journal.bucket(ctx, proto.DedupBucket)
		if p.guard != nil {
			if seq, ok := pb.remembered(ctx, p.guard, p.msgID); ok {
				pb.metrics.dedupHits.WithLabelValues("bucket").Inc()
				p.ackStored(ctx, seq)
				return
			}
		}
	}
	if ctx.Err() != nil {
		// The lookup took all the time: nothing was published now, but
		// an earlier send under this clientId may have been stored, which
		// the lookup could not tell; a resend will.
		p.failed(proto.ErrUnknownOutcome)
		return
	}
	paf, err := pb.journal.publish(out, p.msgID)
	if err != nil {
		pb.log.Warn("store", "err", err)
		p.failed(publishFailure(err))
		return
	}
	inflight := &connOf(m.sock).inflight
	if inflight.Add(1) > maxInFlight {
		// The window is full: this one is waited for here, holding up
		// the connection's reader.
		p.await(ctx, paf)
		inflight.Add(-1)
		return
	}
	pb.waiting.Add(1)
	go func() {
		defer pb.waiting.Done()
		defer inflight.Add(-1)
		p.await(ctx, paf)
	}()
}

// remembered returns the sequence the dedup bucket says msgID was stored
// under, if it says so. A bucket that does not answer says nothing: the
// message is published, and JetStream's window catches a resend within
// it.
func (pb *publisher) remembered(ctx context.Context, guard jetstream.KeyValue, msgID string) (uint64, bool) {
	e, err := guard.Get(ctx, msgID)
	if err != nil {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(e.Value()), 10, 64)
	return seq, err == nil
}

// publication is one message or whisper on its way to the stream, and the
// ack its client waits for.
type publication struct {
	pb     *publisher
	e      *socketio.EventMessage
	ack    proto.SentAck
	count  prometheus.Counter
	msgID  string             // JetStream's Nats-Msg-Id
	guard  jetstream.KeyValue // the dedup bucket, when the client gave a clientId
	cancel context.CancelFunc // of the context bounding the whole publication
}

// await waits for the stream's answer to paf, within ctx, and acks.
func (p *publication) await(ctx context.Context, paf jetstream.PubAckFuture) {
	select {
	case pa := <-paf.Ok():
		if pa.Duplicate {
			p.pb.metrics.dedupHits.WithLabelValues("jetstream").Inc()
			p.ackStored(ctx, pa.Sequence)
			return
		}
		p.acked(nil)
		p.remember(pa.Sequence)
	case err := <-paf.Err():
		p.pb.log.Warn("store", "err", err)
		p.failed(publishFailure(err))
	case <-ctx.Done():
		// Published, and not answered in time: it may be stored.
		p.failed(proto.ErrUnknownOutcome)
	}
}

// ackStored acks a resend with the id and time of what an earlier send
// of its clientId stored at seq. Until that can be read back, the resend
// is not acked ok: an ack naming this send's own id would name a message
// that history does not hold (the stored one has the first send's id).
// A read that fails for now is unknown_outcome, and the client resends
// again; a message no longer there (edited, deleted or aged out since) is
// no_such_message.
func (p *publication) ackStored(ctx context.Context, seq uint64) {
	data, err := p.pb.journal.storedData(ctx, seq)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		p.failed(proto.ErrNoSuchMessage)
	case err != nil:
		p.pb.log.Warn("read back a resent message's first copy", "seq", seq, "err", err)
		p.failed(proto.ErrUnknownOutcome)
	default:
		p.acked(data)
	}
}

// acked acks the client: with the id and time of stored, the data of an
// earlier send of the same clientId, when there is one.
func (p *publication) acked(stored []byte) {
	defer p.cancel()
	ack := p.ack
	if stored != nil {
		var orig struct {
			ID string `json:"id"`
			TS int64  `json:"ts"`
		}
		if json.Unmarshal(stored, &orig) == nil && orig.ID != "" {
			ack.ID, ack.TS = orig.ID, orig.TS
		}
	}
	p.count.Inc()
	reply(p.e, ack)
}

func (p *publication) failed(err *proto.Error) {
	defer p.cancel()
	p.pb.metrics.publishErrors.Inc()
	fail(p.e, err)
}

// remember writes the stored sequence into the dedup bucket, after the
// ack: off its path (within its window JetStream catches a resend anyway).
func (p *publication) remember(seq uint64) {
	if p.guard == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.pb.timeout)
	defer cancel()
	if _, err := p.guard.Put(ctx, p.msgID, []byte(strconv.FormatUint(seq, 10))); err != nil {
		p.pb.log.Warn("dedup guard", "err", err)
	}
}
