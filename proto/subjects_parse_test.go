package proto

import "testing"

// TestSubjectsParsed: what the gateway reads back out of a subject is
// what was built into it.
func TestSubjectsParsed(t *testing.T) {
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
	a, b := SessionID("token-a"), SessionID("token-b")
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
