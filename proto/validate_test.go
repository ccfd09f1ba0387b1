package proto

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

func TestNameKey(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "alice", "alice"},
		{"capital", "Alice", "alice"},
		{"all capitals", "ALICE", "alice"},
		{"Cyrillic а", "\u0430lice", "alice"},
		{"Cyrillic capital А", "\u0410lice", "alice"},
		{"zero-width space", "al\u200bice", "alice"},
		{"zero-width joiner and BOM", "\ufeffali\u200dce", "alice"},
		{"bidi override", "\u202ealice\u202c", "alice"},
		{"fullwidth", "ａｌｉｃｅ", "alice"},
		{"fullwidth capitals", "ＡＬＩＣＥ", "alice"},
		{"Cyrillic о, р, с, е, у, х", "\u043e\u0440\u0441\u0435\u0443\u0445", "opceyx"},
		{"Cyrillic і, ј, ѕ, ԁ, ɡ", "\u0456\u0458\u0455\u0501\u0261", "ijsdg"},
		{"Greek small letters", "οανικρτυχ", "oavikptux"},
		{"Greek capitals", "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "abezhikmnoptyx"},
		{"Greek capital Ν is N, small ν is v", "Νν", "nv"},
		{"accented Cyrillic ё is Latin ë", "\u0451", "\u00eb"},
		{"mixed scripts", "Рауре\u0430l", "paypeal"},
		{"digits stay digits", "alice1", "alice1"},
		{"l stays l", "alicel", "alicel"},
		{"zero stays zero", "b0b", "b0b"},
		{"Hangul", "김철수", "김철수"},
		{"Hangul decomposed", norm.NFD.String("한글"), norm.NFC.String("한글")},
		{"Hangul with a filler", "김\u3164철수", "김철수"},
		{"ligature", "ﬁ", "fi"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NameKey(tc.in); got != tc.want {
				t.Errorf("NameKey(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNameKeyDistinct(t *testing.T) {
	tests := []struct{ a, b string }{
		{"alice1", "alicel"},
		{"bob0", "bobo"},
		{"김철수", "김철호"},
		{"한글", "한굴"},
		{"한", "ㅎㅏㄴ"}, // compatibility jamo are not the syllable
		{"josé", "jose"},
		{"Ελένη", "Eλενη"},
		{"алиса", "alisa"}, // Cyrillic л and и look like nothing Latin
	}
	for _, tc := range tests {
		t.Run(tc.a+" "+tc.b, func(t *testing.T) {
			if ka, kb := NameKey(tc.a), NameKey(tc.b); ka == kb {
				t.Errorf("NameKey(%q) = NameKey(%q) = %q, want distinct keys", tc.a, tc.b, ka)
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" means refused
	}{
		{"plain", "alice", "alice"},
		{"trimmed", "  Alice B  ", "Alice B"},
		{"Cyrillic а is a letter", "\u0430lice", "\u0430lice"},
		{"fullwidth is kept as typed", "ａｌｉｃｅ", "ａｌｉｃｅ"},
		{"Hangul", "김철수", "김철수"},
		{"Hangul decomposed is composed", norm.NFD.String("한글"), norm.NFC.String("한글")},
		{"one accent", "jose\u0301", "jos\u00e9"},
		{"two marks", "e\u0301\u0323", norm.NFC.String("e\u0301\u0323")},
		{"Vietnamese", "Nguyễn", "Nguyễn"},
		{"underscore and hyphen", "a_b-c", "a_b-c"},
		{"32 characters", strings.Repeat("가", 32), strings.Repeat("가", 32)},

		{"empty", "", ""},
		{"blank", "   ", ""},
		{"33 characters", strings.Repeat("가", 33), ""},
		{"zero-width space", "al\u200bice", ""},
		{"zero-width non-joiner", "al\u200cice", ""},
		{"zero-width joiner", "al\u200dice", ""},
		{"word joiner", "al\u2060ice", ""},
		{"BOM", "\ufeffalice", ""},
		{"soft hyphen", "al\u00adice", ""},
		{"left-to-right mark", "alice\u200e", ""},
		{"right-to-left mark", "alice\u200f", ""},
		{"Arabic letter mark", "alice\u061c", ""},
		{"right-to-left override", "\u202ealice", ""},
		{"left-to-right embedding", "\u202aalice", ""},
		{"pop directional formatting", "alice\u202c", ""},
		{"right-to-left isolate", "\u2067alice\u2069", ""},
		{"first strong isolate", "\u2068alice", ""},
		{"control", "ali\x07ce", ""},
		{"newline", "ali\nce", ""},
		{"tab", "ali\tce", ""},
		{"Hangul filler", "\u3164", ""},
		{"Hangul filler inside", "김\u3164철수", ""},
		{"halfwidth Hangul filler", "\uffa0", ""},
		{"variation selector", "a\ufe0f", ""},
		{"combining grapheme joiner", "a\u034fb", ""},
		{"only a mark", "\u0301", ""},
		{"only marks", "\u0301\u0302\u0303", ""},
		{"leading mark", "\u0301alice", ""},
		{"mark after a space", "a \u0301b", ""},
		{"three marks in a row", "x\u0300\u0301\u0302", ""},
		{"three marks after composing", "a\u0300\u0301\u0302\u0303", ""},
		{"enclosing mark", "a\u20dd", ""},
		{"keycap", "1\u20e3", ""},
		{"zalgo", "a\u0300\u0301\u0302\u0303\u0304\u0305", ""},
		{"punctuation", "alice!", ""},
		{"emoji", "alice😀", ""},
		{"invalid UTF-8", "ali\xffce", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeName(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("NormalizeName(%q) = %q, want refused", tc.in, got)
				}
				var pe *Error
				if !errors.As(err, &pe) || pe.Code != CodeInvalidName {
					t.Errorf("NormalizeName(%q) error %v, want %s", tc.in, err, CodeInvalidName)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("NormalizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestImpostors is the acceptance list: every impostor of alice
// is either refused or has alice's key.
func TestImpostors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		refused bool
	}{
		{"capital", "Alice", false},
		{"Cyrillic а", "\u0430lice", false},
		{"zero-width space", "alice\u200b", true},
		{"zero-width space inside", "ali\u200bce", true},
		{"fullwidth", "ａｌｉｃｅ", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name, err := NormalizeName(tc.in)
			if (err != nil) != tc.refused {
				t.Fatalf("NormalizeName(%q) = %q, %v; want refused %v", tc.in, name, err, tc.refused)
			}
			if got := NameKey(tc.in); got != "alice" {
				t.Errorf("NameKey(%q) = %q, want alice", tc.in, got)
			}
		})
	}
}

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
