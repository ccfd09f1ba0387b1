package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/kit/jwttest"
	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestRenameKeepsTheSession: a rename gives the session a new name on
// every gateway at once; it keeps its token, colour and whispers; the
// room is told once on each gateway; the old name is free, and a whisper
// to it no longer reaches the renamed session.
func TestRenameKeepsTheSession(t *testing.T) {
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, gateway.Config{})
	g1, g2 := s.gateways[0].URL, s.gateways[1].URL

	tab1, tab2, joined := twoTabs(t, g1, g2, "민지", "lounge")
	bob := dialChatter(t, g1, "Bob", "lounge")
	carol := dialChatter(t, g2, "Carol", "lounge")
	for _, c := range []*wsChatter{tab1, tab2, bob, carol} {
		c.c.SetReadDeadline(time.Now().Add(30 * time.Second)) // no wait is endless
	}
	if ack := bob.request(1, "whisper", `{"to":"민지","message":"before"}`); !strings.Contains(ack, `"ok":true`) {
		t.Fatalf("whisper before: %s", ack)
	}

	// Refusals first: nothing changes.
	stranger := dialSocket(t, g1)
	for _, tc := range []struct {
		c    *wsChatter
		arg  string
		code string
	}{
		{stranger, `{"username":"Zed"}`, proto.CodeNotJoined},
		{tab1, `{"username":"Bob"}`, proto.CodeNameTaken},
		{tab1, `{"username":"ＢＯＢ"}`, proto.CodeNameTaken},
		{tab1, `{"username":""}`, proto.CodeInvalidName},
		{tab1, `"지수"`, proto.CodeBadRequest},
	} {
		if ack := tc.c.request(2, "rename", tc.arg); !strings.Contains(ack, `"code":"`+tc.code+`"`) {
			t.Errorf("rename %s: %s, want %s", tc.arg, ack, tc.code)
		}
	}
	if ack := tab1.request(3, "rename", `{"username":"민지"}`); !strings.Contains(ack, `"ok":true`) {
		t.Errorf("rename to the same name: %s", ack)
	}

	tab1.send(`424["rename",{"username":"지수"}]`)
	want := fmt.Sprintf(`{"from":"민지","username":"지수","color":%q}`, joined.Color)
	if got := tab1.readUntil(`42["renamed"`); got != `42["renamed",`+want+`]` {
		t.Errorf("tab1 got %s, want renamed %s", got, want)
	}
	var renamed proto.RenameAck
	if ack := strings.TrimSuffix(strings.TrimPrefix(tab1.readUntil("434["), "434["), "]"); json.Unmarshal([]byte(ack), &renamed) != nil ||
		renamed != (proto.RenameAck{OK: true, Username: "지수", Color: joined.Color, Token: joined.Token}) {
		t.Fatalf("rename ack: %s", ack)
	}
	if got := tab2.readUntil(`42["renamed"`); got != `42["renamed",`+want+`]` {
		t.Errorf("tab2 got %s, want renamed %s", got, want)
	}
	notice := fmt.Sprintf(`42["user renamed",{"room":"lounge","from":"민지","username":"지수","color":%q}]`, joined.Color)
	for name, c := range map[string]*wsChatter{"Bob": bob, "Carol": carol} {
		if got := c.readUntil(`42["user renamed"`); got != notice {
			t.Errorf("%s got %s, want %s", name, got, notice)
		}
	}
	if got := truth(t, s.conns[0], "lounge"); !slices.Equal(got, []string{"Bob", "Carol", "지수"}) {
		t.Errorf("members: %v", got)
	}

	// The other tab, on the other gateway, speaks as 지수 already.
	tab2.send(`425["client message",{"message":"hi"}]`)
	if got := bob.readUntil(`42["server message"`); !strings.Contains(got, `"username":"지수"`) {
		t.Errorf("Bob got %s, want 지수's message", got)
	}
	// The old name is nobody's; the new one reaches the session.
	if ack := bob.request(2, "whisper", `{"to":"민지","message":"lost?"}`); !strings.Contains(ack, proto.CodeNoSuchUser) {
		t.Errorf("whisper to the old name: %s, want %s", ack, proto.CodeNoSuchUser)
	}
	if ack := bob.request(3, "whisper", `{"to":"지수","message":"after"}`); !strings.Contains(ack, `"ok":true`) {
		t.Errorf("whisper to the new name: %s", ack)
	}
	if got := tab1.readUntil(`42["whisper"`); !strings.Contains(got, `"message":"after"`) {
		t.Errorf("tab1 got %s, want the whisper", got)
	}
	var ws proto.WhispersAck
	if ack := tab1.request(6, "whispers", `{}`); json.Unmarshal([]byte(ack), &ws) != nil || len(ws.Whispers) != 2 ||
		ws.Whispers[0].Message != "before" || ws.Whispers[1].Message != "after" {
		t.Errorf("whispers after the rename: %s", ack)
	}
	// Someone else takes the old name at once; its whispers are theirs.
	if ack := dialSocket(t, g2).request(1, "join", `{"username":"민지","room":"lounge"}`); !strings.Contains(ack, `"ok":true`) {
		t.Errorf("join as the old name: %s", ack)
	}
	// The token resumes the session under its new name.
	var again proto.JoinAck
	if ack := dialSocket(t, g2).request(1, "join", fmt.Sprintf(`{"room":"lounge","token":%q}`, joined.Token)); json.Unmarshal([]byte(ack), &again) != nil ||
		again.Username != "지수" || again.Color != joined.Color {
		t.Errorf("resume after the rename: %s", ack)
	}
}

// TestRenameNode runs test/client/rename.test.mjs: the same through the
// official client, on two gateways.
func TestRenameNode(t *testing.T) {
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 2, presence.Config{}, history.Config{}, gateway.Config{})
	nodetest.Run(t, "rename.test.mjs", time.Minute, "NATTER_URL="+s.gateways[0].URL, "NATTER_URL_2="+s.gateways[1].URL)
}

// TestRenameRefusedToAnAuthenticatedUser: an authenticated connection's
// name is its token's: rename is forbidden, and its name stays.
func TestRenameRefusedToAnAuthenticatedUser(t *testing.T) {
	key := "a test secret of 32 bytes or more, for HS256"
	s := startSystemWith(t, presence.NewMemoryStore(0, nil), 1, presence.Config{}, history.Config{}, gateway.Config{
		Auth: gateway.AuthConfig{HS256Secret: gateway.Secret(key), Anonymous: true},
	})
	token := jwttest.Sign(t, "HS256", "", []byte(key), jwttest.Claims{"sub": "u-1", "name": "Alice", "exp": time.Now().Add(10 * time.Minute).Unix()})
	url := "ws" + strings.TrimPrefix(s.gateways[0].URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	w := &wsChatter{t, c}
	w.readUntil("0{")
	w.send(fmt.Sprintf(`40{"token":%q}`, token))
	w.readUntil("40")
	if ack := w.request(1, "join", `{"room":"lounge"}`); !strings.Contains(ack, `"username":"Alice"`) {
		t.Fatalf("join: %s", ack)
	}
	if ack := w.request(2, "rename", `{"username":"Mallory"}`); !strings.Contains(ack, `"code":"`+proto.CodeForbidden+`"`) {
		t.Errorf("rename: %s, want %s", ack, proto.CodeForbidden)
	}
	if got := truth(t, s.conns[0], "lounge"); !slices.Equal(got, []string{"Alice"}) {
		t.Errorf("members: %v", got)
	}
}
