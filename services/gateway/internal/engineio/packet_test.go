package engineio_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

// The wire examples below are those of the Engine.IO v4 specification
// (sections "Protocol", "Handshake", "Heartbeat", "Upgrade" and "Packet
// encoding") and of the sample session in the Socket.IO v5 specification.

const openData = `{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000,"maxPayload":1000000}`

func text(t engineio.PacketType, data string) engineio.Packet {
	return engineio.TextPacket(t, []byte(data))
}

func binary(data ...byte) engineio.Packet { return engineio.BinaryPacket(data) }

// samePacket reports whether a and b are equal, treating nil and empty data
// alike.
func samePacket(a, b engineio.Packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}

func samePackets(a, b []engineio.Packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !samePacket(a[i], b[i]) {
			return false
		}
	}
	return true
}

func fmtPacket(p engineio.Packet) string {
	if p.Binary {
		return fmt.Sprintf("binary %v", p.Data)
	}
	return fmt.Sprintf("%v %q", p.Type, p.Data)
}

func fmtPackets(ps []engineio.Packet) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmtPacket(p)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func TestPacketTypeString(t *testing.T) {
	tests := []struct {
		name string
		in   engineio.PacketType
		want string
	}{
		{"open", engineio.Open, "open"},
		{"close", engineio.Close, "close"},
		{"ping", engineio.Ping, "ping"},
		{"pong", engineio.Pong, "pong"},
		{"message", engineio.Message, "message"},
		{"upgrade", engineio.Upgrade, "upgrade"},
		{"noop", engineio.Noop, "noop"},
		{"unknown", engineio.PacketType(7), "PacketType(7)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("PacketType(%d).String() = %q, want %q", byte(tc.in), got, tc.want)
			}
		})
	}
}

func TestDecodeText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want engineio.Packet
	}{
		{"open from server (handshake)", "0" + openData, text(engineio.Open, openData)},
		{"open from client (WebTransport)", "0", text(engineio.Open, "")},
		{"close", "1", text(engineio.Close, "")},
		{"ping", "2", text(engineio.Ping, "")},
		{"ping probe", "2probe", text(engineio.Ping, "probe")},
		{"pong", "3", text(engineio.Pong, "")},
		{"pong probe", "3probe", text(engineio.Pong, "probe")},
		{"message", "4hello", text(engineio.Message, "hello")},
		{"empty message", "4", text(engineio.Message, "")},
		{"message with a socket.io event", `42["hello"]`, text(engineio.Message, `2["hello"]`)},
		{"message with utf-8", "4€ 안녕하세요", text(engineio.Message, "€ 안녕하세요")},
		{"message starting with b", "4bAQIDBA==", text(engineio.Message, "bAQIDBA==")},
		{"message keeps separators of other transports", "4a\x1eb", text(engineio.Message, "a\x1eb")},
		{"upgrade", "5", text(engineio.Upgrade, "")},
		{"noop", "6", text(engineio.Noop, "")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := engineio.DecodeText([]byte(tc.in))
			if err != nil {
				t.Fatalf("DecodeText(%q): %v", tc.in, err)
			}
			if !samePacket(got, tc.want) {
				t.Errorf("DecodeText(%q) = %s, want %s", tc.in, fmtPacket(got), fmtPacket(tc.want))
			}
		})
	}
}

func TestDecodeTextInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"type 7", "7"},
		{"type 8 with data", "8hello"},
		{"type 9", "9"},
		{"letter", "hello"},
		{"base64 binary is not text", "bAQIDBA=="},
		{"below zero", "/4"},
		{"space", " 4hello"},
		{"record separator", "\x1e"},
		{"nul", "\x00"},
		{"multi-byte rune", "€"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := engineio.DecodeText([]byte(tc.in))
			if err == nil {
				t.Fatalf("DecodeText(%q) = %s, want an error", tc.in, fmtPacket(got))
			}
			if !errors.Is(err, engineio.ErrBadPacket) {
				t.Errorf("DecodeText(%q): error %v is not ErrBadPacket", tc.in, err)
			}
		})
	}
}

func TestAppendText(t *testing.T) {
	tests := []struct {
		name string
		in   engineio.Packet
		want string
	}{
		{"open", text(engineio.Open, openData), "0" + openData},
		{"close", text(engineio.Close, ""), "1"},
		{"ping", text(engineio.Ping, ""), "2"},
		{"ping probe", text(engineio.Ping, "probe"), "2probe"},
		{"pong", text(engineio.Pong, ""), "3"},
		{"pong probe", text(engineio.Pong, "probe"), "3probe"},
		{"message", text(engineio.Message, "hello"), "4hello"},
		{"nil data", engineio.TextPacket(engineio.Message, nil), "4"},
		{"utf-8", text(engineio.Message, "€ 안녕하세요"), "4€ 안녕하세요"},
		{"upgrade", text(engineio.Upgrade, ""), "5"},
		{"noop", text(engineio.Noop, ""), "6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := engineio.AppendText(nil, tc.in)
			if string(got) != tc.want {
				t.Fatalf("AppendText(%s) = %q, want %q", fmtPacket(tc.in), got, tc.want)
			}
			// Appends to what is there.
			if got := engineio.AppendText([]byte("xy"), tc.in); string(got) != "xy"+tc.want {
				t.Errorf("AppendText(\"xy\", %s) = %q, want %q", fmtPacket(tc.in), got, "xy"+tc.want)
			}
			// Round trip.
			back, err := engineio.DecodeText(got)
			if err != nil {
				t.Fatalf("DecodeText(%q): %v", got, err)
			}
			if !samePacket(back, tc.in) {
				t.Errorf("DecodeText(AppendText(%s)) = %s", fmtPacket(tc.in), fmtPacket(back))
			}
		})
	}
}

func TestBinaryPacket(t *testing.T) {
	p := engineio.BinaryPacket([]byte{1, 2, 3, 4})
	if p.Type != engineio.Message || !p.Binary || !bytes.Equal(p.Data, []byte{1, 2, 3, 4}) {
		t.Errorf("BinaryPacket(01 02 03 04) = %+v, want a binary message", p)
	}
	if p := engineio.TextPacket(engineio.Message, []byte("x")); p.Binary {
		t.Errorf("TextPacket is binary: %+v", p)
	}
}

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []engineio.Packet
	}{
		{"spec: three packets", "4hello\x1e2\x1e4world",
			[]engineio.Packet{text(engineio.Message, "hello"), text(engineio.Ping, ""), text(engineio.Message, "world")}},
		{"spec: text and binary", "4hello\x1ebAQIDBA==",
			[]engineio.Packet{text(engineio.Message, "hello"), binary(1, 2, 3, 4)}},
		{"spec: open", "0" + openData, []engineio.Packet{text(engineio.Open, openData)}},
		{"spec: connect", "40", []engineio.Packet{text(engineio.Message, "0")}},
		{"spec: connect answer", `40{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
			[]engineio.Packet{text(engineio.Message, `0{"sid":"wZX3oN0bSVIhsaknAAAI"}`)}},
		{"spec: two events", "42[\"hello\"]\x1e42[\"world\"]",
			[]engineio.Packet{text(engineio.Message, `2["hello"]`), text(engineio.Message, `2["world"]`)}},
		{"single message", "4hello", []engineio.Packet{text(engineio.Message, "hello")}},
		{"noop", "6", []engineio.Packet{text(engineio.Noop, "")}},
		{"close", "1", []engineio.Packet{text(engineio.Close, "")}},
		{"every type", "0\x1e1\x1e2\x1e3\x1e4\x1e5\x1e6", []engineio.Packet{
			text(engineio.Open, ""), text(engineio.Close, ""), text(engineio.Ping, ""), text(engineio.Pong, ""),
			text(engineio.Message, ""), text(engineio.Upgrade, ""), text(engineio.Noop, "")}},
		{"binary only", "bAQIDBA==", []engineio.Packet{binary(1, 2, 3, 4)}},
		{"two binaries", "bAQI=\x1ebAwQ=", []engineio.Packet{binary(1, 2), binary(3, 4)}},
		{"binary between text", "4a\x1ebAA==\x1e4b",
			[]engineio.Packet{text(engineio.Message, "a"), binary(0), text(engineio.Message, "b")}},
		{"binary of three bytes needs no padding", "bAQID", []engineio.Packet{binary(1, 2, 3)}},
		{"empty binary", "b", []engineio.Packet{binary()}},
		{"binary without its padding", "bAQIDBA", []engineio.Packet{binary(1, 2, 3, 4)}},
		{"binary with short padding", "bAQIDBA=", []engineio.Packet{binary(1, 2, 3, 4)}},
		{"unpadded binary between text", "4a\x1ebAQ\x1e4b",
			[]engineio.Packet{text(engineio.Message, "a"), binary(1), text(engineio.Message, "b")}},
		{"binary with every byte value", "bAP4Bfw==", []engineio.Packet{binary(0x00, 0xfe, 0x01, 0x7f)}},
		{"empty messages", "4\x1e4", []engineio.Packet{text(engineio.Message, ""), text(engineio.Message, "")}},
		{"utf-8", "4€\x1e4안녕하세요", []engineio.Packet{text(engineio.Message, "€"), text(engineio.Message, "안녕하세요")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := engineio.DecodePayload([]byte(tc.in))
			if err != nil {
				t.Fatalf("DecodePayload(%q): %v", tc.in, err)
			}
			if !samePackets(got, tc.want) {
				t.Errorf("DecodePayload(%q) = %s, want %s", tc.in, fmtPackets(got), fmtPackets(tc.want))
			}
		})
	}
}

func TestDecodePayloadInvalid(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		before []engineio.Packet // the packets returned with the error
	}{
		{"empty", "", nil},
		{"unknown type", "7", nil},
		{"unknown type after a packet", "4hello\x1e9", []engineio.Packet{text(engineio.Message, "hello")}},
		{"letter", "hello", nil},
		{"trailing record separator", "4hello\x1e", []engineio.Packet{text(engineio.Message, "hello")}},
		{"leading record separator", "\x1e4hello", nil},
		{"only a record separator", "\x1e", nil},
		{"empty record in the middle", "4a\x1e\x1e4b", []engineio.Packet{text(engineio.Message, "a")}},
		{"bad base64 characters", "b!!!!", nil},
		{"bad base64 after a packet", "4hello\x1eb$AQIDBA==", []engineio.Packet{text(engineio.Message, "hello")}},
		{"base64 with one character", "bA", nil},
		{"base64 with data after padding", "bAQ==AQ==", nil},
		{"base64url alphabet", "b-_-_", nil},
		{"text after good binary", "bAQIDBA==\x1ex", []engineio.Packet{binary(1, 2, 3, 4)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := engineio.DecodePayload([]byte(tc.in))
			if err == nil {
				t.Fatalf("DecodePayload(%q) = %s, want an error", tc.in, fmtPackets(got))
			}
			if !errors.Is(err, engineio.ErrBadPacket) {
				t.Errorf("DecodePayload(%q): error %v is not ErrBadPacket", tc.in, err)
			}
			if !samePackets(got, tc.before) {
				t.Errorf("DecodePayload(%q) returned %s with the error, want %s", tc.in, fmtPackets(got), fmtPackets(tc.before))
			}
		})
	}
}

func TestAppendPayload(t *testing.T) {
	tests := []struct {
		name string
		in   []engineio.Packet
		want string
	}{
		{"spec: three packets",
			[]engineio.Packet{text(engineio.Message, "hello"), text(engineio.Ping, ""), text(engineio.Message, "world")},
			"4hello\x1e2\x1e4world"},
		{"spec: text and binary",
			[]engineio.Packet{text(engineio.Message, "hello"), binary(1, 2, 3, 4)},
			"4hello\x1ebAQIDBA=="},
		{"spec: two events",
			[]engineio.Packet{text(engineio.Message, `2["hello"]`), text(engineio.Message, `2["world"]`)},
			"42[\"hello\"]\x1e42[\"world\"]"},
		{"spec: open", []engineio.Packet{text(engineio.Open, openData)}, "0" + openData},
		{"none", nil, ""},
		{"one noop", []engineio.Packet{text(engineio.Noop, "")}, "6"},
		{"binary only", []engineio.Packet{binary(1, 2, 3, 4)}, "bAQIDBA=="},
		{"binary with one padding", []engineio.Packet{binary(1, 2)}, "bAQI="},
		{"binary of three bytes needs no padding", []engineio.Packet{binary(1, 2, 3)}, "bAQID"},
		{"empty binary", []engineio.Packet{binary()}, "b"},
		{"two binaries", []engineio.Packet{binary(0xff), binary(0xfb, 0xff)}, "b/w==\x1eb+/8="},
		{"utf-8", []engineio.Packet{text(engineio.Message, "안녕"), text(engineio.Message, "€")}, "4안녕\x1e4€"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := engineio.AppendPayload(nil, tc.in)
			if string(got) != tc.want {
				t.Fatalf("AppendPayload(%s) = %q, want %q", fmtPackets(tc.in), got, tc.want)
			}
			if got := engineio.AppendPayload([]byte("ok"), tc.in); string(got) != "ok"+tc.want {
				t.Errorf("AppendPayload(\"ok\", %s) = %q, want %q", fmtPackets(tc.in), got, "ok"+tc.want)
			}
			if len(tc.in) == 0 {
				return
			}
			back, err := engineio.DecodePayload(got)
			if err != nil {
				t.Fatalf("DecodePayload(%q): %v", got, err)
			}
			if !samePackets(back, tc.in) {
				t.Errorf("DecodePayload(AppendPayload(%s)) = %s", fmtPackets(tc.in), fmtPackets(back))
			}
		})
	}
}

// TestPayloadRoundTrip encodes packets of every kind, decodes them and
// compares.
func TestPayloadRoundTrip(t *testing.T) {
	var every []byte
	for i := range 256 {
		every = append(every, byte(i))
	}
	tests := []struct {
		name string
		in   []engineio.Packet
	}{
		{"every type", []engineio.Packet{
			text(engineio.Open, openData), text(engineio.Close, ""), text(engineio.Ping, "probe"),
			text(engineio.Pong, "probe"), text(engineio.Message, "hello"), text(engineio.Upgrade, ""),
			text(engineio.Noop, "")}},
		{"every byte value as binary", []engineio.Packet{engineio.BinaryPacket(every)}},
		{"binaries of every length mod 3", []engineio.Packet{binary(), binary(1), binary(1, 2), binary(1, 2, 3), binary(1, 2, 3, 4)}},
		{"text and binary mixed", []engineio.Packet{
			binary(0x1e), text(engineio.Message, `2["chat",{"text":"안녕하세요 👋"}]`), binary(0, 0, 0), text(engineio.Ping, "")}},
		{"large message", []engineio.Packet{text(engineio.Message, strings.Repeat("x", 1<<16))}},
		{"large binary", []engineio.Packet{engineio.BinaryPacket(bytes.Repeat(every, 300))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc := engineio.AppendPayload(nil, tc.in)
			got, err := engineio.DecodePayload(enc)
			if err != nil {
				t.Fatalf("DecodePayload(AppendPayload(...) = %q): %v", enc, err)
			}
			if !samePackets(got, tc.in) {
				t.Errorf("round trip = %s, want %s", fmtPackets(got), fmtPackets(tc.in))
			}
		})
	}
}

// TestDecodePayloadAliases checks the documented aliasing: text packets
// share the payload's memory, binary ones do not.
func TestDecodePayloadAliases(t *testing.T) {
	in := []byte("4hello\x1ebAQIDBA==")
	got, err := engineio.DecodePayload(in)
	if err != nil || len(got) != 2 {
		t.Fatalf("DecodePayload(%q) = %s, %v", in, fmtPackets(got), err)
	}
	in[1] = 'j'
	if string(got[0].Data) != "jello" {
		t.Errorf("text packet data %q does not alias the payload", got[0].Data)
	}
	copy(in[8:], "AAAAAAAA")
	if !bytes.Equal(got[1].Data, []byte{1, 2, 3, 4}) {
		t.Errorf("binary packet data %v changed with the payload", got[1].Data)
	}
}
