package gateway

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/natter/natter/proto"
)

// frames is a sink that records what it is sent.
type frames struct {
	mu     sync.Mutex
	sent   [][]byte
	closed bool
}

func (f *frames) SendFrame(frame []byte, _ [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, frame)
	return nil
}

func (f *frames) CloseSession() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

func (f *frames) got() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sent
}

// members is an audience of fixed rooms and sessions.
type members struct{ rooms, users map[string][]*member }

func (a members) room(token string) []*member { return a.rooms[token] }
func (a members) user(sid string) []*member   { return a.users[sid] }
func (a members) roomCursor(string) *uint64   { return nil }

func newTestFanout(to audience) *fanout {
	m := newChatMetrics(nil)
	return newFanout(to, nil, true, newFloods(Config{}, m.limited), m, nil)
}

func storedMsg(subject string, seq uint64, data string) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Header.Set(jetstream.SequenceHeader, strconv.FormatUint(seq, 10))
	msg.Data = []byte(data)
	return msg
}

// storedWhisperSubject is the subject the stream republishes a whisper
// between the sessions a and b under.
func storedWhisperSubject(a, b string) string {
	return proto.StoredWhisperPrefix + strings.TrimPrefix(proto.WhisperMsgSubject(a, b), proto.WhisperMsgPrefix)
}

func wantFrames(t *testing.T, who string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s got %d frames, want %d:\n%q\nwant\n%q", who, len(got), len(want), got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s frame %d = %q, want %q", who, i, got[i], want[i])
		}
	}
}

// TestFanOutStoredOrderAndDedupe: every local member of a room gets the
// room's stored messages in the stream's order, each once; a whisper
// reaches both sessions' connections but the one it came from, once even
// when both of its subscriptions (a whisper to oneself) bring it.
func TestFanOutStoredOrderAndDedupe(t *testing.T) {
	a, b := proto.SessionID("token-a"), proto.SessionID("token-b")
	var outA1, outA2, outB frames
	a1 := testMember("lobby", a, "민지", &outA1)
	a2 := testMember("lobby", a, "민지", &outA2) // another tab of a's
	a2.origin = "gw/another-tab"
	bm := testMember("lobby", b, "ana", &outB)
	f := newTestFanout(members{
		rooms: map[string][]*member{proto.Token("lobby"): {a1, a2, bm}},
		users: map[string][]*member{a: {a1, a2}, b: {bm}},
	})

	room := proto.RoomStoredSubject("lobby")
	var want [][]byte
	for seq := uint64(1); seq <= 5; seq++ {
		data := `{"id":"` + strconv.FormatUint(seq, 10) + `"}`
		f.fanOutStored(storedMsg(room, seq, data))
		want = append(want, encodeStored(proto.EventServerMessage, []byte(data), seq, true))
	}
	f.fanOutStored(storedMsg(proto.RoomStoredSubject("elsewhere"), 6, `{}`))
	wantFrames(t, "a1", outA1.got(), want)
	wantFrames(t, "a2", outA2.got(), want)
	wantFrames(t, "b", outB.got(), want)
	if &outA1.got()[0][0] != &outB.got()[0][0] {
		t.Error("each member got its own copy of a frame: it is encoded once")
	}

	// a1 whispers to b: b and a's other tab get it, a1 does not.
	w := storedMsg(storedWhisperSubject(a, b), 7, `{"from":"민지"}`)
	w.Header.Set(proto.HeaderOrigin, a1.origin)
	f.fanOutStored(w)
	wf := encodeStored(proto.EventWhisper, w.Data, 7, true)
	wantFrames(t, "a1", outA1.got(), want)
	wantFrames(t, "a2", outA2.got(), append(want, wf))
	wantFrames(t, "b", outB.got(), append(want, wf))

	// b whispers to itself: both of b's subscriptions bring it.
	self := storedMsg(storedWhisperSubject(b, b), 8, `{"from":"ana"}`)
	f.fanOutStored(self)
	f.fanOutStored(self)
	sf := encodeStored(proto.EventWhisper, self.Data, 8, true)
	wantFrames(t, "b", outB.got(), append(want, wf, sf))
	wantFrames(t, "a2", outA2.got(), append(want, wf))
}

// TestFanOutNoticeSkipsTheUser: a join notice goes to the room's other
// members, not to the user it is about.
func TestFanOutNoticeSkipsTheUser(t *testing.T) {
	var outA, outB frames
	am := testMember("lobby", proto.SessionID("token-a"), "민지", &outA)
	bm := testMember("lobby", proto.SessionID("token-b"), "ana", &outB)
	f := newTestFanout(members{rooms: map[string][]*member{proto.Token("lobby"): {am, bm}}})
	msg := nats.NewMsg(proto.RoomPresenceSubject("lobby"))
	msg.Header.Set(proto.HeaderEvent, proto.EventJoin)
	msg.Data = []byte(`{"username":"민지"}`)
	f.fanOutNotice(msg)
	if got := outA.got(); len(got) != 0 {
		t.Fatalf("the user itself got its join: %q", got)
	}
	if got := outB.got(); len(got) != 1 || !bytes.Contains(got[0], []byte(`"join"`)) {
		t.Fatalf("the other member got %q, want the join", got)
	}
}

// TestGoLive: what a member is sent while its join (or recovery) is
// answered waits, and is sent once it goes live, in the order it came,
// without what the answer already carried: room messages through the
// one sequence, whispers through the other; notices always. After, it
// is sent directly, but for what the answer carried.
func TestGoLive(t *testing.T) {
	var out frames
	m := &member{out: &out}
	room := func(seq uint64) []byte { return []byte("room " + strconv.FormatUint(seq, 10)) }
	whisper := func(seq uint64) []byte { return []byte("whisper " + strconv.FormatUint(seq, 10)) }
	notice := []byte("notice")

	m.send(room(3), 3, false)
	m.send(whisper(4), 4, true)
	m.send(notice, 0, false)
	m.send(whisper(5), 5, true)
	m.send(room(6), 6, false)
	m.send(room(7), 7, false)
	if got := out.got(); len(got) != 0 {
		t.Fatalf("sent %q before going live", got)
	}
	m.goLive(6, 4) // the ack carried room messages through 6, whispers through 4
	wantFrames(t, "member", out.got(), [][]byte{notice, whisper(5), room(7)})
	m.send(room(8), 8, false)
	wantFrames(t, "member", out.got(), [][]byte{notice, whisper(5), room(7), room(8)})
	// A copy of what the answer carried that reaches the gateway late
	// (history ahead of the fan-out) is not sent: it would be a duplicate.
	m.send(room(6), 6, false)
	m.send(whisper(4), 4, true)
	m.send(notice, 0, false)
	wantFrames(t, "member", out.got(), [][]byte{notice, whisper(5), room(7), room(8), notice})

	t.Run("overflow", func(t *testing.T) {
		var out frames
		m := &member{out: &out}
		for seq := range uint64(maxPending + 1) {
			m.send(room(seq+1), seq+1, false)
		}
		if !out.closed {
			t.Fatal("a joining member that buffers past maxPending is not closed")
		}
	})
}

// cursored is an audience that keeps a cursor per room, as the hub does.
type cursored struct {
	members
	cursors map[string]*uint64
}

func (a cursored) roomCursor(token string) *uint64 {
	if a.cursors[token] == nil {
		a.cursors[token] = new(uint64)
	}
	return a.cursors[token]
}

// TestFanOutBackfill: a republished message whose predecessor on its
// subject (Nats-Last-Sequence) came after the last one delivered means
// the republish lost some (a stream leader killed between storing and
// republishing): they are read back and delivered first, in order; a
// copy of one delivered is not delivered again; a failed read back is
// counted, and what comes after still delivered.
func TestFanOutBackfill(t *testing.T) {
	var out frames
	m := testMember("lobby", proto.SessionID("token-a"), "민지", &out)
	m.joining.live.Store(true)
	subject := proto.RoomMsgSubject("lobby")
	stored := map[uint64]string{} // what the stream holds on subject
	var asked [][2]uint64
	var fail error
	aud := cursored{members{rooms: map[string][]*member{proto.Token("lobby"): {m}}}, map[string]*uint64{}}
	mt := newChatMetrics(nil)
	f := newFanout(aud, nil, true, newFloods(Config{}, mt.limited), mt, func(subj string, after, before uint64) ([]*jetstream.RawStreamMsg, error) {
		if subj != subject {
			t.Errorf("backfill of %q, want %q", subj, subject)
		}
		asked = append(asked, [2]uint64{after, before})
		var got []*jetstream.RawStreamMsg
		for seq := after + 1; seq < before; seq++ {
			if d, ok := stored[seq]; ok {
				got = append(got, &jetstream.RawStreamMsg{Sequence: seq, Data: []byte(d)})
			}
		}
		return got, fail
	})
	var want [][]byte
	deliver := func(seq, prev uint64, lost bool) {
		data := `{"id":"` + strconv.FormatUint(seq, 10) + `"}`
		stored[seq] = data
		if lost {
			return // stored, never republished
		}
		msg := storedMsg(proto.RoomStoredSubject("lobby"), seq, data)
		msg.Header.Set(jetstream.SubjectHeader, subject)
		msg.Header.Set(jetstream.LastSequenceHeader, strconv.FormatUint(prev, 10))
		f.fanOutStored(msg)
	}
	frame := func(seq uint64) []byte {
		return encodeStored(proto.EventServerMessage, []byte(`{"id":"`+strconv.FormatUint(seq, 10)+`"}`), seq, true)
	}

	deliver(3, 1, false) // the first since the room's subscription: no gap to see
	deliver(4, 3, false)
	deliver(6, 5, true)  // lost (5 is another room's)
	deliver(8, 6, true)  // lost
	deliver(9, 8, false) // says 8 came before: 6 and 8 are read back
	want = append(want, frame(3), frame(4), frame(6), frame(8), frame(9))
	wantFrames(t, "member", out.got(), want)
	if len(asked) != 1 || asked[0] != [2]uint64{4, 9} {
		t.Errorf("backfills asked %v, want one after 4 before 9", asked)
	}
	deliver(9, 8, false) // a copy
	wantFrames(t, "member", out.got(), want)

	fail = proto.ErrUnavailable
	deliver(10, 9, true)
	deliver(11, 10, false)
	want = append(want, frame(10), frame(11)) // 10 read before the error
	wantFrames(t, "member", out.got(), want)
	if got := testutil.ToFloat64(mt.backfilled.WithLabelValues(backfillOK)); got != 3 {
		t.Errorf("backfilled ok = %v, want 3", got)
	}
	if got := testutil.ToFloat64(mt.backfilled.WithLabelValues(backfillFailed)); got != 1 {
		t.Errorf("backfilled unavailable = %v, want 1", got)
	}
}
