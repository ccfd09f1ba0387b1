package history_test

import (
	"fmt"
	"testing"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/history"
)

// mid is the i-th test message id, written as the gateways write them.
func mid(i int) string { return fmt.Sprintf("01JZZZZZZZZZZZZZZZZZZZ%04d", i) }

// TestUnreadCountsAndRecentRooms: unread counts are capped at
// proto.MaxUnread, and a session remembers its proto.MaxReadRooms most
// recently read rooms, newest first.
func TestUnreadCountsAndRecentRooms(t *testing.T) {
	f := start(t, history.Config{})
	for i := range 150 {
		f.say(t, "busy", mid(i))
	}
	read := func(room, id string) proto.ReadMarkReply {
		t.Helper()
		r := ask[proto.ReadMark, proto.ReadMarkReply](t, f, proto.ReadMarkSubject, proto.ReadMark{User: sid("Ann"), Room: room, ID: id})
		if r.Error != nil {
			t.Fatalf("read %s in %s: %v", id, room, r.Error)
		}
		return r
	}
	if r := read("busy", mid(10)); r.Unread != proto.MaxUnread {
		t.Errorf("139 after the position: unread %d, want the cap %d", r.Unread, proto.MaxUnread)
	}
	if r := read("busy", mid(140)); r.Unread != 9 {
		t.Errorf("9 after the position: unread %d", r.Unread)
	}
	for i := range proto.MaxReadRooms {
		room := fmt.Sprintf("r%02d", i)
		f.say(t, room, mid(1000+i))
		read(room, mid(1000+i))
	}
	r := ask[proto.UnreadQuery, proto.UnreadReply](t, f, proto.UnreadQuerySubject, proto.UnreadQuery{User: sid("Ann")})
	if r.Error != nil || len(r.Rooms) != proto.MaxReadRooms {
		t.Fatalf("rooms: %d %v, want %d", len(r.Rooms), r.Error, proto.MaxReadRooms)
	}
	if first, last := r.Rooms[0], r.Rooms[len(r.Rooms)-1]; first.Room != fmt.Sprintf("r%02d", proto.MaxReadRooms-1) || last.Room != "r00" {
		t.Errorf("rooms from %s to %s, want the newest read first and busy forgotten", first.Room, last.Room)
	}
	// Someone else's positions are not Ann's.
	if r := ask[proto.UnreadQuery, proto.UnreadReply](t, f, proto.UnreadQuerySubject, proto.UnreadQuery{User: sid("Bob")}); len(r.Rooms) != 0 {
		t.Errorf("Bob's rooms: %+v", r.Rooms)
	}
	// Refused: not a session id, not a message id.
	for _, q := range []proto.ReadMark{{User: "ann", Room: "busy", ID: mid(1)}, {User: sid("Ann"), Room: "busy", ID: "m1"}} {
		if r := ask[proto.ReadMark, proto.ReadMarkReply](t, f, proto.ReadMarkSubject, q); r.Error == nil || r.Error.Code != proto.CodeBadRequest {
			t.Errorf("read %+v: %v, want bad_request", q, r.Error)
		}
	}
}
