package socketio_test

import (
	"encoding/json"
	"testing"

	"github.com/natter/natter/services/gateway/internal/socketio"
)

var event = []byte(`2["client message",{"message":"안녕하세요, natter","clientId":"7b0d7c2e-5c38-4a5e-9a47-0d3c1c1f4c55"}]`)

// BenchmarkDecodeEvent is what the gateway does with each event a client
// sends: decode and validate the packet, split the arguments, read the name.
func BenchmarkDecodeEvent(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(event)))
	for b.Loop() {
		p, err := socketio.Decode(event, 10)
		if err != nil {
			b.Fatal(err)
		}
		if p.Name != "client message" || len(p.Elems) != 2 {
			b.Fatal(p.Name, len(p.Elems))
		}
	}
}

// BenchmarkEncodeEvent is the gateway's cost per chat message fanned out:
// one frame, whatever the number of local recipients.
func BenchmarkEncodeEvent(b *testing.B) {
	msg := json.RawMessage(`{"id":"01JDQ3Z8K9V7M2N4P6R8T0W2Y4","room":"lobby","username":"민지","color":"#e6194b","message":"안녕하세요, natter","ts":1764130000000}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := socketio.EncodeEvent("/", "server message", -1, []json.RawMessage{msg}, 0); err != nil {
			b.Fatal(err)
		}
	}
}
