package gateway

import (
	"errors"
	"testing"

	"github.com/natter/natter/kit/natstest"
	"github.com/natter/natter/proto"
)

// TestHubConnectionInSeveralRooms: a connection kept in two rooms gets
// each room's messages once and a whisper once (its session's group holds
// it once, by its current member); leaving one room stops that room's
// deliveries and drops its subscriptions, the other room becoming the
// current one; a plain join moves it out of all of them.
func TestHubConnectionInSeveralRooms(t *testing.T) {
	nc := natstest.Connect(t, natstest.Run(t).ClientURL())
	h, _, _ := newTestHub(t, nc, nil)
	f := newTestFanout(h)
	a, b := proto.SessionID("token-a"), proto.SessionID("token-b")
	var out, outB frames // one socket's, whatever room
	lobby, kitchen := testMember("lobby", a, "민지", &out), testMember("kitchen", a, "민지", &out)
	bm := testMember("kitchen", b, "ana", &outB)
	cn, cb := &conn{}, &conn{}
	subs := func(want int) {
		t.Helper()
		if got := nc.NumSubscriptions(); got != want {
			t.Fatalf("%d subscriptions, want %d", got, want)
		}
	}

	if old := h.place(cn, lobby); len(old) != 0 {
		t.Fatalf("a first join took out %d members", len(old))
	}
	h.add(cn, kitchen)
	h.place(cb, bm)
	subs(8) // two rooms' two, a's two, b's two
	if cn.cur.Load() != kitchen || len(h.user(a)) != 1 || h.user(a)[0] != kitchen {
		t.Fatalf("current %v, a's connections %v: want the kitchen member, once", cn.cur.Load(), h.user(a))
	}
	if got := cn.roomNames(); len(got) != 2 || got[0] != "lobby" || got[1] != "kitchen" {
		t.Fatalf("rooms %q, want lobby then kitchen", got)
	}

	var want [][]byte
	deliver := func(room string, seq uint64) {
		msg := storedMsg(proto.RoomStoredSubject(room), seq, `{"room":"`+room+`"}`)
		f.fanOutStored(msg)
		want = append(want, encodeStored(proto.EventServerMessage, msg.Data, seq, true))
	}
	deliver("lobby", 1)
	deliver("kitchen", 2)
	w := storedMsg(storedWhisperSubject(b, a), 3, `{"from":"ana"}`)
	w.Header.Set(proto.HeaderOrigin, bm.origin)
	f.fanOutStored(w)
	want = append(want, encodeStored(proto.EventWhisper, w.Data, 3, true))
	wantFrames(t, "a's socket", out.got(), want)
	if got := len(outB.got()); got != 1 { // kitchen's message; its own whisper not back to it
		t.Fatalf("b got %d frames, want 1 (kitchen's message)", got)
	}

	// Leaving kitchen: its messages stop, lobby's go on, lobby is current.
	if m := h.leave(cn, "kitchen"); m != kitchen {
		t.Fatalf("leave returned %v, want the kitchen member", m)
	}
	if m := h.leave(cn, "kitchen"); m != nil {
		t.Fatal("left kitchen twice")
	}
	subs(8) // lobby's two, kitchen's two (b is there), a's two, b's two
	if cn.cur.Load() != lobby || len(h.user(a)) != 1 || h.user(a)[0] != lobby {
		t.Fatal("after leaving kitchen, lobby is not the current room and a's only entry")
	}
	f.fanOutStored(storedMsg(proto.RoomStoredSubject("kitchen"), 4, `{"room":"kitchen"}`))
	deliver("lobby", 5)
	wantFrames(t, "a's socket", out.got(), want)

	// A plain join moves the connection out of every room.
	h.add(cn, testMember("kitchen", a, "민지", &out))
	garden := testMember("garden", a, "민지", &out)
	if old := h.place(cn, garden); len(old) != 2 {
		t.Fatalf("a plain join took out %d members, want 2", len(old))
	}
	if h.room(proto.Token("lobby")) != nil || len(h.room(proto.Token("kitchen"))) != 1 || cn.cur.Load() != garden {
		t.Fatal("a plain join did not move the connection to garden alone")
	}
	h.removeConn(cn)
	h.removeConn(cb)
	subs(0)
}

// TestInRoom: an event without a room is the current room's; one that
// names a room of the connection, that room's; another room is
// not_in_room, and a room against the rules invalid_room.
func TestInRoom(t *testing.T) {
	nc := natstest.Connect(t, natstest.Run(t).ClientURL())
	h, _, _ := newTestHub(t, nc, nil)
	cn := &conn{}
	lobby, kitchen := testMember("lobby", "s", "민지", nil), testMember("kitchen", "s", "민지", nil)
	h.place(cn, lobby)
	h.add(cn, kitchen)
	for _, c := range []struct {
		room string
		want *member
		code string
	}{{"", kitchen, ""}, {"lobby", lobby, ""}, {"kitchen", kitchen, ""}, {"garden", nil, proto.CodeNotInRoom}, {"no room!", nil, proto.CodeInvalidRoom}} {
		m, err := inRoom(cn, cn.cur.Load(), c.room)
		var pe *proto.Error
		if m != c.want || (c.code == "") != (err == nil) || (err != nil && (!errors.As(err, &pe) || pe.Code != c.code)) {
			t.Errorf("inRoom(%q) = %v, %v; want %v, %s", c.room, m, err, c.want, c.code)
		}
	}
}

// TestSharedHoldbackKeepsArrivalOrder: the members of a recovered
// connection share one holdback, so what waited for its rooms goes out in
// the order it came, less what the recovery sent already.
func TestSharedHoldbackKeepsArrivalOrder(t *testing.T) {
	var out frames
	first := &member{out: &out}
	second := &member{out: &out, shared: &first.joining}
	frame := func(n string) []byte { return []byte(n) }
	first.send(frame("1"), 1, false) // sent by the recovery already
	second.send(frame("2"), 2, false)
	first.send(frame("3"), 3, false)
	second.send(frame("n"), 0, false) // a notice
	if len(out.got()) != 0 {
		t.Fatal("sent before the recovery went live")
	}
	first.goLive(1, 1)
	second.send(frame("4"), 4, false)
	wantFrames(t, "the socket", out.got(), [][]byte{frame("2"), frame("3"), frame("n"), frame("4")})
}
