package socketio_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/natter/natter/services/gateway/internal/socketio"
)

// The wire examples below are those of the Socket.IO v5 specification
// ("Packet encoding" and "Sample session"), without the Engine.IO "4"
// that carries them.

// maxAttachments is the bound the tests decode with.
const maxAttachments = 10

const (
	ph0 = `{"_placeholder":true,"num":0}`
	ph1 = `{"_placeholder":true,"num":1}`
)

// pkt is the expected result of Decode.
type pkt struct {
	typ         socketio.PacketType
	nsp         string
	id          int64
	attachments int
	data        string // "" when there is no payload
}

func (p pkt) String() string {
	return fmt.Sprintf("{type %d nsp %q id %d attachments %d data %q}", p.typ, p.nsp, p.id, p.attachments, p.data)
}

func fromPacket(p socketio.Packet) pkt {
	return pkt{p.Type, p.Namespace, p.ID, p.Attachments, string(p.Data)}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want pkt
	}{
		// CONNECT
		{"spec: connect main namespace", "0", pkt{socketio.Connect, "/", -1, 0, ""}},
		{"spec: connect custom namespace", "0/admin,", pkt{socketio.Connect, "/admin", -1, 0, ""}},
		{"connect custom namespace without comma", "0/admin", pkt{socketio.Connect, "/admin", -1, 0, ""}},
		{"spec: connect with auth", `0/admin,{"token":"123"}`, pkt{socketio.Connect, "/admin", -1, 0, `{"token":"123"}`}},
		{"connect main namespace with auth", `0{"token":"123"}`, pkt{socketio.Connect, "/", -1, 0, `{"token":"123"}`}},
		{"spec: connect answer", `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`,
			pkt{socketio.Connect, "/admin", -1, 0, `{"sid":"oSO0OpakMV_3jnilAAAA"}`}},
		{"spec: connect answer main namespace", `0{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
			pkt{socketio.Connect, "/", -1, 0, `{"sid":"wZX3oN0bSVIhsaknAAAI"}`}},
		{"connect with empty auth", `0{}`, pkt{socketio.Connect, "/", -1, 0, `{}`}},
		{"connect auth keeps key order and spaces", `0/a,{ "z" : 1, "a" : [ 2 ] }`,
			pkt{socketio.Connect, "/a", -1, 0, `{ "z" : 1, "a" : [ 2 ] }`}},
		{"connect explicit main namespace", `0/,{"token":"1"}`, pkt{socketio.Connect, "/", -1, 0, `{"token":"1"}`}},

		// DISCONNECT
		{"spec: disconnect main namespace", "1", pkt{socketio.Disconnect, "/", -1, 0, ""}},
		{"spec: disconnect custom namespace", "1/admin,", pkt{socketio.Disconnect, "/admin", -1, 0, ""}},

		// EVENT
		{"spec: event main namespace", `2["foo"]`, pkt{socketio.Event, "/", -1, 0, `["foo"]`}},
		{"spec: event custom namespace", `2/admin,["bar"]`, pkt{socketio.Event, "/admin", -1, 0, `["bar"]`}},
		{"spec: event with ack id", `212["foo"]`, pkt{socketio.Event, "/", 12, 0, `["foo"]`}},
		{"spec: event with namespace and ack id", `2/admin,1["tellme"]`, pkt{socketio.Event, "/admin", 1, 0, `["tellme"]`}},
		{"spec: event with argument", `2["hey","Jude"]`, pkt{socketio.Event, "/", -1, 0, `["hey","Jude"]`}},
		{"spec: event hello", `2["hello"]`, pkt{socketio.Event, "/", -1, 0, `["hello"]`}},
		{"event with ack id 0", `20["foo"]`, pkt{socketio.Event, "/", 0, 0, `["foo"]`}},
		{"event with 15-digit ack id", `2999999999999999["foo"]`, pkt{socketio.Event, "/", 999999999999999, 0, `["foo"]`}},
		{"event with leading zeros in ack id", `2007["foo"]`, pkt{socketio.Event, "/", 7, 0, `["foo"]`}},
		{"event with numeric name", `2[1,"x"]`, pkt{socketio.Event, "/", -1, 0, `[1,"x"]`}},
		{"event with negative numeric name", `2[-1.5]`, pkt{socketio.Event, "/", -1, 0, `[-1.5]`}},
		{"event with korean name", `2["안녕","하세요"]`, pkt{socketio.Event, "/", -1, 0, `["안녕","하세요"]`}},
		{"event with spaces around the array", `2 [ "foo" , 1 ] `, pkt{socketio.Event, "/", -1, 0, ` [ "foo" , 1 ] `}},
		{"event named like a reserved one but longer", `2["disconnected"]`, pkt{socketio.Event, "/", -1, 0, `["disconnected"]`}},
		{"event named like a reserved one, other case", `2["Disconnect"]`, pkt{socketio.Event, "/", -1, 0, `["Disconnect"]`}},
		{"event with nested namespace", `2/a/b,["x"]`, pkt{socketio.Event, "/a/b", -1, 0, `["x"]`}},

		// ACK
		{"spec: ack main namespace empty", `312[]`, pkt{socketio.Ack, "/", 12, 0, `[]`}},
		{"spec: ack custom namespace", `3/admin,13["bar"]`, pkt{socketio.Ack, "/admin", 13, 0, `["bar"]`}},
		{"spec: ack with id 14", `314["bar"]`, pkt{socketio.Ack, "/", 14, 0, `["bar"]`}},
		{"ack with any values", `30[null,true,{"a":1}]`, pkt{socketio.Ack, "/", 0, 0, `[null,true,{"a":1}]`}},

		// BINARY_EVENT
		{"spec: binary event", `51-["baz",` + ph0 + `]`, pkt{socketio.BinaryEvent, "/", -1, 1, `["baz",` + ph0 + `]`}},
		{"spec: binary event with two attachments", `52-/admin,["baz",` + ph0 + `,` + ph1 + `]`,
			pkt{socketio.BinaryEvent, "/admin", -1, 2, `["baz",` + ph0 + `,` + ph1 + `]`}},
		{"spec: binary event with ack id", `51-14["foo",` + ph0 + `]`, pkt{socketio.BinaryEvent, "/", 14, 1, `["foo",` + ph0 + `]`}},
		{"binary event with no attachment", `50-["baz"]`, pkt{socketio.BinaryEvent, "/", -1, 0, `["baz"]`}},
		{"binary event with the most attachments", `510-["baz"]`, pkt{socketio.BinaryEvent, "/", -1, 10, `["baz"]`}},

		// BINARY_ACK
		{"spec: binary ack", `61-15["bar",` + ph0 + `]`, pkt{socketio.BinaryAck, "/", 15, 1, `["bar",` + ph0 + `]`}},
		{"spec: binary ack custom namespace", `61-/admin,1[` + ph0 + `]`, pkt{socketio.BinaryAck, "/admin", 1, 1, `[` + ph0 + `]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := socketio.Decode([]byte(tc.in), maxAttachments)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tc.in, err)
			}
			if got := fromPacket(p); got != tc.want {
				t.Errorf("Decode(%q) = %v, want %v", tc.in, got, tc.want)
			}
			if tc.want.data == "" && p.Data != nil {
				t.Errorf("Decode(%q).Data = %q, want nil", tc.in, p.Data)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"unknown type 7", `7["foo"]`},
		{"unknown type 9", "9"},
		{"letter type", `a["foo"]`},
		{"type below zero", `/admin,["foo"]`},
		{"json without type", `["foo"]`},

		// CONNECT payload must be an object.
		{"connect with array", `0["foo"]`},
		{"connect with string", `0"token"`},
		{"connect with null", `0null`},
		{"connect with true", `0true`},
		{"connect custom namespace with array", `0/admin,[]`},
		{"connect with bad json", `0{"token":}`},
		{"connect with truncated object", `0{`},
		{"connect with trailing garbage", `0{}x`},

		// DISCONNECT has no payload.
		{"disconnect with object", `1{}`},
		{"disconnect custom namespace with object", `1/admin,{}`},
		{"disconnect with array", `1["foo"]`},
		{"disconnect with garbage", `1x`},

		// EVENT payload must be an array starting with a name.
		{"event without payload", `2`},
		{"event custom namespace without payload", `2/admin,`},
		{"event with ack id and no payload", `212`},
		{"event with object", `2{}`},
		{"event with string", `2"foo"`},
		{"event with empty array", `2[]`},
		{"event with empty array and spaces", `2[ ]`},
		{"event with null name", `2[null]`},
		{"event with boolean name", `2[true,"x"]`},
		{"event with object name", `2[{"name":"foo"}]`},
		{"event with array name", `2[["foo"]]`},
		{"event with bad json", `2["foo"`},
		{"event with trailing garbage", `2["foo"]x`},
		{"event with two arrays", `2["foo"]["bar"]`},
		{"event with unescaped control character", "2[\"fo\no\"]"},

		// Reserved event names.
		{"reserved connect", `2["connect"]`},
		{"reserved connect_error", `2["connect_error",{}]`},
		{"reserved disconnect", `2["disconnect"]`},
		{"reserved disconnect with namespace and id", `2/admin,5["disconnect","x"]`},
		{"reserved disconnecting", `2["disconnecting"]`},
		{"reserved newListener", `2["newListener"]`},
		{"reserved removeListener", `2["removeListener"]`},
		{"reserved name escaped", `2["\u0064isconnect"]`},
		{"reserved name in binary event", `51-["disconnect",` + ph0 + `]`},

		// Ack ids are digits only.
		{"ack id with letters", `2abc["foo"]`},
		{"ack id followed by letters", `212abc["foo"]`},
		{"ack id with letters after namespace", `2/admin,1a["foo"]`},
		{"negative ack id", `2-1["foo"]`},
		{"ack id with a sign", `2+1["foo"]`},
		{"16-digit ack id", `21234567890123456["foo"]`},
		{"ack id over int64", `299999999999999999999["foo"]`},
		{"ack with 16-digit id", `31234567890123456[]`},

		// ACK
		{"ack without id", `3["bar"]`},
		{"ack without payload", `312`},
		{"ack with object", `312{}`},
		{"ack with string", `312"bar"`},
		{"ack custom namespace without id", `3/admin,["bar"]`},

		// CONNECT_ERROR goes from server to client only.
		{"spec: connect error from a client", `4{"message":"Not authorized"}`},
		{"connect error with string", `4"Not authorized"`},

		// Attachments.
		{"too many attachments", `511-["baz"]`},
		{"far too many attachments", `51000-["baz"]`},
		{"attachment count too long", `500001-["baz"]`},
		{"attachment count missing", `5-["baz"]`},
		{"attachment count without dash", `51["baz",` + ph0 + `]`},
		{"attachment count with letters", `5x-["baz"]`},
		{"negative attachment count", `5-1-["baz"]`},
		{"binary event without anything", `5`},
		{"binary event with a count only", `51-`},
		{"binary ack without id", `61-["bar",` + ph0 + `]`},
		{"binary ack too many attachments", `611-1["bar"]`},
		{"binary event with object", `51-{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := socketio.Decode([]byte(tc.in), maxAttachments)
			if err == nil {
				t.Fatalf("Decode(%q) = %v, want an error", tc.in, fromPacket(p))
			}
			if !errors.Is(err, socketio.ErrBadPacket) {
				t.Errorf("Decode(%q): error %v is not ErrBadPacket", tc.in, err)
			}
		})
	}
}

func TestDecodeMaxAttachments(t *testing.T) {
	in := `52-["baz",` + ph0 + `,` + ph1 + `]`
	tests := []struct {
		name string
		max  int
		ok   bool
	}{
		{"no attachments allowed", 0, false},
		{"one allowed", 1, false},
		{"two allowed", 2, true},
		{"many allowed", 1000, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := socketio.Decode([]byte(in), tc.max)
			if ok := err == nil; ok != tc.ok {
				t.Errorf("Decode(%q, %d): err = %v, want ok = %v", in, tc.max, err, tc.ok)
			}
		})
	}
}

// TestEncode encodes each packet of the specification with AppendHeader
// and AppendArray, then decodes the result.
func TestEncode(t *testing.T) {
	tests := []struct {
		name  string
		in    pkt
		elems []string // the payload's elements; nil for a payload given in in.data
		want  string
	}{
		{"spec: connect main namespace", pkt{socketio.Connect, "/", -1, 0, ""}, nil, "0"},
		{"connect empty namespace is main", pkt{socketio.Connect, "", -1, 0, ""}, nil, "0"},
		{"spec: connect custom namespace", pkt{socketio.Connect, "/admin", -1, 0, ""}, nil, "0/admin,"},
		{"spec: connect answer", pkt{socketio.Connect, "/admin", -1, 0, `{"sid":"oSO0OpakMV_3jnilAAAA"}`}, nil,
			`0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`},
		{"spec: connect answer main namespace", pkt{socketio.Connect, "/", -1, 0, `{"sid":"wZX3oN0bSVIhsaknAAAI"}`}, nil,
			`0{"sid":"wZX3oN0bSVIhsaknAAAI"}`},
		{"spec: connect with auth", pkt{socketio.Connect, "/admin", -1, 0, `{"token":"123"}`}, nil, `0/admin,{"token":"123"}`},
		{"spec: connect error", pkt{socketio.ConnectError, "/", -1, 0, `{"message":"Not authorized"}`}, nil,
			`4{"message":"Not authorized"}`},
		{"connect error custom namespace", pkt{socketio.ConnectError, "/admin", -1, 0, `{"message":"Not authorized"}`}, nil,
			`4/admin,{"message":"Not authorized"}`},
		{"spec: disconnect main namespace", pkt{socketio.Disconnect, "/", -1, 0, ""}, nil, "1"},
		{"spec: disconnect custom namespace", pkt{socketio.Disconnect, "/admin", -1, 0, ""}, nil, "1/admin,"},
		{"spec: event main namespace", pkt{socketio.Event, "/", -1, 0, ""}, []string{`"foo"`}, `2["foo"]`},
		{"spec: event custom namespace", pkt{socketio.Event, "/admin", -1, 0, ""}, []string{`"bar"`}, `2/admin,["bar"]`},
		{"spec: event with ack id", pkt{socketio.Event, "/", 12, 0, ""}, []string{`"foo"`}, `212["foo"]`},
		{"spec: event with namespace and ack id", pkt{socketio.Event, "/admin", 1, 0, ""}, []string{`"tellme"`}, `2/admin,1["tellme"]`},
		{"spec: event with argument", pkt{socketio.Event, "/", -1, 0, ""}, []string{`"hey"`, `"Jude"`}, `2["hey","Jude"]`},
		{"event with ack id 0", pkt{socketio.Event, "/", 0, 0, ""}, []string{`"foo"`}, `20["foo"]`},
		{"spec: ack empty", pkt{socketio.Ack, "/", 12, 0, ""}, []string{}, `312[]`},
		{"spec: ack custom namespace", pkt{socketio.Ack, "/admin", 13, 0, ""}, []string{`"bar"`}, `3/admin,13["bar"]`},
		{"spec: binary event", pkt{socketio.BinaryEvent, "/", -1, 1, ""}, []string{`"baz"`, ph0},
			`51-["baz",` + ph0 + `]`},
		{"spec: binary event with two attachments", pkt{socketio.BinaryEvent, "/admin", -1, 2, ""}, []string{`"baz"`, ph0, ph1},
			`52-/admin,["baz",` + ph0 + `,` + ph1 + `]`},
		{"spec: binary ack", pkt{socketio.BinaryAck, "/", 15, 1, ""}, []string{`"bar"`, ph0},
			`61-15["bar",` + ph0 + `]`},
		{"spec: binary ack custom namespace", pkt{socketio.BinaryAck, "/admin", 1, 1, ""}, []string{ph0},
			`61-/admin,1[` + ph0 + `]`},
		{"binary event with ten attachments", pkt{socketio.BinaryEvent, "/", 7, 10, ""}, []string{`"x"`}, `510-7["x"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := socketio.AppendHeader(nil, tc.in.typ, tc.in.nsp, tc.in.attachments, tc.in.id)
			want := tc.in
			if tc.elems != nil {
				raw := make([][]byte, len(tc.elems))
				for i, e := range tc.elems {
					raw[i] = []byte(e)
				}
				got = socketio.AppendArray(got, raw...)
				want.data = "[" + strings.Join(tc.elems, ",") + "]"
			} else {
				got = append(got, tc.in.data...)
			}
			if string(got) != tc.want {
				t.Fatalf("encoded %v as %q, want %q", tc.in, got, tc.want)
			}
			if tc.in.typ == socketio.ConnectError {
				return // refused by Decode, which reads what clients send
			}
			p, err := socketio.Decode(got, maxAttachments)
			if err != nil {
				t.Fatalf("Decode(%q): %v", got, err)
			}
			if want.nsp == "" {
				want.nsp = "/"
			}
			if back := fromPacket(p); back != want {
				t.Errorf("Decode(%q) = %v, want %v", got, back, want)
			}
		})
	}
}

func TestAppendHeaderAppends(t *testing.T) {
	got := socketio.AppendHeader([]byte("4"), socketio.Event, "/admin", 0, 3)
	if string(got) != "42/admin,3" {
		t.Errorf("AppendHeader(\"4\", ...) = %q, want %q", got, "42/admin,3")
	}
	got = socketio.AppendArray([]byte("42"), []byte(`"a"`), []byte(`{"b":[1,2]}`))
	if string(got) != `42["a",{"b":[1,2]}]` {
		t.Errorf("AppendArray(\"42\", ...) = %q", got)
	}
	if got := socketio.AppendArray(nil); string(got) != "[]" {
		t.Errorf("AppendArray(nil) = %q, want []", got)
	}
}

func TestEncodeEvent(t *testing.T) {
	tests := []struct {
		name        string
		nsp         string
		event       string
		id          int64
		args        []string
		attachments int
		want        string
	}{
		{"spec: main namespace", "/", "foo", -1, nil, 0, `2["foo"]`},
		{"spec: custom namespace", "/admin", "bar", -1, nil, 0, `2/admin,["bar"]`},
		{"spec: with ack id", "/", "foo", 12, nil, 0, `212["foo"]`},
		{"spec: with argument", "/", "hey", -1, []string{`"Jude"`}, 0, `2["hey","Jude"]`},
		{"spec: namespace and ack id", "/admin", "tellme", 1, nil, 0, `2/admin,1["tellme"]`},
		{"spec: binary", "/", "baz", -1, []string{ph0}, 1, `51-["baz",` + ph0 + `]`},
		{"spec: binary two attachments", "/admin", "baz", -1, []string{ph0, ph1}, 2,
			`52-/admin,["baz",` + ph0 + `,` + ph1 + `]`},
		{"binary with ack id", "/", "foo", 14, []string{ph0}, 1, `51-14["foo",` + ph0 + `]`},
		{"args kept as they are", "/", "chat", -1, []string{`{"z":1, "a":"x y"}`, `[1, 2]`}, 0, `2["chat",{"z":1, "a":"x y"},[1, 2]]`},
		{"korean name", "/", "안녕", -1, []string{`"하세요"`}, 0, `2["안녕","하세요"]`},
		{"name with quote and backslash", "/", `a"b\c`, -1, nil, 0, `2["a\"b\\c"]`},
		{"empty namespace is main", "", "foo", -1, nil, 0, `2["foo"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]json.RawMessage, len(tc.args))
			for i, a := range tc.args {
				args[i] = json.RawMessage(a)
			}
			got, err := socketio.EncodeEvent(tc.nsp, tc.event, tc.id, args, tc.attachments)
			if err != nil {
				t.Fatalf("EncodeEvent: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("EncodeEvent(%q, %q, %d, %q, %d) = %q, want %q", tc.nsp, tc.event, tc.id, tc.args, tc.attachments, got, tc.want)
			}
			p, err := socketio.Decode(got, maxAttachments)
			if err != nil {
				t.Fatalf("Decode(%q): %v", got, err)
			}
			name, err := socketio.EventName(p.Data)
			if err != nil || name != tc.event {
				t.Errorf("EventName(%q) = %q, %v, want %q", p.Data, name, err, tc.event)
			}
		})
	}
}

func TestEventName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"spec: foo", `["foo"]`, "foo"},
		{"spec: with arguments", `["hey","Jude"]`, "hey"},
		{"escaped", `["\u0041\"b"]`, `A"b`},
		{"korean", `["안녕하세요",1]`, "안녕하세요"},
		{"empty string", `[""]`, ""},
		{"number", `[42,"x"]`, "42"},
		{"negative number", `[-1]`, "-1"},
		{"number kept as written", `[1.50e+3]`, "1.50e+3"},
		{"spaces", " [ \"foo\" , 1 ] ", "foo"},
		{"like a reserved name", `["connection"]`, "connection"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := socketio.EventName([]byte(tc.in))
			if err != nil {
				t.Fatalf("EventName(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("EventName(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEventNameInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"nil", ""},
		{"object", `{}`},
		{"string", `"foo"`},
		{"empty array", `[]`},
		{"null", `[null]`},
		{"boolean", `[false]`},
		{"object name", `[{}]`},
		{"array name", `[[]]`},
		{"bad json", `["foo"`},
		{"connect", `["connect"]`},
		{"connect_error", `["connect_error"]`},
		{"disconnect", `["disconnect"]`},
		{"disconnecting", `["disconnecting"]`},
		{"newListener", `["newListener"]`},
		{"removeListener", `["removeListener"]`},
		{"escaped reserved", `["remove\u004cistener"]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := socketio.EventName([]byte(tc.in))
			if err == nil {
				t.Fatalf("EventName(%q) = %q, want an error", tc.in, got)
			}
			if !errors.Is(err, socketio.ErrBadPacket) {
				t.Errorf("EventName(%q): error %v is not ErrBadPacket", tc.in, err)
			}
		})
	}
}

func TestSplitArray(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", `[]`, nil},
		{"empty with spaces", " [ \n\t] ", nil},
		{"spec: one string", `["foo"]`, []string{`"foo"`}},
		{"spec: two strings", `["hey","Jude"]`, []string{`"hey"`, `"Jude"`}},
		{"spec: placeholders", `["baz",` + ph0 + `,` + ph1 + `]`, []string{`"baz"`, ph0, ph1}},
		{"scalars", `[1,-2.5e+10,0,true,false,null,""]`, []string{`1`, `-2.5e+10`, `0`, `true`, `false`, `null`, `""`}},
		{"key order kept", `["ev",{"z":1,"a":2,"m":{"y":0,"b":1}}]`, []string{`"ev"`, `{"z":1,"a":2,"m":{"y":0,"b":1}}`}},
		{"spaces inside elements kept", `[{ "a" : [ 1 , 2 ] }, [ 3 ]]`, []string{`{ "a" : [ 1 , 2 ] }`, `[ 3 ]`}},
		{"spaces between elements dropped", "[ \"a\" ,\n\t1 ,\r\n{\"b\":2}\n ]", []string{`"a"`, `1`, `{"b":2}`}},
		{"spaces inside strings kept", `["  a  b  ","\t"," x "]`, []string{`"  a  b  "`, `"\t"`, `" x "`}},
		{"nested arrays", `[[1,[2,[3,[]]]],[[]],[]]`, []string{`[1,[2,[3,[]]]]`, `[[]]`, `[]`}},
		{"nested objects", `[{"a":{"b":{"c":[{}]}}},{}]`, []string{`{"a":{"b":{"c":[{}]}}}`, `{}`}},
		{"comma in string", `["a,b","c"]`, []string{`"a,b"`, `"c"`}},
		{"bracket in string", `["c]d","]","["]`, []string{`"c]d"`, `"]"`, `"["`}},
		{"braces in string", `["{","}",{"k":"}]"}]`, []string{`"{"`, `"}"`, `{"k":"}]"}`}},
		{"escaped quote", `["e\"f","\"",1]`, []string{`"e\"f"`, `"\""`, `1`}},
		{"escaped quote then bracket", `["\"],[",2]`, []string{`"\"],["`, `2`}},
		{"escaped backslash before quote", `["\\","x"]`, []string{`"\\"`, `"x"`}},
		{"escaped backslash then escaped quote", `["\\\"]",3]`, []string{`"\\\"]"`, `3`}},
		{"escapes kept", `["\u0041\n\/\u00e9"]`, []string{`"\u0041\n\/\u00e9"`}},
		{"korean", `["안녕하세요",{"이름":"홍길동"}]`, []string{`"안녕하세요"`, `{"이름":"홍길동"}`}},
		{"other unicode", `["€","👋","e\u0301"]`, []string{`"€"`, `"👋"`, `"e\u0301"`}},
		{"string in object with comma and bracket", `[{"a":"x,]}","b":[","]}]`, []string{`{"a":"x,]}","b":[","]}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := socketio.SplitArray([]byte(tc.in))
			if err != nil {
				t.Fatalf("SplitArray(%q): %v", tc.in, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("SplitArray(%q) = %q, want %q", tc.in, got, tc.want)
			}
			for i := range got {
				if string(got[i]) != tc.want[i] {
					t.Errorf("SplitArray(%q)[%d] = %q, want %q", tc.in, i, got[i], tc.want[i])
				}
			}
			// Same as encoding/json.
			var std []json.RawMessage
			if err := json.Unmarshal([]byte(tc.in), &std); err != nil {
				t.Fatalf("json.Unmarshal(%q): %v", tc.in, err)
			}
			if len(std) != len(got) {
				t.Fatalf("SplitArray(%q) has %d elements, encoding/json %d", tc.in, len(got), len(std))
			}
			for i := range std {
				if !bytes.Equal(std[i], got[i]) {
					t.Errorf("SplitArray(%q)[%d] = %q, encoding/json %q", tc.in, i, got[i], std[i])
				}
			}
		})
	}
}

func TestSplitArrayInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ``},
		{"spaces", `  `},
		{"object", `{"a":[1]}`},
		{"string", `"[1]"`},
		{"number", `1`},
		{"open only", `[`},
		{"trailing comma", `[1,]`},
		{"leading comma", `[,1]`},
		{"truncated", `[1,"a`},
		{"unclosed string", `["a]`},
		{"trailing garbage", `[1]x`},
		{"two arrays", `[1][2]`},
		{"single quotes", `['a']`},
		{"missing comma", `[1 2]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := socketio.SplitArray([]byte(tc.in))
			if err == nil {
				t.Fatalf("SplitArray(%q) = %q, want an error", tc.in, got)
			}
			if !errors.Is(err, socketio.ErrBadPacket) {
				t.Errorf("SplitArray(%q): error %v is not ErrBadPacket", tc.in, err)
			}
		})
	}
}

// TestDecodeAliases checks the documented aliasing of Data.
func TestDecodeAliases(t *testing.T) {
	in := []byte(`2/admin,["foo"]`)
	p, err := socketio.Decode(in, maxAttachments)
	if err != nil {
		t.Fatal(err)
	}
	in[len(in)-3] = 'x'
	if string(p.Data) != `["fox"]` {
		t.Errorf("Data %q does not alias the input", p.Data)
	}
	if p.Namespace != "/admin" {
		t.Errorf("Namespace %q changed with the input", p.Namespace)
	}
}
