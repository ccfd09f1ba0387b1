package proto

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Limits on what clients send, in characters (runes), not bytes.
const (
	MaxNameRunes    = 32
	MaxRoomRunes    = 32
	MaxMessageRunes = 2000
)

// NormalizeName returns a user name as natter keeps it: trimmed, in NFC,
// 1–32 characters of letters (Hangul included), marks, digits, space, "_"
// and "-". Anything else is ErrInvalidName.
func NormalizeName(s string) (string, error) {
	name, ok := normalize(s, MaxNameRunes, true)
	if !ok {
		return "", Errorf(CodeInvalidName, "a name is 1 to %d letters, digits, spaces, _ or -", MaxNameRunes)
	}
	return name, nil
}

// NormalizeRoom returns a room name as natter keeps it: trimmed, in NFC,
// 1–32 characters of letters, marks, digits, "_" and "-". An empty room is
// DefaultRoom.
func NormalizeRoom(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultRoom, nil
	}
	room, ok := normalize(s, MaxRoomRunes, false)
	if !ok {
		return "", Errorf(CodeInvalidRoom, "a room is 1 to %d letters, digits, _ or -", MaxRoomRunes)
	}
	return room, nil
}

func normalize(s string, max int, spaces bool) (string, bool) {
	if !utf8.ValidString(s) || len(s) > 4*max*4 {
		return "", false
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	n := 0
	for _, r := range s {
		n++
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r), r == '_', r == '-':
		case r == ' ' && spaces:
		default:
			return "", false
		}
	}
	return s, n >= 1 && n <= max
}

// NameKey returns the key under which a name is unique: names with the
// same key are the same name. It folds case and compatibility forms
// (fullwidth letters, ligatures).
func NameKey(name string) string {
	return cases.Fold().String(norm.NFKC.String(name))
}

// ValidateMessage checks a chat or whisper text: valid UTF-8, not blank,
// at most MaxMessageRunes characters.
func ValidateMessage(s string) error {
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalidMessage, "a message must be valid UTF-8")
	}
	if strings.TrimSpace(s) == "" {
		return Errorf(CodeInvalidMessage, "a message cannot be empty")
	}
	if len(s) > MaxMessageRunes && utf8.RuneCountInString(s) > MaxMessageRunes {
		return Errorf(CodeMessageTooLong, "a message is at most %d characters", MaxMessageRunes)
	}
	return nil
}
