package engineio_test

import (
	"bytes"
	"testing"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

// FuzzDecodePayload checks that DecodePayload never panics and that what it
// accepts survives a round trip through AppendPayload. More seeds are in
// testdata/fuzz/FuzzDecodePayload.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{
		// Engine.IO v4 specification, "Packet encoding".
		"4hello\x1e2\x1e4world",
		"4hello\x1ebAQIDBA==",
		"4hello",
		// Handshake, heartbeat and upgrade.
		"0" + openData,
		"0",
		"1",
		"2",
		"3",
		"2probe",
		"3probe",
		"5",
		"6",
		// Socket.IO v5 specification, sample session.
		"40",
		`40{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
		`42["hey","Jude"]`,
		"42[\"hello\"]\x1e42[\"world\"]",
		// Edge cases.
		"b",
		"bAQI=\x1ebAwQ=",
		"4€\x1e4안녕하세요",
		// Refused.
		"",
		"7",
		"4hello\x1e",
		"\x1e",
		"4a\x1e\x1e4b",
		"b!!!!",
		"bAQIDBA=",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		packets, err := engineio.DecodePayload(in)
		if !bytes.Equal(in, orig) {
			t.Fatalf("DecodePayload modified its input: %q became %q", orig, in)
		}
		if err != nil {
			if len(in) == 0 && len(packets) != 0 {
				t.Fatalf("DecodePayload(%q) returned packets for empty input", in)
			}
			return
		}
		if len(packets) == 0 {
			t.Fatalf("DecodePayload(%q) succeeded with no packets", in)
		}
		if want := bytes.Count(in, []byte{0x1e}) + 1; len(packets) != want {
			t.Fatalf("DecodePayload(%q) = %d packets, want %d (one per record)", in, len(packets), want)
		}
		allText := true
		for _, p := range packets {
			if p.Type > engineio.Noop {
				t.Fatalf("DecodePayload(%q): packet of type %d", in, p.Type)
			}
			if p.Binary {
				allText = false
				if p.Type != engineio.Message {
					t.Fatalf("DecodePayload(%q): binary packet of type %v", in, p.Type)
				}
			}
		}
		enc := engineio.AppendPayload(nil, packets)
		// Text packets are kept as they are, so a payload of text packets
		// is re-encoded byte for byte. (base64 may be written differently.)
		if allText && !bytes.Equal(enc, in) {
			t.Fatalf("AppendPayload(DecodePayload(%q)) = %q", in, enc)
		}
		again, err := engineio.DecodePayload(enc)
		if err != nil {
			t.Fatalf("DecodePayload(%q) (re-encoded from %q): %v", enc, in, err)
		}
		if !samePackets(again, packets) {
			t.Fatalf("round trip of %q: %s, then %q decodes to %s", in, fmtPackets(packets), enc, fmtPackets(again))
		}
	})
}
