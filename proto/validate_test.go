package proto

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNormalizeRoomMarks(t *testing.T) {
	for _, in := range []string{"\u0301", "x\u0300\u0301\u0302", "lo\u200bbby", "\u202elobby"} {
		if got, err := NormalizeRoom(in); err == nil {
			t.Errorf("NormalizeRoom(%q) = %q, want refused", in, got)
		}
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"01M8BGNADAMXADYZGNTCJF27AS", true},
		{"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true}, // the largest 128 bits
		{"00000000000000000000000000", true},
		{"", false},
		{"01M8BGNADAMXADYZGNTCJF27A", false},   // 25
		{"01M8BGNADAMXADYZGNTCJF27ASX", false}, // 27
		{"81M8BGNADAMXADYZGNTCJF27AS", false},  // over 128 bits
		{"01m8bgnadamxadyzgntcjf27as", false},  // lower case
		{"01NOTANIDTHATWASEVERSTORED", false},  // I and O are not in the alphabet
		{"01M8BGNADAMXADYZGNTCJF27A\x00", false},
		{"01M8BGNADAMXADYZGNTCJF27Aé", false},
	} {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
		err := ValidatePage(tc.id, 0)
		if want := tc.want || tc.id == ""; (err == nil) != want {
			t.Errorf("ValidatePage(%q, 0) = %v", tc.id, err)
		}
	}
}

func TestValidateClientID(t *testing.T) {
	for _, id := range []string{"", "1", "3f2c9a1e-8d7b-4c6a-9e5f-0a1b2c3d4e5f", strings.Repeat("x", MaxClientIDBytes)} {
		if err := ValidateClientID(id); err != nil {
			t.Errorf("ValidateClientID(%d bytes) = %v", len(id), err)
		}
	}
	err := ValidateClientID(strings.Repeat("x", MaxClientIDBytes+1))
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeBadRequest {
		t.Errorf("a clientId too long: %v, want %s", err, CodeBadRequest)
	}
}

func TestValidatePageLimit(t *testing.T) {
	for limit, ok := range map[int]bool{-1: false, 0: true, 1: true, MaxHistoryPage: true, MaxHistoryPage + 1: false} {
		if err := ValidatePage("", limit); (err == nil) != ok {
			t.Errorf("ValidatePage(\"\", %d) = %v", limit, err)
		}
	}
}

func TestValidateMessage(t *testing.T) {
	tests := []struct {
		name string
		in   string
		code string // "" means accepted
	}{
		{"plain", "hello", ""},
		{"lines and tabs", "one\n\ttwo\n", ""},
		{"Korean", "안녕하세요 민지", ""},
		{"Korean conjoining jamo", norm.NFD.String("한국어"), ""},
		{"Vietnamese", "Ngô Bảo Châu nói tiếng Việt", ""},
		{"Vietnamese decomposed", norm.NFD.String("Nguyễn Thị Hạnh ệ"), ""},
		{"Devanagari", "नमस्ते दुनिया, क्षत्रिय", ""},
		{"Thai", "สวัสดีครับ กิ่ง น้ำ", ""},
		{"Arabic with harakat", "مُحَمَّدٌ السَّلَامُ عَلَيْكُمْ", ""},
		{"Hebrew with points", "שָׁלוֹם", ""},
		{"Hebrew with a right-to-left mark", "שלום\u200f!", ""},
		{"emoji family", "👨\u200d👩\u200d👧\u200d👦", ""},
		{"emoji with variation selectors", "👁\ufe0f\u200d🗨\ufe0f", ""},
		{"keycap", "1\ufe0f\u20e3", ""},
		{"skin tone", "👍🏽", ""},
		{"flag of England", "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F", ""},
		{"replacement character typed", "\ufffd", ""},
		{"four marks", "e\u0300\u0301\u0302\u0303", ""},
		{"2000 characters", strings.Repeat("가", MaxMessageRunes), ""},

		{"invalid UTF-8", "ab\xffcd", CodeInvalidMessage},
		{"a lone surrogate encoded", "a\xed\xa0\x80", CodeInvalidMessage},
		{"empty", "", CodeInvalidMessage},
		{"blank", " \n\t ", CodeInvalidMessage},
		{"ideographic space only", "\u3000", CodeInvalidMessage},
		{"NUL", "a\x00b", CodeInvalidMessage},
		{"terminal escape", "\x1b[2J\x1b[31mred", CodeInvalidMessage},
		{"carriage return", "a\r\nb", CodeInvalidMessage},
		{"delete", "a\x7f", CodeInvalidMessage},
		{"C1 control", "a\u009bb", CodeInvalidMessage},
		{"right-to-left override", "abc\u202egpj.exe", CodeInvalidMessage},
		{"left-to-right embedding", "\u202aabc", CodeInvalidMessage},
		{"pop directional formatting", "abc\u202c", CodeInvalidMessage},
		{"right-to-left isolate", "\u2067abc\u2069", CodeInvalidMessage},
		{"pop directional isolate", "abc\u2069", CodeInvalidMessage},
		{"zero-width spaces only", "\u200b\u200b", CodeInvalidMessage},
		{"joiners and selectors only", "\u200d\ufe0f\u2060", CodeInvalidMessage},
		{"Hangul filler only", "\u3164\u3164", CodeInvalidMessage},
		{"blank braille only", "\u2800", CodeInvalidMessage},
		{"BOM and spaces", "\ufeff  ", CodeInvalidMessage},
		{"five marks", "e\u0300\u0301\u0302\u0303\u0304", CodeInvalidMessage},
		{"zalgo", "a" + strings.Repeat("\u0336", 1999), CodeInvalidMessage},
		{"marks split by a joiner", "a\u0300\u0301\u0302\u200d\u0303\u0304", CodeInvalidMessage},
		{"2001 characters", strings.Repeat("가", MaxMessageRunes+1), CodeMessageTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateMessage(tc.in)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("ValidateMessage(%q) = %v, want accepted", tc.in, err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("ValidateMessage(%q) = %v, want %s", tc.in, err, tc.code)
			}
		})
	}
}

// FuzzValidateMessage: ValidateMessage answers any text without
// panicking, and what it accepts holds the documented rules.
func FuzzValidateMessage(f *testing.F) {
	for _, s := range []string{"hello", "a\u0300\u0301", "\u202e", "\x1b[0m", "\xff", "👨\u200d👩", "\u200b", " ", "مُحَمَّد"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateMessage(s)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || (pe.Code != CodeInvalidMessage && pe.Code != CodeMessageTooLong) {
				t.Fatalf("ValidateMessage(%q) = %v", s, err)
			}
			return
		}
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxMessageRunes {
			t.Fatalf("accepted %q", s)
		}
		visible := false
		for _, r := range s {
			if (unicode.IsControl(r) && r != '\n' && r != '\t') || bidiControl(r) {
				t.Fatalf("accepted %q with U+%04X", s, r)
			}
			visible = visible || !(unicode.IsSpace(r) || invisible(r))
		}
		if !visible {
			t.Fatalf("accepted %q, which shows nothing", s)
		}
	})
}
