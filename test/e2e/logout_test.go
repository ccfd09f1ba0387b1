package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestLogoutEndsTheSession: a client's logout ends its session at once.
// Its other tab, on the other gateway, is disconnected by the server; the
// room is told once that the user left; the name is free for someone else
// at once; and the old token resumes nothing. (That no resync brings an
// ended session back is the store's contract: "a resync does not take back
// a reported close".)
func TestLogoutEndsTheSession(t *testing.T) {
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, gateway.Config{})
	g1, g2 := s.gateways[0].URL, s.gateways[1].URL
	nc := s.conns[0]

	tab1, tab2, joined := twoTabs(t, g1, g2, "Alice", "exit")
	bob := dialChatter(t, g1, "Bob", "exit")
	for _, c := range []*wsChatter{tab1, tab2, bob} {
		c.c.SetReadDeadline(time.Now().Add(30 * time.Second)) // no wait is endless
	}

	if ack := tab1.request(2, "logout", `{}`); ack != `{"ok":true}` {
		t.Fatalf("logout: %s", ack)
	}
	// The other tab: the server's namespace disconnect.
	if got := tab2.readUntil("41"); got != "41" {
		t.Fatalf("the other tab got %q, want a disconnect", got)
	}
	// The room: Alice left, once (her two tabs were one user).
	if got := bob.readUntil(`42["leave"`); !strings.Contains(got, `"username":"Alice"`) {
		t.Fatalf("Bob got %s", got)
	}
	if got := truth(t, nc, "exit"); !slices.Equal(got, []string{"Bob"}) {
		t.Fatalf("members after the logout: %v", got)
	}
	// The tab that logged out stays connected, joined to nothing.
	if ack := tab1.request(3, "client message", `{"message":"still here?"}`); !strings.Contains(ack, proto.CodeNotJoined) {
		t.Errorf("a message after logout: %s, want %s", ack, proto.CodeNotJoined)
	}
	// The token resumes nothing, with or without the name.
	for i, arg := range []string{
		fmt.Sprintf(`{"room":"exit","token":%q}`, joined.Token),
		fmt.Sprintf(`{"username":"Alice","room":"exit","token":%q}`, joined.Token),
	} {
		ack := tab1.request(4+i, "join", arg)
		var again proto.JoinAck
		json.Unmarshal([]byte(ack), &again)
		if again.OK && again.Token == joined.Token {
			t.Errorf("join %s resumed the ended session: %s", arg, ack)
		}
	}
	// Whoever joined as Alice just now holds a new session; the name was
	// free at once. Another client cannot take it from that one now.
	other := dialSocket(t, g2)
	if ack := other.request(1, "join", `{"username":"alice","room":"exit"}`); !strings.Contains(ack, proto.CodeNameTaken) {
		t.Errorf("alice while the new Alice is online: %s", ack)
	}
}

// twoTabs joins username to room in a tab on the gateway at g1, then a
// second tab of the same session on g2's; it returns them, and the first
// join's ack.
func twoTabs(t *testing.T, g1, g2, username, room string) (tab1, tab2 *wsChatter, joined proto.JoinAck) {
	t.Helper()
	tab1 = dialSocket(t, g1)
	ack := tab1.request(1, "join", fmt.Sprintf(`{"username":%q,"room":%q}`, username, room))
	if err := json.Unmarshal([]byte(ack), &joined); err != nil || !joined.OK || joined.Token == "" {
		t.Fatalf("join: %s %v", ack, err)
	}
	tab2 = dialSocket(t, g2)
	if ack := tab2.request(1, "join", fmt.Sprintf(`{"room":%q,"token":%q}`, room, joined.Token)); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("second tab: %s", ack)
	}
	return tab1, tab2, joined
}
