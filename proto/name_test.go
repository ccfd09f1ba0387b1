package proto

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

// impostors are the look-alikes of an online name: each is either
// refused outright (invalid_name, the reason in Refused) or has the
// original's key, so that presence answers name_taken while the original
// is online. test/e2e probes the same list through a real client.
var impostors = []struct {
	Name, Original, Variant string
	Refused                 string // part of the invalid_name message; "" if the variant is valid
}{
	{"capital I for l", "alice", "aIice", ""},
	{"dental click for l", "alice", "a\u01c0ice", ""},
	{"Latin capital iota for l", "alice", "a\u0196ice", ""},
	{"small capital C", "alice", "ali\u1d04e", ""},
	{"Cyrillic che for e", "alice", "alic\u04bde", "one script"},
	{"Cyrillic iota for i", "alice", "al\ua647ce", "one script"},
	{"Cherokee for ADMIN", "ADMIN", "\u13aa\u13a0\u13b7\u13c6\u13c1", "Cherokee"},
	{"combining dot below", "alice", "alic\u0323e", ""},
	{"dot below composed", "alice", "a\u0323lice", ""},
	{"combining macron below", "alice", "al\u0331ice", ""},
	{"stroke overlay", "alice", "a\u0336lice", "strike through"},
	{"short stroke overlay", "alice", "al\u0335ice", "strike through"},
	{"doubled inner space", "alice b", "alice  b", ""},
	{"Cyrillic а", "alice", "\u0430lice", "one script"},
	{"all Cyrillic", "papa", "\u0440\u0430\u0440\u0430", ""},
	{"Greek capitals", "NINA", "\u039d\u0399\u039d\u0391", ""},
	{"Cyrillic capitals", "TOM", "\u0422\u041e\u041c", ""},
	{"capital", "alice", "Alice", ""},
	{"fullwidth", "alice", "ａｌｉｃｅ", ""},
	{"zero for o", "bob", "b0b", ""},
	{"one for l", "alicel", "alice1", ""},
	{"m as rn", "admin", "adrnin", ""},
	{"zero-width space", "alice", "ali\u200bce", "invisible"},
	{"right-to-left override", "alice", "\u202ealice", "invisible"},
	{"Hangul filler", "alice", "alice\u3164", "invisible"},
}

func TestImpostors(t *testing.T) {
	for _, tc := range impostors {
		t.Run(tc.Name, func(t *testing.T) {
			orig, err := NormalizeName(tc.Original)
			if err != nil {
				t.Fatalf("the original %q: %v", tc.Original, err)
			}
			name, err := NormalizeName(tc.Variant)
			if tc.Refused != "" {
				var pe *Error
				if !errors.As(err, &pe) || pe.Code != CodeInvalidName || !strings.Contains(pe.Message, tc.Refused) {
					t.Fatalf("NormalizeName(%q) = %q, %v; want invalid_name saying %q", tc.Variant, name, err, tc.Refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeName(%q): %v", tc.Variant, err)
			}
			if ko, kv := NameKey(orig), NameKey(name); ko != kv {
				t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q; want one key", orig, ko, name, kv)
			}
		})
	}
}

func TestNameKeySame(t *testing.T) {
	tests := []struct{ a, b string }{
		{"alice", "ALICE"},
		{"Ελένη", "ΕΛΈΝΗ"},
		{"Иван", "ИВАН"},
		{"Łukasz", "łUKASZ"},
		{"alice", "al\u200bice"},
		{"alice", "\ufeffali\u200dce"},
		{"alice", "\u202ealice\u202c"},
		{"alice", "ＡＬＩＣＥ"},
		{"fi", "ﬁ"},
		{"김철수", "김\u3164철수"},
		{norm.NFC.String("한글"), norm.NFD.String("한글")},
		{"한", "ㅎㅏㄴ"}, // compatibility jamo: ㄴ is ᆫ's prototype
		{"josé", "jose\u0301"},
		{"Paypal", "\u0420\u0430\u0443\u0440\u0430l"},
	}
	for _, tc := range tests {
		t.Run(tc.a+" "+tc.b, func(t *testing.T) {
			if ka, kb := NameKey(tc.a), NameKey(tc.b); ka != kb {
				t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q; want one key", tc.a, ka, tc.b, kb)
			}
		})
	}
}

func TestNameKeyDistinct(t *testing.T) {
	tests := []struct{ a, b string }{
		{"김철수", "김철호"},
		{"한글", "한굴"},
		{"josé", "jose"},
		{"Zoë", "Zoe"},
		{"Łukasz", "Lukasz"},
		{"Ελένη", "Eλενη"},
		{"алиса", "alisa"}, // Cyrillic л and и look like nothing Latin
		{"alice", "alicia"},
		{"alice", "al ice"},
		{"bob", "bab"},
		{"민지", "민자"},
		{"山田", "田山"},
	}
	for _, tc := range tests {
		t.Run(tc.a+" "+tc.b, func(t *testing.T) {
			if ka, kb := NameKey(tc.a), NameKey(tc.b); ka == kb {
				t.Errorf("NameKey(%q) = NameKey(%q) = %q, want distinct keys", tc.a, tc.b, ka)
			}
		})
	}
}

// TestNameKeyStable: a key is its own key, so keys can be compared with
// keys of keys, and applying NameKey twice changes nothing.
func TestNameKeyStable(t *testing.T) {
	for _, in := range []string{"alice", "aIice", "ADMIN", "рара", "ΝΙΝΑ", "Łukasz", "김철수", "ヤマダ", "Ngô Bảo Châu"} {
		k := NameKey(in)
		if k2 := NameKey(k); k2 != k {
			t.Errorf("NameKey(%q) = %q, whose key is %q", in, k, k2)
		}
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
		{"inner spaces made one", "Alice   B", "Alice B"},
		{"fullwidth is kept as typed", "ａｌｉｃｅ", "ａｌｉｃｅ"},
		{"Korean", "민지", "민지"},
		{"Korean full name", "김철수", "김철수"},
		{"Hangul decomposed is composed", norm.NFD.String("한글"), norm.NFC.String("한글")},
		{"one accent", "jose\u0301", "jos\u00e9"},
		{"José", "José", "José"},
		{"Zoë", "Zoë", "Zoë"},
		{"Łukasz", "Łukasz", "Łukasz"},
		{"Vietnamese", "Ngô Bảo Châu", "Ngô Bảo Châu"},
		{"Vietnamese decomposed", norm.NFD.String("Nguyễn Thị Hạnh"), "Nguyễn Thị Hạnh"},
		{"two marks", "e\u0301\u0323", norm.NFC.String("e\u0301\u0323")},
		{"Cyrillic", "Иван", "Иван"},
		{"Greek", "Ελένη", "Ελένη"},
		{"Japanese kanji and kana", "山田はなこ", "山田はなこ"},
		{"Japanese katakana with the long mark", "ユーザー", "ユーザー"},
		{"Japanese with Latin", "Taro山田", "Taro山田"},
		{"Chinese", "王小明", "王小明"},
		{"Chinese with Bopomofo", "ㄅㄆ王", "ㄅㄆ王"},
		{"Korean with Hanja and Latin", "김金Kim", "김金Kim"},
		{"Arabic", "محمد", "محمد"},
		{"Arabic with harakat", "مُحَمَّد", "مُحَمَّد"},
		{"Hebrew", "דוד", "דוד"},
		{"Devanagari", "राम", "राम"},
		{"Devanagari conjuncts", "क्षत्रिय", "क्षत्रिय"},
		{"Thai", "สมชาย", "สมชาย"},
		{"Thai tone marks", "น้ำใส", "น้ำใส"},
		{"digits go with any script", "Иван2", "Иван2"},
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
		{"no-break space", "ali\u00a0ce", ""},
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
		{"stroke overlay", "a\u0336lice", ""},
		{"slash overlay", "o\u0338", ""},
		{"enclosing mark", "a\u20dd", ""},
		{"keycap", "1\u20e3", ""},
		{"zalgo", "a\u0300\u0301\u0302\u0303\u0304\u0305", ""},
		{"Latin and Cyrillic", "\u0430lice", ""},
		{"Latin and Greek", "alicε", ""},
		{"Cyrillic and Greek", "Ивαн", ""},
		{"Hangul and Kana", "민지やま", ""},
		{"Hangul and Bopomofo", "민ㄅ", ""},
		{"Cherokee", "\u13aa\u13a0\u13b7\u13c6\u13c1", ""},
		{"Runic", "ᚠᚢᚦ", ""},
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

// FuzzNormalizeName: whatever a client sends as a name, NormalizeName
// answers without panicking; what it accepts is in NFC, within the limits,
// normalizes to itself and has a key that is its own key.
func FuzzNormalizeName(f *testing.F) {
	for _, tc := range impostors {
		f.Add(tc.Original)
		f.Add(tc.Variant)
	}
	for _, s := range []string{"", " ", "민지", "Ngô Bảo Châu", "a\u0300\u0301\u0302", "\xff", "ᄀ\u1160"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := NormalizeName(s)
		if len(s) <= 4*4*MaxNameRunes { // as NormalizeName bounds it
			if k := NameKey(s); NameKey(k) != k {
				t.Errorf("NameKey(%q) = %q, whose key is %q", s, k, NameKey(k))
			}
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeInvalidName {
				t.Fatalf("NormalizeName(%q): %v, want invalid_name", s, err)
			}
			return
		}
		if !norm.NFC.IsNormalString(name) || name == "" || len([]rune(name)) > MaxNameRunes {
			t.Fatalf("NormalizeName(%q) = %q", s, name)
		}
		if again, err := NormalizeName(name); err != nil || again != name {
			t.Fatalf("NormalizeName(%q) = %q, then %q, %v", s, name, again, err)
		}
	})
}
