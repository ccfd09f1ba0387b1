package proto

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// NormalizeName returns a user name as natter keeps it: trimmed, runs of
// spaces made one, in NFC, 1–32 characters of letters (Hangul included),
// marks, digits, space, "_" and "-", in one script or in one of the
// combinations of UTS #39's "highly restrictive" level. Anything else is
// ErrInvalidName, with a message that says what is wrong: invisible
// characters (control, format, bidi, zero-width, default-ignorable ones
// such as the Hangul filler), enclosing marks, marks that strike through
// a letter, marks that do not follow a letter or digit or come more than
// maxMarks in a row, letters of a script that names do not use, and
// scripts mixed.
func NormalizeName(s string) (string, error) {
	if !utf8.ValidString(s) || len(s) > 4*MaxNameRunes*4 {
		return "", nameErrorf("a name is 1 to %d letters, digits, spaces, _ or -", MaxNameRunes)
	}
	s = collapseSpaces(norm.NFC.String(strings.TrimSpace(s)))
	n, marks := 0, -1 // marks: in a row; -1 after anything but a letter or digit
	var scripts scriptSet
	for _, r := range s {
		n++
		switch {
		case ignorable(r):
			return "", nameErrorf("a name cannot hold invisible characters (U+%04X)", r)
		case unicode.Is(unicode.Me, r):
			// Enclosing marks draw a circle or a box around their
			// neighbours, the way no name needs.
			return "", nameErrorf("a name cannot hold enclosing marks (U+%04X)", r)
		case unicode.IsMark(r):
			if marks < 0 {
				return "", nameErrorf("a combining mark (U+%04X) must follow a letter or digit", r)
			}
			if marks == maxMarks {
				return "", nameErrorf("a letter takes at most %d combining marks", maxMarks)
			}
			if overlay(r) {
				return "", nameErrorf("a name cannot hold marks that strike through letters (U+%04X)", r)
			}
			marks++
			continue
		case unicode.IsLetter(r), unicode.IsDigit(r):
			sc, ok := nameScript(r)
			if !ok {
				return "", nameErrorf("%s letters are not used in names", scriptName(r))
			}
			scripts.add(sc)
			marks = 0
			continue
		case r == '_', r == '-', r == ' ':
		default:
			return "", nameErrorf("a name is 1 to %d letters, digits, spaces, _ or -", MaxNameRunes)
		}
		marks = -1
	}
	if n < 1 || n > MaxNameRunes {
		return "", nameErrorf("a name is 1 to %d letters, digits, spaces, _ or -", MaxNameRunes)
	}
	if !scripts.allowed() {
		return "", nameErrorf("a name is written in one script (or Latin with Han and Kana, Hangul or Bopomofo), not %s", scripts)
	}
	return s, nil
}

func nameErrorf(format string, args ...any) *Error {
	return Errorf(CodeInvalidName, format, args...)
}

// collapseSpaces makes every run of spaces in s one space, so that a
// doubled space is the same name as a single one.
func collapseSpaces(s string) string {
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

// overlay reports whether r is a combining mark drawn over its letter
// (canonical combining class 1: strokes, slashes, tildes through it). No
// orthography writes them as separate marks: ø and đ are letters of their
// own.
func overlay(r rune) bool { return ccc(r) == 1 }

// markBelow reports whether r is a combining mark drawn below its letter
// (canonical combining class 220: dot, macron, line, ring below). They
// are small enough to overlook, so NameKey drops them.
func markBelow(r rune) bool { return ccc(r) == 220 }

// ccc returns r's canonical combining class, 0 for all but marks.
func ccc(r rune) uint8 {
	if r < 0x300 {
		return 0
	}
	var b [utf8.UTFMax]byte
	return norm.NFD.Properties(b[:utf8.EncodeRune(b[:], r)]).CCC()
}

// NameKey returns the key under which a name is unique: names with the
// same key are the same name, because they look alike or differ only in
// case. It drops invisible characters (zero-width, bidi, other format and
// default-ignorable ones), makes runs of spaces one, folds compatibility
// forms (fullwidth letters, ligatures) and case, and maps every character
// to its Unicode confusable prototype (UTS #39's skeleton, table version
// confusablesVersion): Cyrillic а is a, 0 is o, m is rn. Marks below a
// letter are dropped. Since names are unique regardless of case, a
// letter is keyed as its capital looks: I looks like l, so i and l are
// one key, as are Greek ν and Latin n (Ν and N).
//
// The key is for comparing, not showing (it is in NFD, and looks like a
// mix of scripts). A new confusables table changes keys: sessions opened
// before it keep their old key until they end.
func NameKey(name string) string {
	// Prototypes may have compatibility forms of their own (% is º/₀):
	// key the key again until it is its own key.
	key := nameKey(name)
	for range 3 {
		again := nameKey(key)
		if again == key {
			break
		}
		key = again
	}
	return key
}

func nameKey(name string) string {
	name = strings.Map(func(r rune) rune {
		if ignorable(r) {
			return -1
		}
		return r
	}, name)
	name = collapseSpaces(strings.TrimSpace(norm.NFKC.String(name)))
	name = norm.NFD.String(fold(name))
	keys := nameKeys()
	var b strings.Builder
	for _, r := range name {
		if k, ok := keys[r]; ok {
			b.WriteString(k)
		} else if !markBelow(r) {
			b.WriteRune(r)
		}
	}
	return norm.NFD.String(b.String())
}

// nameKeys maps a case-folded character to its key, for the characters
// whose key is not themselves; see NameKey.
var nameKeys = sync.OnceValue(func() map[rune]string {
	keys := make(map[rune]string, 2*len(confusables))
	for src := range confusables {
		// Every case of a confusable character, since the name is
		// folded first and keyed by its capital.
		for r := src; ; {
			if k := keyOf(r); k != string(r) {
				keys[r] = k
			}
			if r = unicode.SimpleFold(r); r == src {
				break
			}
		}
	}
	// A key's characters may have keys of their own (i's capital looks
	// like l, whose key is l): map until nothing changes, so that the key
	// of a key is itself.
	for changed := true; changed; {
		changed = false
		for r, k := range keys {
			if k2 := mapKeys(keys, k); k2 != k {
				keys[r], changed = k2, true
			}
		}
	}
	return keys
})

// keyOf is r's key before the keys of its characters are applied: the
// skeleton of its capital, folded, then the skeleton of that, without
// marks below.
func keyOf(r rune) string {
	s := skeleton(fold(skeleton(string(unicode.ToUpper(r)))))
	return strings.Map(func(r rune) rune {
		if markBelow(r) {
			return -1
		}
		return r
	}, s)
}

// fold folds the case of s: full case folding (ß is ss), then every
// character as its capital's small letter, which undoes x/text's folding
// of Cherokee into small letters one way and capitals the other.
func fold(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, cases.Fold().String(s))
}

// skeleton is UTS #39's skeleton: NFD, every character mapped to its
// prototype, NFD again.
func skeleton(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if p, ok := confusables[r]; ok {
			b.WriteString(p)
		} else {
			b.WriteRune(r)
		}
	}
	return norm.NFD.String(b.String())
}

func mapKeys(keys map[rune]string, s string) string {
	var b strings.Builder
	for _, r := range s {
		if k, ok := keys[r]; ok {
			b.WriteString(k)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// nameScripts are the scripts a name may be written in: UAX #31's
// Recommended Scripts (Table 5), those in customary modern use. Others
// (Limited Use ones such as Cherokee, Excluded ones such as Runic) are
// refused, as UTS #39's identifier profile does: they are where look-alikes
// of Latin letters hide that the confusables table does not list.
// Common (digits) and Inherited (combining marks) go with any script.
var nameScripts = [...]*unicode.RangeTable{
	unicode.Latin, unicode.Han, unicode.Hangul, unicode.Hiragana, unicode.Katakana,
	unicode.Bopomofo, unicode.Cyrillic, unicode.Greek, unicode.Arabic, unicode.Hebrew,
	unicode.Armenian, unicode.Georgian, unicode.Ethiopic, unicode.Thaana,
	unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi, unicode.Gujarati,
	unicode.Oriya, unicode.Tamil, unicode.Telugu, unicode.Kannada, unicode.Malayalam,
	unicode.Sinhala, unicode.Thai, unicode.Lao, unicode.Tibetan, unicode.Myanmar,
	unicode.Khmer,
	unicode.Common, unicode.Inherited,
}

// The indexes in nameScripts that the mixed-script rule names.
const (
	scLatin = iota
	scHan
	scHangul
	scHiragana
	scKatakana
	scBopomofo
	scCommon    = len(nameScripts) - 2
	scInherited = len(nameScripts) - 1
)

// nameScript returns the index in nameScripts of r's script, false if
// names do not use it.
func nameScript(r rune) (int, bool) {
	for i, t := range nameScripts {
		if unicode.Is(t, r) {
			return i, true
		}
	}
	return 0, false
}

// scriptName names r's script, for an error message.
func scriptName(r rune) string {
	for name, t := range unicode.Scripts {
		if unicode.Is(t, r) {
			return name
		}
	}
	return "Unassigned"
}

// scriptSet is the set of scripts of a name's letters, by index in
// nameScripts, without Common and Inherited.
type scriptSet uint64

func (s *scriptSet) add(i int) {
	if i != scCommon && i != scInherited {
		*s |= 1 << i
	}
}

// highlyRestrictive are the sets of scripts a name may mix, besides one
// script alone: UTS #39 §5.2, "Highly Restrictive".
var highlyRestrictive = []scriptSet{
	1<<scLatin | 1<<scHan | 1<<scHiragana | 1<<scKatakana,
	1<<scLatin | 1<<scHan | 1<<scHangul,
	1<<scLatin | 1<<scHan | 1<<scBopomofo,
}

func (s scriptSet) allowed() bool {
	if s&(s-1) == 0 { // at most one script
		return true
	}
	for _, ok := range highlyRestrictive {
		if s&^ok == 0 {
			return true
		}
	}
	return false
}

// String names the scripts, "Latin and Cyrillic".
func (s scriptSet) String() string {
	var names []string
	for i, t := range nameScripts {
		if s&(1<<i) == 0 {
			continue
		}
		for name, st := range unicode.Scripts {
			if st == t {
				names = append(names, name)
			}
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return fmt.Sprintf("%s and %s", strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}
