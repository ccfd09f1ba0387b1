package e2e

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// fuzzEventNames are the events a fuzzed sequence sends: the client
// events of proto/README.md, the server's own (which a client may send
// too), and unknown ones.
var fuzzEventNames = []string{
	proto.EventJoin, proto.EventClientMessage, proto.EventWhisper, proto.EventTyping,
	proto.EventMembers, proto.EventRooms, proto.EventHistory, proto.EventWhispers,
	proto.EventServerMessage, proto.EventLeave, "", "JOIN", "join ", "__proto__", "constructor",
	proto.EventRead,
}

// ackedEvents are those answered when the client asks: every client event
// but typing, which has no answer.
var ackedEvents = map[string]bool{
	proto.EventJoin: true, proto.EventClientMessage: true, proto.EventWhisper: true, proto.EventMembers: true,
	proto.EventRooms: true, proto.EventHistory: true, proto.EventWhispers: true, proto.EventRead: true,
}

// fuzzAckWait is how long an input's acks may take, all of them: under
// the fuzzer's 10 s, after which it reports a hung worker instead of the
// failure.
const fuzzAckWait = 8 * time.Second

// documentedCodes are the error codes of proto/README.md.
var documentedCodes = map[string]bool{
	proto.CodeInvalidName: true, proto.CodeNameTaken: true, proto.CodeInvalidRoom: true,
	proto.CodeInvalidMessage: true, proto.CodeMessageTooLong: true, proto.CodeNotJoined: true,
	proto.CodeNoSuchUser: true, proto.CodeRateLimited: true, proto.CodeBadRequest: true,
	proto.CodeUnavailable: true, proto.CodeUnknownOutcome: true, proto.CodeNoSuchMessage: true,
}

type fuzzEvent struct {
	name string
	ack  bool
	args []byte // JSON arguments, comma-separated, without the brackets
}

// decodeFuzzEvents reads a sequence of events from the fuzzer's bytes:
// for each, a byte choosing the name (its low 4 bits) and whether to ask
// for an ack (bit 4), a byte of length, and that many bytes of arguments.
// Arguments that are not valid JSON are sent as one JSON string of their
// text, and blank ones are none; a name index past the list takes the arguments' first word as the
// name. At most 16 events.
func decodeFuzzEvents(b []byte) []fuzzEvent {
	var out []fuzzEvent
	for len(b) >= 2 && len(out) < 16 {
		op, n := b[0], int(b[1])
		b = b[2:]
		n = min(n, len(b))
		args := b[:n]
		b = b[n:]
		e := fuzzEvent{ack: op&0x10 != 0}
		if i := int(op & 0x0f); i < len(fuzzEventNames) {
			e.name = fuzzEventNames[i]
		} else {
			e.name, _, _ = strings.Cut(string(args), " ")
		}
		if strings.TrimSpace(string(args)) == "" {
			args = nil // "[name, ]" would not parse
		} else if !json.Valid([]byte("[" + string(args) + "]")) {
			q, _ := json.Marshal(string(args))
			args = q
		}
		e.args = args
		out = append(out, e)
	}
	return out
}

func encodeFuzzEvents(events ...fuzzEvent) []byte {
	var b []byte
	for _, e := range events {
		op := byte(slices.Index(fuzzEventNames, e.name))
		if e.ack {
			op |= 0x10
		}
		b = append(b, op, byte(len(e.args)))
		b = append(b, e.args...)
	}
	return b
}

// FuzzChatEvents sends fuzzer-chosen sequences of Socket.IO events to a
// gateway (in this process, with presence and history, on an embedded
// NATS), one connection per sequence, and checks what the chat layer's
// handlers answer: no panic (it would end the process); each event that
// asked for an ack and is answered at all gets exactly one ack, {ok:true,
// …} or {ok:false, error:{code, message}} with a documented code; the
// known events but typing are always answered, the others never; the
// connection stays open, and a final rooms request is answered ok.
func FuzzChatEvents(f *testing.F) {
	off, err := gateway.ParseLimits("*.*=off")
	if err != nil {
		f.Fatal(err)
	}
	cfg := gateway.Config{Limits: off, MessageRate: 1e6, MessageBurst: 1e6}
	s := startSystemWith(f, presence.NewMemoryStore(2*time.Second, nil), 1, presence.Config{}, history.Config{}, cfg)
	base := s.gateways[0].URL

	ev := func(name string, ack bool, args string) fuzzEvent { return fuzzEvent{name, ack, []byte(args)} }
	f.Add(encodeFuzzEvents(
		ev("join", true, `{"username":"fuzzer","room":"fuzz"}`),
		ev("client message", true, `{"message":"hello","clientId":"c1"}`),
		ev("typing", false, `{"on":true}`),
		ev("members", true, `{}`),
		ev("history", true, `{"limit":5}`),
		ev("whisper", true, `{"to":"fuzzer","message":"psst"}`),
		ev("whispers", true, `{"with":"fuzzer"}`),
		ev("rooms", true, `{}`),
	))
	f.Add(encodeFuzzEvents(ev("client message", true, `{"message":"before joining"}`), ev("join", true, `{"username":"b"}`),
		ev("join", true, `{"username":"b","room":"other"}`), ev("typing", true, `{"on":false}`)))
	f.Add(encodeFuzzEvents(ev("join", true, `{"username":"\u202ex"}`), ev("members", true, `{"after":"zz","limit":101}`),
		ev("history", true, `{"before":"nope"}`), ev("whispers", true, `{"before":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}`)))
	f.Add(encodeFuzzEvents(ev("join", true, `{"username":"c"},{"extra":1}`), ev("join", true, `"c"`), ev("rooms", true, `1`),
		ev("members", true, ``), ev("history", true, `null`), ev("server message", true, `{}`), ev("JOIN", true, `{}`)))
	f.Add([]byte("\x1f\x05join x\x11\x03[1]"))

	f.Fuzz(func(t *testing.T, data []byte) {
		events := decodeFuzzEvents(data)
		cl, err := dialHErr(base, "127.0.0.1", "")
		if err != nil {
			t.Fatal(err)
		}
		cl.tb = t
		defer cl.close()
		type sent struct {
			e  fuzzEvent
			ch <-chan hack
		}
		var all []sent
		for _, e := range events {
			if !e.ack {
				name, _ := json.Marshal(e.name)
				args := ""
				if len(e.args) > 0 {
					args = "," + string(e.args)
				}
				cl.write("42[" + string(name) + args + "]")
				continue
			}
			all = append(all, sent{e, cl.emitRaw(e.name, string(e.args))})
		}
		final := cl.emitRaw("rooms", "{}")
		deadline := time.Now().Add(fuzzAckWait)
		for i, sn := range all {
			if !ackedEvents[sn.e.name] {
				continue
			}
			var a hack
			select {
			case a = <-sn.ch:
			case <-time.After(time.Until(deadline)):
				t.Fatalf("%q %s (ack %d): no ack", sn.e.name, sn.e.args, i)
			}
			checkAckShape(t, sn.e, a)
		}
		select {
		case a := <-final:
			if !a.OK {
				t.Fatalf("the final rooms request: %s", a.raw)
			}
		case <-time.After(time.Until(deadline)):
			t.Fatal("the final rooms request: no ack")
		}
		if cl.closed() {
			t.Fatal("the connection was closed")
		}
		// Exactly one ack per id, and none for the events that have no
		// answer (answered before the final rooms, which the handlers
		// answer in turn, if at all).
		count := map[int]int{}
		for _, fr := range cl.framesOf() {
			if rest, ok := strings.CutPrefix(fr, "43"); ok {
				id, _ := strconv.Atoi(rest[:max(strings.IndexByte(rest, '['), 0)])
				count[id]++
			}
		}
		for i, sn := range all {
			want := 0
			if ackedEvents[sn.e.name] {
				want = 1
			}
			if count[i] != want {
				t.Fatalf("%q %s: %d acks, want %d", sn.e.name, sn.e.args, count[i], want)
			}
		}
	})
}

// checkAckShape checks that an ack is one object, {ok:true,…} or
// {ok:false,error:{code,message}} with a documented code.
func checkAckShape(t *testing.T, e fuzzEvent, a hack) {
	t.Helper()
	var args []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(a.raw), &args); err != nil || len(args) != 1 {
		t.Fatalf("%q %s: ack %s is not one object", e.name, e.args, a.raw)
	}
	ok, has := args[0]["ok"]
	switch {
	case !has:
		t.Fatalf("%q %s: ack %s has no ok", e.name, e.args, a.raw)
	case string(ok) == "true":
	case string(ok) == "false":
		if a.Error == nil || !documentedCodes[a.Error.Code] || a.Error.Message == "" {
			t.Fatalf("%q %s: ack %s: want a documented code and a message", e.name, e.args, a.raw)
		}
	default:
		t.Fatalf("%q %s: ack %s: ok is %s", e.name, e.args, a.raw, ok)
	}
}
