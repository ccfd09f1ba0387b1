package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/natter/natter/kit/nodetest"
	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// TestNamesInProcess runs test/client/names.test.mjs: every look-alike of
// an online name is refused (name_taken or invalid_name) through the
// official client, and the valid ones are accepted once the name is free.
// Sessions live 2 s after their last connection, so that freed names come
// back quickly.
func TestNamesInProcess(t *testing.T) {
	const ttl = 2 * time.Second
	// One connection tries every variant in turn: its joins are not
	// flood-controlled here (TestFloods is about that).
	limits, err := gateway.ParseLimits("join.*=off")
	if err != nil {
		t.Fatal(err)
	}
	s := startSystemWith(t, presence.NewMemoryStore(ttl, nil), 2, presence.Config{Grace: 200 * time.Millisecond},
		history.Config{}, gateway.Config{Limits: limits})
	nodetest.Run(t, "names.test.mjs", 3*time.Minute, "NATTER_URL="+s.gateways[0].URL,
		"NATTER_URL_2="+s.gateways[1].URL, fmt.Sprintf("NATTER_FREE_MS=%d", (ttl+time.Second).Milliseconds()))
}

// messageProbes are what a hostile client sends as a message's text, as
// the JSON string it writes (bytes that need not be UTF-8), and the code
// the ack must carry.
var messageProbes = []struct {
	name, text, code string
}{
	{"invalid UTF-8", "\"ab\xffcd\"", proto.CodeInvalidMessage},
	{"a surrogate in UTF-8", "\"\xed\xa0\x80\"", proto.CodeInvalidMessage},
	{"overlong UTF-8", "\"\xc0\xaf\"", proto.CodeInvalidMessage},
	{"a lone high surrogate escaped", `"a\ud800b"`, proto.CodeInvalidMessage},
	{"a lone low surrogate escaped", `"\udc00"`, proto.CodeInvalidMessage},
	{"NUL", `"a\u0000b"`, proto.CodeInvalidMessage},
	{"terminal escapes", `"\u001b[2J\u001b[31mred"`, proto.CodeInvalidMessage},
	{"C1 control", `"a\u009bb"`, proto.CodeInvalidMessage},
	{"carriage return", `"a\r\nb"`, proto.CodeInvalidMessage},
	{"right-to-left override", `"abc\u202egpj.exe"`, proto.CodeInvalidMessage},
	{"right-to-left isolate", `"\u2067abc\u2069"`, proto.CodeInvalidMessage},
	{"zero-width spaces only", `"\u200b\u200b\u200b"`, proto.CodeInvalidMessage},
	{"joiners and variation selectors only", `"\u200d\ufe0f\u2060"`, proto.CodeInvalidMessage},
	{"Hangul fillers only", `"\u3164\u3164"`, proto.CodeInvalidMessage},
	{"blank", `" \n\t "`, proto.CodeInvalidMessage},
	{"1,999 combining marks", `"a` + strings.Repeat(`\u0336`, 1999) + `"`, proto.CodeInvalidMessage},
	{"five marks on a letter", `"e\u0300\u0301\u0302\u0303\u0304"`, proto.CodeInvalidMessage},

	{"an emoji pair escaped", `"\ud83d\ude00"`, ""},
	{"Korean", `"안녕하세요"`, ""},
	{"Vietnamese decomposed", `"Nguye\u0302\u0303n"`, ""},
	{"Devanagari", `"नमस्ते"`, ""},
	{"Thai", `"กิ่ง น้ำ"`, ""},
	{"Arabic with harakat", `"مُحَمَّدٌ"`, ""},
	{"emoji ZWJ sequence", `"👨\u200d👩\u200d👧\u200d👦"`, ""},
	{"lines and tabs", `"one\n\ttwo"`, ""},
}

// TestMessageValidationRaw sends each message probe with a raw WebSocket
// client, as a room message and as a whisper, and the byte-level ones by
// polling too: the acks carry the documented codes, and the room's
// history holds the accepted texts and nothing else (no U+FFFD where
// invalid bytes were).
func TestMessageValidationRaw(t *testing.T) {
	s := startSystem(t, presence.NewMemoryStore(0, nil), 1, presence.Config{})
	base := s.gateways[0].URL
	ws := rawJoin(t, base, "prober")
	rawJoin(t, base, "listener")

	accepted := map[string]bool{}
	for i, p := range messageProbes {
		t.Run(p.name, func(t *testing.T) {
			msg := fmt.Sprintf(`%d["client message",{"message":%s}]`, 2*i, p.text)
			wsCheckAck(t, ws, msg, 2*i, p.code)
			whisper := fmt.Sprintf(`%d["whisper",{"to":"listener","message":%s}]`, 2*i+1, p.text)
			wsCheckAck(t, ws, whisper, 2*i+1, p.code)
		})
		if p.code == "" {
			var text string
			if err := json.Unmarshal([]byte(p.text), &text); err != nil {
				t.Fatal(err)
			}
			accepted[text] = true
		}
	}

	t.Run("polling", func(t *testing.T) {
		sid := pollOpen(t, base)
		if got := pollPost(t, base, sid, `420["join",{"username":"poller"}]`); got != 200 {
			t.Fatalf("join: %d", got)
		}
		if got := pollGet(t, base, sid); !strings.HasPrefix(got, `430[{"ok":true`) {
			t.Fatalf("join answered %q", got)
		}
		for i, p := range messageProbes[:5] {
			post := fmt.Sprintf(`42%d["client message",{"message":%s}]`, i+1, p.text)
			if got := pollPost(t, base, sid, post); got != 200 {
				t.Fatalf("%s: POST %d", p.name, got)
			}
			ack := pollGet(t, base, sid)
			if want := fmt.Sprintf(`43%d[{"ok":false,"error":{"code":"%s"`, i+1, p.code); !strings.HasPrefix(ack, want) {
				t.Errorf("%s by polling: ack %q, want %s…", p.name, ack, want)
			}
		}
	})

	for _, m := range s.history(t, proto.DefaultRoom) {
		if !accepted[m.Message] {
			t.Errorf("history holds %q, which was refused", m.Message)
		}
		delete(accepted, m.Message)
	}
	for text := range accepted {
		t.Errorf("history lacks %q, which was acked", text)
	}
}

// rawJoin opens a Socket.IO connection on base with a raw WebSocket and
// joins the lobby as username.
func rawJoin(tb testing.TB, base, username string) *websocket.Conn {
	tb.Helper()
	c, _, err := websocket.DefaultDialer.Dial(wsURL(base, ""), nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	if open := wsRead(tb, c); !strings.HasPrefix(open, "0{") {
		tb.Fatalf("open: %q", open)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		tb.Fatal(err)
	}
	wsUntil(tb, c, "40{", "")
	join := fmt.Sprintf(`42999["join",{"username":%q}]`, username)
	if err := c.WriteMessage(websocket.TextMessage, []byte(join)); err != nil {
		tb.Fatal(err)
	}
	if ack := wsUntil(tb, c, "43999[", ""); !strings.HasPrefix(ack, `43999[{"ok":true`) {
		tb.Fatalf("join as %s: %s", username, ack)
	}
	return c
}

// wsCheckAck sends frame "42"+payload and checks that its ack (id) is
// ok:true when code is "", else ok:false with code and a message.
func wsCheckAck(tb testing.TB, c *websocket.Conn, payload string, id int, code string) {
	tb.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte("42"+payload)); err != nil {
		tb.Fatal(err)
	}
	ack := wsUntil(tb, c, fmt.Sprintf("43%d[", id), "")
	var res []struct {
		OK    bool         `json:"ok"`
		Error *proto.Error `json:"error"`
	}
	if err := json.Unmarshal([]byte(ack[len(fmt.Sprintf("43%d", id)):]), &res); err != nil || len(res) != 1 {
		tb.Fatalf("ack %q: %v", ack, err)
	}
	switch r := res[0]; {
	case code == "" && !r.OK:
		tb.Errorf("refused: %q", ack)
	case code != "" && (r.OK || r.Error == nil || r.Error.Code != code || r.Error.Message == ""):
		tb.Errorf("ack %q, want %s", ack, code)
	}
}
