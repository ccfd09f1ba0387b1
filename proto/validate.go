package proto

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits on what clients send, in characters (runes), not bytes.
const (
	MaxNameRunes    = 32
	MaxRoomRunes    = 32
	MaxMessageRunes = 2000
	// MaxClientIDBytes bounds a resendable message's clientId.
	MaxClientIDBytes = 128
)

// NormalizeRoom returns a room name as natter keeps it: trimmed, in NFC,
// 1–32 characters of letters, marks, digits, "_" and "-". An empty room is
// DefaultRoom.
func NormalizeRoom(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultRoom, nil
	}
	room, ok := normalize(s, MaxRoomRunes)
	if !ok {
		return "", Errorf(CodeInvalidRoom, "a room is 1 to %d letters, digits, _ or -", MaxRoomRunes)
	}
	return room, nil
}

// maxMarks is how many combining marks may follow one letter or digit:
// enough for the accents of living scripts in NFC, too few to stack a
// glyph over its neighbours.
const maxMarks = 2

// normalize returns a room trimmed and in NFC if it is 1 to max letters,
// marks (at most maxMarks after a letter or digit), digits, "_" and "-".
func normalize(s string, max int) (string, bool) {
	if !utf8.ValidString(s) || len(s) > 4*max*4 {
		return "", false
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	n, marks := 0, -1 // marks: in a row; -1 after anything but a letter or digit
	for _, r := range s {
		n++
		switch {
		case ignorable(r):
			return "", false
		case unicode.Is(unicode.Me, r):
			// Enclosing marks draw a circle or a box around their
			// neighbours, the way no name needs.
			return "", false
		case unicode.IsMark(r):
			if marks < 0 || marks == maxMarks {
				return "", false
			}
			marks++
			continue
		case unicode.IsLetter(r), unicode.IsDigit(r):
			marks = 0
			continue
		case r == '_', r == '-':
		default:
			return "", false
		}
		marks = -1
	}
	return s, n >= 1 && n <= max
}

// ignorable reports whether r is invisible or steers the text's layout
// rather than being part of it: a control or format character (bidi
// controls, zero-width space, joiners, BOM), or a default-ignorable code
// point that Unicode classes as a letter or mark (Hangul fillers,
// variation selectors).
func ignorable(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(defaultIgnorable, r)
}

// defaultIgnorable is Unicode's Default_Ignorable_Code_Point (as of
// Unicode 15), which overlaps the format characters.
var defaultIgnorable = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x00AD, Hi: 0x00AD, Stride: 1}, // soft hyphen
		{Lo: 0x034F, Hi: 0x034F, Stride: 1}, // combining grapheme joiner
		{Lo: 0x061C, Hi: 0x061C, Stride: 1}, // Arabic letter mark
		{Lo: 0x115F, Hi: 0x1160, Stride: 1}, // Hangul choseong and jungseong fillers
		{Lo: 0x17B4, Hi: 0x17B5, Stride: 1}, // Khmer inherent vowels
		{Lo: 0x180B, Hi: 0x180F, Stride: 1}, // Mongolian variation selectors, vowel separator
		{Lo: 0x200B, Hi: 0x200F, Stride: 1}, // zero-width space, non-joiner, joiner; LRM, RLM
		{Lo: 0x202A, Hi: 0x202E, Stride: 1}, // bidi embeddings and overrides
		{Lo: 0x2060, Hi: 0x206F, Stride: 1}, // word joiner, invisible operators, bidi isolates
		{Lo: 0x3164, Hi: 0x3164, Stride: 1}, // Hangul filler
		{Lo: 0xFE00, Hi: 0xFE0F, Stride: 1}, // variation selectors
		{Lo: 0xFEFF, Hi: 0xFEFF, Stride: 1}, // zero-width no-break space (BOM)
		{Lo: 0xFFA0, Hi: 0xFFA0, Stride: 1}, // halfwidth Hangul filler
		{Lo: 0xFFF0, Hi: 0xFFF8, Stride: 1}, // unassigned specials
	},
	R32: []unicode.Range32{
		{Lo: 0x1BCA0, Hi: 0x1BCA3, Stride: 1}, // shorthand format controls
		{Lo: 0x1D173, Hi: 0x1D17A, Stride: 1}, // musical formatting
		{Lo: 0xE0000, Hi: 0xE0FFF, Stride: 1}, // tags, variation selectors supplement
	},
}

// ValidateMessage checks a chat or whisper text: valid UTF-8, at most
// MaxMessageRunes characters, something visible in it, no control
// characters but newline and tab, no bidi embeddings, overrides or
// isolates, and at most maxMessageMarks combining marks on a character.
// Left-to-right and right-to-left marks (U+200E, U+200F, U+061C) are
// allowed: they only place punctuation between scripts, and cannot
// reorder the text around them.
func ValidateMessage(s string) error {
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalidMessage, "a message must be valid UTF-8")
	}
	if len(s) > MaxMessageRunes && utf8.RuneCountInString(s) > MaxMessageRunes {
		return Errorf(CodeMessageTooLong, "a message is at most %d characters", MaxMessageRunes)
	}
	visible, marks := false, 0 // marks: on the last character
	for _, r := range s {
		switch {
		case r == '\n', r == '\t':
			marks = 0
		case unicode.IsControl(r):
			return Errorf(CodeInvalidMessage, "a message cannot hold control characters but newline and tab (U+%04X)", r)
		case unicode.IsSpace(r):
			marks = 0
		case bidiControl(r):
			return Errorf(CodeInvalidMessage, "a message cannot hold bidi embeddings, overrides or isolates (U+%04X)", r)
		case invisible(r):
			// Joiners and variation selectors belong to the
			// character before: marks after them still count.
		case unicode.IsMark(r):
			if marks++; marks > maxMessageMarks {
				return Errorf(CodeInvalidMessage, "a character takes at most %d combining marks", maxMessageMarks)
			}
			visible = true
		default:
			visible, marks = true, 0
		}
	}
	if !visible {
		return Errorf(CodeInvalidMessage, "a message cannot be empty, blank or invisible")
	}
	return nil
}

// maxMessageMarks is how many combining marks may follow one character of
// a message: enough for Vietnamese written decomposed, Hebrew with points
// and cantillation, Arabic with harakat; too few to draw over the lines
// around it.
const maxMessageMarks = 4

// bidiControl reports whether r opens or closes a bidi embedding, override
// or isolate (U+202A–U+202E, U+2066–U+2069), which reorder or hide the
// text up to their end, or up to the end of the line when left open.
func bidiControl(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// invisible reports whether r draws nothing: a format character
// (zero-width space, joiners, bidi marks), another default-ignorable code
// point (variation selectors, Hangul fillers), or the blank braille
// pattern that is often passed off as a space.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(defaultIgnorable, r) || r == 0x2800
}

// ValidateClientID checks a message's clientId: optional, at most
// MaxClientIDBytes. It is only ever hashed, so any text will do.
func ValidateClientID(id string) error {
	if len(id) > MaxClientIDBytes {
		return Errorf(CodeBadRequest, "a clientId is at most %d bytes", MaxClientIDBytes)
	}
	return nil
}

// ValidatePage checks the page a history or whispers request asks for:
// before is empty or a message id; limit is at most MaxHistoryPage, 0
// meaning HistoryOnJoin.
func ValidatePage(before string, limit int) error {
	if before != "" && !ValidID(before) {
		return Errorf(CodeBadRequest, "before is the id of a message")
	}
	if limit < 0 || limit > MaxHistoryPage {
		return Errorf(CodeBadRequest, "limit is at most %d (0 or none: %d)", MaxHistoryPage, HistoryOnJoin)
	}
	return nil
}

// ValidID tells whether id is written as the gateways write message ids:
// 26 characters of Crockford's base32, in upper case, the first at most 7
// (128 bits).
func ValidID(id string) bool {
	if len(id) != 26 || id[0] > '7' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(IDAlphabet, id[i]) < 0 {
			return false
		}
	}
	return true
}

// IDAlphabet is Crockford's base32 alphabet, in which ids are written, in
// ASCII order, so that ids sort as their bytes do.
const IDAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
