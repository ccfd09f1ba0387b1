package presence

import (
	"slices"
	"testing"
	"time"
)

// testSeveralRooms: a gateway's connection in several rooms is a presence
// connection per room (the gateway's rooms.go: the socket's id, and
// "id#room" for each room kept besides), all of one session. Each room
// counts the user once, whatever tabs and rooms; a leave of one room
// announces that room only, and only when no tab of the user is left in
// it; a lost connection lingers in every room and is reaped from each.
func testSeveralRooms(t *testing.T, open openStore) {
	t.Run("one connection in several rooms", func(t *testing.T) {
		const grace = 400 * time.Millisecond
		s, elapse := open(t, time.Hour)
		alice := join(t, s, JoinParams{Conn: conn("a"), Username: "Alice", Room: "lobby", NewToken: "ta"})
		kept := join(t, s, JoinParams{Conn: conn("a#kitchen"), Username: "Alice", Token: "ta", Room: "kitchen", NewToken: "unused"})
		if kept.Session != alice.Session || !kept.Joined || kept.LeftRoom != "" {
			t.Fatalf("the kept room's join = %+v, want Alice's session joined, leaving nothing", kept)
		}
		join(t, s, JoinParams{Conn: conn("b"), Username: "Bob", Room: "kitchen", NewToken: "tb"})
		tab := join(t, s, JoinParams{Conn: conn("a2"), Token: "ta", Room: "kitchen", NewToken: "unused"})
		if tab.Joined {
			t.Error("a tab of Alice's in kitchen, where her other connection is, announced as a join")
		}
		if got, want := rooms(t, s), []RoomCount{{"kitchen", 2}, {"lobby", 1}}; !slices.Equal(got, want) {
			t.Errorf("Rooms = %v, want %v", got, want)
		}
		if got := online(t, s); got != 2 {
			t.Errorf("Online = %d, want 2 (Alice once, Bob)", got)
		}

		// Leaving kitchen: not announced while her tab is there, then once.
		if got := leaves([]LeaveResult{leave(t, s, conn("a#kitchen"))}); !slices.Equal(got, []string{"Alice stayed in kitchen"}) {
			t.Errorf("leave of the kept room = %v, want her to stay in kitchen (her tab)", got)
		}
		if got := leaves([]LeaveResult{leave(t, s, conn("a2"))}); !slices.Equal(got, []string{"Alice left kitchen"}) {
			t.Errorf("leave of the tab = %v, want Alice left kitchen", got)
		}
		if got := roomNames(t, s, "lobby"); !slices.Equal(got, []string{"Alice"}) {
			t.Errorf("lobby = %v, want Alice still", got)
		}

		// Lost: every room's presence connection lingers, and each room is
		// told once the grace has passed.
		join(t, s, JoinParams{Conn: conn("a#kitchen"), Token: "ta", Room: "kitchen", NewToken: "unused"})
		for _, c := range []string{"a", "a#kitchen"} {
			if res := lingering(t, s, conn(c), grace); res.Left {
				t.Errorf("Linger(%s) = %+v: left at once", c, res)
			}
		}
		if got := roomNames(t, s, "kitchen"); !slices.Equal(got, []string{"Alice", "Bob"}) {
			t.Errorf("kitchen while Alice lingers = %v, want [Alice Bob]", got)
		}
		elapse(grace)
		if got, want := leaves(reap(t, s)), []string{"Alice left kitchen", "Alice left lobby"}; !slices.Equal(got, want) {
			t.Errorf("Reap = %v, want %v", got, want)
		}
		if got := online(t, s); got != 1 {
			t.Errorf("Online after the reap = %d, want 1", got)
		}
	})
}
