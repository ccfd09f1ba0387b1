package presence

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/natter/natter/proto"
)

// TestIdentityTokenOpensItsSession: a join with an identity token (an
// authenticated user's, from a gateway) opens the session under that
// token, so a second connection of the identity, which never saw an ack,
// is the same user: not name_taken, and no second join announced; after
// its connections are gone, the token opens it again.
func TestIdentityTokenOpensItsSession(t *testing.T) {
	nc, _, _ := runService(t, Config{}, NewMemoryStore(time.Hour, nil))
	token := proto.IdentityToken("https://id.example", "u-1", proto.NameKey("Alice"))
	join := func(c proto.ConnRef) proto.PresenceJoinReply {
		t.Helper()
		b, _ := json.Marshal(proto.PresenceJoin{ConnRef: c, Username: "Alice", Room: "lobby", Token: token})
		msg, err := nc.Request(proto.PresenceJoinSubject, b, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r proto.PresenceJoinReply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := join(proto.ConnRef{Gateway: "gw1", Conn: "a"})
	if first.Error != nil || first.Token != token || first.SessionID != proto.SessionID(token) {
		t.Fatalf("first join: %+v", first)
	}
	second := join(proto.ConnRef{Gateway: "gw2", Conn: "b"})
	if second.Error != nil || second.Token != token || second.MemberCount != 1 || second.Color != first.Color {
		t.Fatalf("second connection of the identity: %+v", second)
	}
	// An anonymous Alice is another session: the name is held.
	b, _ := json.Marshal(proto.PresenceJoin{ConnRef: proto.ConnRef{Gateway: "gw1", Conn: "c"}, Username: "alice", Room: "lobby"})
	msg, err := nc.Request(proto.PresenceJoinSubject, b, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var anon proto.PresenceJoinReply
	json.Unmarshal(msg.Data, &anon)
	if anon.Error == nil || anon.Error.Code != proto.CodeNameTaken {
		t.Fatalf("anonymous alice: %+v", anon)
	}
}
