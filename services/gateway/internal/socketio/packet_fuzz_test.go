package socketio_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/natter/natter/services/gateway/internal/socketio"
)

// specPackets are the encoded packets of the Socket.IO v5 specification and
// its sample session, plus a few that Decode refuses, to seed the fuzzers.
// More seeds are in testdata/fuzz.
var specPackets = []string{
	"0",
	"0/admin,",
	`0/admin,{"token":"123"}`,
	`0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`,
	`0{"sid":"wZX3oN0bSVIhsaknAAAI"}`,
	`4{"message":"Not authorized"}`,
	"1",
	"1/admin,",
	`2["foo"]`,
	`2/admin,["bar"]`,
	`212["foo"]`,
	`2["hey","Jude"]`,
	`2/admin,1["tellme"]`,
	`312[]`,
	`3/admin,13["bar"]`,
	`51-["baz",{"_placeholder":true,"num":0}]`,
	`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
	`51-14["foo",{"_placeholder":true,"num":0}]`,
	`61-15["bar",{"_placeholder":true,"num":0}]`,
	`61-/admin,1[{"_placeholder":true,"num":0}]`,
	// Refused.
	"",
	`2{}`,
	`2["disconnect"]`,
	`2abc["foo"]`,
	`21234567890123456["foo"]`,
	`511-["baz"]`,
	`0["foo"]`,
	`1{}`,
	`3["bar"]`,
}

// FuzzDecode checks that Decode never panics, that what it accepts is
// consistent, and that an accepted packet survives a round trip through
// AppendHeader and AppendArray.
func FuzzDecode(f *testing.F) {
	for _, s := range specPackets {
		f.Add([]byte(s))
	}
	f.Add([]byte(`2 [ "안녕" , {"z":1,"a":"x,]\"y"} , [1,[2]] ] `))
	f.Add([]byte(`2/a,007[1]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		p, err := socketio.Decode(in, maxAttachments)
		if !bytes.Equal(in, orig) {
			t.Fatalf("Decode modified its input: %q became %q", orig, in)
		}
		if err != nil {
			return
		}
		if p.Type > socketio.BinaryAck || p.Type == socketio.ConnectError {
			t.Fatalf("Decode(%q): type %d", in, p.Type)
		}
		if p.Namespace == "" || p.Namespace[0] != '/' {
			t.Fatalf("Decode(%q): namespace %q", in, p.Namespace)
		}
		if p.ID < -1 {
			t.Fatalf("Decode(%q): id %d", in, p.ID)
		}
		if p.Attachments < 0 || p.Attachments > maxAttachments {
			t.Fatalf("Decode(%q): %d attachments", in, p.Attachments)
		}
		if p.Attachments != 0 && p.Type != socketio.BinaryEvent && p.Type != socketio.BinaryAck {
			t.Fatalf("Decode(%q): %d attachments on a packet of type %d", in, p.Attachments, p.Type)
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("Decode(%q): invalid JSON payload %q", in, p.Data)
		}

		var enc []byte
		var elems []json.RawMessage
		array := false
		switch p.Type {
		case socketio.Event, socketio.BinaryEvent, socketio.Ack, socketio.BinaryAck:
			array = true
			elems, err = socketio.SplitArray(p.Data)
			if err != nil {
				t.Fatalf("Decode(%q) accepted payload %q that SplitArray refuses: %v", in, p.Data, err)
			}
			if p.Type == socketio.Event || p.Type == socketio.BinaryEvent {
				if len(elems) == 0 {
					t.Fatalf("Decode(%q) accepted an event without a name", in)
				}
				if _, err := socketio.EventName(p.Data); err != nil {
					t.Fatalf("Decode(%q) accepted an event EventName refuses: %v", in, err)
				}
			} else if p.ID < 0 {
				t.Fatalf("Decode(%q) accepted an ack without id", in)
			}
			raw := make([][]byte, len(elems))
			for i, e := range elems {
				raw[i] = e
			}
			enc = socketio.AppendHeader(nil, p.Type, p.Namespace, p.Attachments, p.ID)
			enc = socketio.AppendArray(enc, raw...)
		default: // Connect, Disconnect
			enc = socketio.AppendHeader(nil, p.Type, p.Namespace, p.Attachments, p.ID)
			enc = append(enc, p.Data...)
		}

		q, err := socketio.Decode(enc, maxAttachments)
		if err != nil {
			t.Fatalf("Decode(%q) = %+v, re-encoded as %q, which Decode refuses: %v", in, p, enc, err)
		}
		if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || q.Attachments != p.Attachments {
			t.Fatalf("round trip of %q through %q: got type %d nsp %q id %d attachments %d, want type %d nsp %q id %d attachments %d",
				in, enc, q.Type, q.Namespace, q.ID, q.Attachments, p.Type, p.Namespace, p.ID, p.Attachments)
		}
		if !array { // Connect or Disconnect
			if (q.Data == nil) != (p.Data == nil) || !bytes.Equal(q.Data, p.Data) {
				t.Fatalf("round trip of %q through %q: payload %q, want %q", in, enc, q.Data, p.Data)
			}
			return
		}
		again, err := socketio.SplitArray(q.Data)
		if err != nil {
			t.Fatalf("round trip of %q through %q: SplitArray(%q): %v", in, enc, q.Data, err)
		}
		if len(again) != len(elems) {
			t.Fatalf("round trip of %q through %q: %d elements, want %d", in, enc, len(again), len(elems))
		}
		for i := range elems {
			if !bytes.Equal(again[i], elems[i]) {
				t.Fatalf("round trip of %q through %q: element %d is %q, want %q", in, enc, i, again[i], elems[i])
			}
		}
	})
}

// FuzzSplitArray compares SplitArray with encoding/json decoding into
// []json.RawMessage.
func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{
		`[]`,
		` [ ] `,
		`["foo"]`,
		`["hey","Jude"]`,
		`["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		`[1,-2.5e+10,true,false,null,""]`,
		`["ev",{"z":1,"a":2}]`,
		"[ \"a\" ,\n\t{ \"b\" : [ 1 , 2 ] } ]",
		`["a,b","c]d","e\"f","\\","\\\"]"]`,
		`[[1,[2,[3,[]]]],{"a":{"b":{"c":[{}]}}}]`,
		`["안녕하세요",{"이름":"홍길동"},"👋"]`,
		`[1,]`,
		`{"a":1}`,
		`[1]x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		got, err := socketio.SplitArray(in)
		if !bytes.Equal(in, orig) {
			t.Fatalf("SplitArray modified its input: %q became %q", orig, in)
		}
		trimmed := bytes.TrimLeft(in, " \t\r\n")
		isArray := len(trimmed) > 0 && trimmed[0] == '[' && json.Valid(in)
		if !isArray {
			if err == nil {
				t.Fatalf("SplitArray(%q) = %q, want an error: not a JSON array", in, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("SplitArray(%q): %v", in, err)
		}
		var std []json.RawMessage
		if err := json.Unmarshal(in, &std); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", in, err)
		}
		if len(got) != len(std) {
			t.Fatalf("SplitArray(%q) = %d elements %q, encoding/json %d %q", in, len(got), got, len(std), std)
		}
		for i := range std {
			var a, b bytes.Buffer
			if err := json.Compact(&a, got[i]); err != nil {
				t.Fatalf("SplitArray(%q)[%d] = %q, not valid JSON: %v", in, i, got[i], err)
			}
			if err := json.Compact(&b, std[i]); err != nil {
				t.Fatalf("json.Compact(%q): %v", std[i], err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatalf("SplitArray(%q)[%d] = %q, encoding/json %q", in, i, got[i], std[i])
			}
			// SplitArray returns the bytes of the input, as encoding/json does.
			if !bytes.Equal(got[i], std[i]) {
				t.Fatalf("SplitArray(%q)[%d] = %q, not byte for byte encoding/json's %q", in, i, got[i], std[i])
			}
		}
	})
}
