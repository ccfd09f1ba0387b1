package proto

import (
	"strings"
	"testing"
)

func TestGatewaySubjects(t *testing.T) {
	for _, tc := range []struct {
		name, subject string
		build         func(string) string
		kind          string
	}{
		{"http", "natter.gateway.gw-1.http", GatewayHTTPSubject, GatewayHTTP},
		{"cancel", "natter.gateway.gw-1.cancel", GatewayCancelSubject, GatewayCancel},
		{"addr", "natter.gateway.gw-1.addr", GatewayAddrSubject, GatewayAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.build("gw-1"); got != tc.subject {
				t.Errorf("built %q, want %q", got, tc.subject)
			}
			id, kind, ok := ParseGatewaySubject(tc.subject)
			if !ok || id != "gw-1" || kind != tc.kind {
				t.Errorf("ParseGatewaySubject(%q) = %q, %q, %v", tc.subject, id, kind, ok)
			}
		})
	}
}

func TestParseGatewaySubjectRefuses(t *testing.T) {
	for _, subject := range []string{
		GatewayHeartbeatSubject,
		"natter.gateway.gw1",
		"natter.gateway.gw1.other",
		"natter.gateway.gw1.http.more",
		"natter.gateway..http",
		"natter.gateway.g*.http",
		"natter.presence.gw1.http",
		"",
	} {
		if id, kind, ok := ParseGatewaySubject(subject); ok {
			t.Errorf("ParseGatewaySubject(%q) = %q, %q, true", subject, id, kind)
		}
	}
}

// TestSubjectsParsed: what the gateway reads back out of a subject is
// what was built into it.
func TestSubjectsParsed(t *testing.T) {
	for _, room := range []string{"lobby", "한국어 방", "a.b"} {
		if got, ok, err := ParseRoomMsgSubject(RoomMsgSubject(room)); got != room || !ok || err != nil {
			t.Errorf("ParseRoomMsgSubject(RoomMsgSubject(%q)) = %q, %v, %v", room, got, ok, err)
		}
	}
	if _, ok, _ := ParseRoomMsgSubject(RoomStoredSubject("lobby")); ok {
		t.Error("ParseRoomMsgSubject took a stored subject for a message subject")
	}
	if _, ok, err := ParseRoomMsgSubject(RoomMsgPrefix + "!!"); !ok || err == nil {
		t.Errorf("ParseRoomMsgSubject of a bad token: ok %v, err %v; want ok and an error", ok, err)
	}
	a, b := SessionID("token-a"), SessionID("token-b")
	if x, y, ok := ParseWhisperMsgSubject(WhisperMsgSubject(b, a)); !ok || x+y != min(a, b)+max(a, b) {
		t.Errorf("ParseWhisperMsgSubject(WhisperMsgSubject) = %q, %q, %v", x, y, ok)
	}
	for _, s := range []string{WhisperMsgPrefix + "alice.bob", RoomMsgSubject("lobby"), WhisperMsgPrefix + a} {
		if _, _, ok := ParseWhisperMsgSubject(s); ok {
			t.Errorf("ParseWhisperMsgSubject(%q) ok", s)
		}
	}
	for _, room := range []string{"lobby", "한국어 방", "a.b"} {
		tok := Token(room)
		for _, subject := range []string{RoomPresenceSubject(room), RoomTypingSubject(room)} {
			if got := RoomLiveToken(subject); got != tok {
				t.Errorf("RoomLiveToken(%q) = %q, want %q", subject, got, tok)
			}
		}
		if got, ok := StoredRoomToken(RoomStoredSubject(room)); !ok || got != tok {
			t.Errorf("StoredRoomToken(%q) = %q, %v", RoomStoredSubject(room), got, ok)
		}
	}
	stored := StoredWhisperPrefix + WhisperMsgSubject(a, b)[len(WhisperMsgPrefix):]
	if x, y, isWhisper, ok := StoredWhisperParties(stored); !isWhisper || !ok || x+y != min(a, b)+max(a, b) {
		t.Errorf("StoredWhisperParties(%q) = %q, %q, %v, %v", stored, x, y, isWhisper, ok)
	}
	if _, ok := StoredRoomToken(stored); ok {
		t.Errorf("StoredRoomToken(%q) ok", stored)
	}
	if _, _, isWhisper, _ := StoredWhisperParties(RoomStoredSubject("lobby")); isWhisper {
		t.Error("a room message taken for a whisper")
	}
}

// TestAPISubjects: the server API's subjects and the system's session,
// which whispers of the API come from.
func TestAPISubjects(t *testing.T) {
	if !ValidSessionID(SystemSessionID) {
		t.Errorf("SystemSessionID %q is not a session id in form", SystemSessionID)
	}
	a := SessionID(NewToken())
	if x, y, ok := ParseWhisperMsgSubject(WhisperMsgSubject(SystemSessionID, a)); !ok || x+y != min(a, SystemSessionID)+max(a, SystemSessionID) {
		t.Errorf("a whisper from the system: %q %q %v", x, y, ok)
	}
	seen := map[string]bool{}
	for _, op := range APIOps {
		s := APISubject(op)
		if seen[s] || strings.ContainsAny(s, "*> ") || !strings.HasPrefix(APIPath(op), APIPrefix) {
			t.Errorf("op %q: subject %q, path %q", op, s, APIPath(op))
		}
		seen[s] = true
		if _, _, ok := ParseGatewaySubject(s); ok {
			t.Errorf("%q parses as a gateway's subject", s)
		}
	}
	if len(seen) != len(APIOps) || len(seen) < 13 {
		t.Errorf("%d API subjects, want %d", len(seen), len(APIOps))
	}
	// The events stream keeps every room's presence notices, nothing else.
	if got, want := EventsStreamSubjects, "natter.live.*."+LivePresence; got != want {
		t.Errorf("EventsStreamSubjects = %q, want %q", got, want)
	}
}
