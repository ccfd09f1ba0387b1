package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natter/natter/kit/redistest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/presence"
)

// TestReadPositionsFollowTheSession: a session's read position in a room,
// kept by history, gives the unread count in its room list; the count goes
// up with the messages of others, back to 0 on a read, is the same on a
// second connection of the session (the token, another gateway), and
// never moves backwards, however two tabs race.
func TestReadPositionsFollowTheSession(t *testing.T) {
	rdb := redistest.Start(t).Client(t)
	s := startSystem(t, presence.NewRedisStore(rdb, "natter:", 0), 2, presence.Config{})
	g1, g2 := s.gateways[0].URL, s.gateways[1].URL

	alice := dialSocket(t, g1)
	var joined proto.JoinAck
	if ack := alice.request(1, "join", `{"username":"민지","room":"lobby"}`); json.Unmarshal([]byte(ack), &joined) != nil || !joined.OK {
		t.Fatalf("join: %s", ack)
	}
	bob := dialChatter(t, g2, "Bob", "lobby")
	for _, c := range []*wsChatter{alice, bob} {
		c.c.SetReadDeadline(time.Now().Add(time.Minute)) // no wait is endless
	}
	ack := 10
	say := func(text string) string {
		ack++
		var sent proto.SentAck
		if got := bob.request(ack, "client message", fmt.Sprintf(`{"message":%q}`, text)); json.Unmarshal([]byte(got), &sent) != nil || !sent.OK {
			t.Fatalf("send: %s", got)
		}
		return sent.ID
	}
	ids := []string{say("one"), say("two"), say("three")}

	// Never read: no count.
	if r := roomListing(t, alice, 2, "lobby"); r.Unread != nil || r.Read != "" || r.Count != 2 {
		t.Fatalf("lobby before a read: %+v", r)
	}
	if got := readAck(t, alice, 3, "lobby", ids[0]); got.Read != ids[0] || got.Unread != 2 {
		t.Fatalf("read of the first: %+v, want 2 unread", got)
	}
	ids = append(ids, say("four"), say("five"))
	if r := roomListing(t, alice, 4, "lobby"); r.Unread == nil || *r.Unread != 4 || r.Read != ids[0] {
		t.Fatalf("lobby after two more: %+v, want 4 unread after %s", r, ids[0])
	}

	// The second connection of the session, on the other gateway and in
	// another room, sees the same.
	tab2 := dialSocket(t, g2)
	tab2.c.SetReadDeadline(time.Now().Add(time.Minute))
	if got := tab2.request(1, "join", fmt.Sprintf(`{"room":"side","token":%q}`, joined.Token)); !strings.Contains(got, `"ok":true`) {
		t.Fatalf("second tab: %s", got)
	}
	if r := roomListing(t, tab2, 2, "lobby"); r.Unread == nil || *r.Unread != 4 || r.Read != ids[0] {
		t.Fatalf("lobby from the second tab: %+v", r)
	}
	// Read there, back to 0 here.
	if got := readAck(t, tab2, 3, "lobby", ids[4]); got.Unread != 0 || got.Read != ids[4] {
		t.Fatalf("read of the newest: %+v", got)
	}
	if r := roomListing(t, alice, 5, "lobby"); r.Unread == nil || *r.Unread != 0 {
		t.Fatalf("lobby after reading all: %+v", r)
	}
	// Never backwards.
	if got := readAck(t, alice, 6, "lobby", ids[1]); got.Read != ids[4] || got.Unread != 0 {
		t.Fatalf("a read behind the position: %+v, want it kept at %s", got, ids[4])
	}
	// Two tabs racing over the same room end at the furthest.
	ids = append(ids, say("six"), say("seven"), say("eight"))
	var wg sync.WaitGroup
	for i, tab := range []*wsChatter{alice, tab2} {
		order := []string{ids[5], ids[7], ids[6]}
		if i == 1 {
			order = []string{ids[7], ids[6], ids[5]}
		}
		wg.Go(func() {
			for j, id := range order {
				if got := tab.request(20+j, "read", fmt.Sprintf(`{"room":"lobby","id":%q}`, id)); !strings.Contains(got, `"ok":true`) {
					t.Errorf("read %s: %s", id, got)
				}
			}
		})
	}
	wg.Wait()
	if r := roomListing(t, tab2, 30, "lobby"); r.Unread == nil || *r.Unread != 0 || r.Read != ids[7] {
		t.Fatalf("after the race: %+v, want read at %s", r, ids[7])
	}
	// A room with users that the session never read: listed, with no count.
	if r := roomListing(t, tab2, 31, "side"); r.Count != 1 || r.Unread != nil {
		t.Fatalf("side: %+v", r)
	}
	// Read while empty (no id): what comes after counts.
	if got := readAck(t, tab2, 32, "side", ""); got.Read != "" || got.Unread != 0 {
		t.Fatalf("read of an empty room: %+v", got)
	}
	if got := tab2.request(33, "client message", `{"message":"anyone?"}`); !strings.Contains(got, `"ok":true`) {
		t.Fatalf("send in side: %s", got)
	}
	if r := roomListing(t, alice, 34, "side"); r.Unread == nil || *r.Unread != 1 || r.Read != "" {
		t.Fatalf("side after a message: %+v, want 1 unread", r)
	}

	// Refused: not joined, no message id, another room's message, a bad room.
	stranger := dialSocket(t, g1)
	stranger.c.SetReadDeadline(time.Now().Add(time.Minute))
	for _, tc := range []struct {
		c         *wsChatter
		arg, code string
	}{
		{stranger, fmt.Sprintf(`{"room":"lobby","id":%q}`, ids[0]), proto.CodeNotJoined},
		{alice, `{"room":"lobby","id":"nope"}`, proto.CodeBadRequest},
		{alice, `"lobby"`, proto.CodeBadRequest},
		{alice, fmt.Sprintf(`{"room":"side","id":%q}`, ids[0]), proto.CodeNoSuchMessage},
		{alice, fmt.Sprintf(`{"room":"no room!","id":%q}`, ids[0]), proto.CodeInvalidRoom},
	} {
		if got := tc.c.request(40, "read", tc.arg); !strings.Contains(got, `"code":"`+tc.code+`"`) {
			t.Errorf("read %s: %s, want %s", tc.arg, got, tc.code)
		}
	}
}

// roomListing asks c's rooms and returns room's entry (zero if absent).
func roomListing(t *testing.T, c *wsChatter, id int, room string) proto.RoomListing {
	t.Helper()
	var ack proto.RoomListAck
	if got := c.request(id, "rooms", `{}`); json.Unmarshal([]byte(got), &ack) != nil || !ack.OK {
		t.Fatalf("rooms: %s", got)
	}
	for _, r := range ack.Rooms {
		if r.Room == room {
			return r
		}
	}
	return proto.RoomListing{}
}

// readAck moves c's read position in room to id ("": to the newest).
func readAck(t *testing.T, c *wsChatter, ackID int, room, id string) proto.ReadAck {
	t.Helper()
	var ack proto.ReadAck
	arg := fmt.Sprintf(`{"room":%q,"id":%q}`, room, id)
	if id == "" {
		arg = fmt.Sprintf(`{"room":%q}`, room)
	}
	if got := c.request(ackID, "read", arg); json.Unmarshal([]byte(got), &ack) != nil || !ack.OK {
		t.Fatalf("read %s: %s", id, got)
	}
	return ack
}
