package presence

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// TestColourIsTheNames: a new session's colour is proto.ColorOf its name
// key, whichever colours are in use, so that a presence restarted on an
// empty store (make run's memory) gives each user the colour their
// history shows; a resync keeps the colour its gateway says.
func TestColourIsTheNames(t *testing.T) {
	// Each presence on a store of its own: the second is the first restarted.
	var services [2]*nats.Conn
	for i := range services {
		services[i], _, _ = runService(t, Config{}, NewMemoryStore(time.Hour, nil))
	}
	join := func(t *testing.T, svc int, req proto.PresenceJoin) proto.PresenceJoinReply {
		t.Helper()
		nc := services[svc]
		b, _ := json.Marshal(req)
		msg, err := nc.Request(proto.PresenceJoinSubject, b, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r proto.PresenceJoinReply
		if err := json.Unmarshal(msg.Data, &r); err != nil || r.Error != nil {
			t.Fatalf("join %+v: %+v, %v", req, r, err)
		}
		return r
	}
	names := []string{"민지", "Sam", "alice", "Bob", "김철수", "Carol", "dave", "Eve"}
	seen := map[string]bool{}
	for i, name := range names {
		want := proto.ColorOf(proto.NameKey(name))
		seen[want] = true
		for restart := range services {
			r := join(t, restart, proto.PresenceJoin{ConnRef: proto.ConnRef{Gateway: "gw", Conn: name}, Username: name, Room: "lobby"})
			if r.Color != want {
				t.Errorf("user %d %s, store %d: colour %s, want %s", i, name, restart, r.Color, want)
			}
		}
	}
	if len(seen) < 4 {
		t.Errorf("%d names share %d colours: the hash does not spread", len(names), len(seen))
	}
	other := proto.Palette[0]
	if other == proto.ColorOf(proto.NameKey("Sam2")) {
		other = proto.Palette[1]
	}
	r := join(t, 0, proto.PresenceJoin{ConnRef: proto.ConnRef{Gateway: "gw", Conn: "s"}, Username: "Sam2", Room: "lobby", Token: proto.NewToken(), Color: other, Resync: true})
	if r.Color != other {
		t.Errorf("resync: colour %s, want the gateway's %s", r.Color, other)
	}
}
