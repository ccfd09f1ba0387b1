package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Engine.IO v4 packets as they travel in a WebSocket frame or, separated by
// recordSep, in a polling body; Socket.IO v5 packets inside its messages
// ("4" then "0" connect, "2" event, "3" ack, "4" connect error).
const (
	recordSep = 0x1e

	pktPing = "2"
	pktPong = "3"
)

var (
	prefixEvent         = []byte("42")
	prefixAck           = []byte("43")
	prefixConnect       = []byte("40")
	prefixConnectError  = []byte("44")
	prefixServerMessage = []byte(`42["server message",`)
	fieldMessage        = []byte(`"message":"`)
	okTrue              = []byte(`"ok":true`)
)

// handshake is the Engine.IO open packet's payload.
type handshake struct {
	SID          string `json:"sid"`
	PingInterval int    `json:"pingInterval"` // ms
	PingTimeout  int    `json:"pingTimeout"`  // ms
}

// parseOpen reads the Engine.IO open packet, "0{...}".
func parseOpen(p []byte) (handshake, error) {
	var h handshake
	if len(p) == 0 || p[0] != '0' {
		return h, fmt.Errorf("want an Engine.IO open packet, got %.60q", p)
	}
	if err := json.Unmarshal(p[1:], &h); err != nil {
		return h, fmt.Errorf("open packet %.60q: %w", p, err)
	}
	if h.SID == "" {
		return h, errors.New("open packet without sid")
	}
	return h, nil
}

// parseAck splits a Socket.IO ack packet, `43<id>[...]`, into its id and
// arguments.
func parseAck(p []byte) (id int, args []byte, ok bool) {
	if !bytes.HasPrefix(p, prefixAck) {
		return 0, nil, false
	}
	i := len(prefixAck)
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		id = id*10 + int(p[i]-'0')
		i++
	}
	if i == len(prefixAck) || i == len(p) || p[i] != '[' {
		return 0, nil, false
	}
	return id, p[i:], true
}

// ackOK reports whether an ack's arguments say {ok:true}.
func ackOK(args []byte) bool { return bytes.Contains(args, okTrue) }

// stamp is what a fan-out message's text carries: the step of the sweep it
// belongs to, its sender, the sender's sequence number and when it was due,
// in nanoseconds since the generator started: "step.sender.seq.due".
type stamp struct {
	step, sender, seq, due int64
}

// appendMessage appends a `client message` event with ack id and the stamp as
// its text.
func appendMessage(b []byte, ackID int, s stamp) []byte {
	b = append(b, prefixEvent...)
	b = strconv.AppendInt(b, int64(ackID), 10)
	b = append(b, `["client message",{"message":"`...)
	b = strconv.AppendInt(b, s.step, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, s.sender, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, s.seq, 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, s.due, 10)
	return append(b, `"}]`...)
}

// parseStamp finds the stamp in a `server message` packet without decoding
// its JSON: the digits after `"message":"`.
func parseStamp(p []byte) (stamp, bool) {
	if !bytes.HasPrefix(p, prefixServerMessage) {
		return stamp{}, false
	}
	i := bytes.Index(p, fieldMessage)
	if i < 0 {
		return stamp{}, false
	}
	p = p[i+len(fieldMessage):]
	var f [4]int64
	for k := range f {
		j := 0
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			f[k] = f[k]*10 + int64(p[j]-'0')
			j++
		}
		want := byte('.')
		if k == len(f)-1 {
			want = '"'
		}
		if j == 0 || j == len(p) || p[j] != want {
			return stamp{}, false
		}
		p = p[j+1:]
	}
	return stamp{step: f[0], sender: f[1], seq: f[2], due: f[3]}, true
}

// eachPacket calls fn with every packet of a polling body.
func eachPacket(body []byte, fn func([]byte)) {
	for len(body) > 0 {
		i := bytes.IndexByte(body, recordSep)
		if i < 0 {
			fn(body)
			return
		}
		fn(body[:i])
		body = body[i+1:]
	}
}

// epoch is the generator's clock: stamps are nanoseconds since it, on the
// monotonic clock, so that senders and receivers in the process agree.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }
