// Package socketio implements the server side of the Socket.IO protocol,
// version 5, over an Engine.IO v4 server: namespaces, events, acks both
// ways and binary attachments. Arguments travel as raw JSON, so frames keep
// the client's key order and are never decoded on the way through.
//
// The specification is docs/socket.io-protocol/v5-current.md in the
// socketio/socket.io repository.
package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is the first character of a Socket.IO packet.
type PacketType byte

// Packet types, in wire order ('0' is Connect).
const (
	Connect PacketType = iota
	Disconnect
	Event
	Ack
	ConnectError
	BinaryEvent
	BinaryAck
)

// Packet is a decoded Socket.IO packet. Data is the raw JSON payload (nil
// when there is none); for events and acks it is an array.
type Packet struct {
	Type        PacketType
	Namespace   string
	ID          int64 // ack id; -1 when absent
	Attachments int   // binary attachments that follow the packet
	Data        json.RawMessage
	// For events and acks, Decode splits Data: Elems are the array's
	// elements (an event's name first), and Name is an event's name.
	Elems []json.RawMessage
	Name  string
}

// ErrBadPacket is returned for input that is not a valid Socket.IO packet.
var ErrBadPacket = errors.New("socketio: bad packet")

// maxIDDigits bounds an ack id: ids are counters, and 15 digits stay exact
// in a JavaScript number.
const maxIDDigits = 15

// reserved are event names a client may not send (the reference parser
// refuses them too).
var reserved = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// Decode parses a text Socket.IO packet. maxAttachments bounds the
// attachment count of binary packets. The packet's Data aliases b.
func Decode(b []byte, maxAttachments int) (Packet, error) {
	p := Packet{ID: -1}
	if len(b) == 0 || b[0] < '0' || b[0] > '0'+byte(BinaryAck) {
		return p, fmt.Errorf("%w: unknown type", ErrBadPacket)
	}
	p.Type = PacketType(b[0] - '0')
	i := 1
	if p.Type == BinaryEvent || p.Type == BinaryAck {
		j := bytes.IndexByte(b[i:], '-')
		if j <= 0 || j > 4 {
			return p, fmt.Errorf("%w: attachment count", ErrBadPacket)
		}
		n, err := strconv.Atoi(string(b[i : i+j]))
		if err != nil || n < 0 || n > maxAttachments {
			return p, fmt.Errorf("%w: attachment count %q", ErrBadPacket, b[i:i+j])
		}
		p.Attachments = n
		i += j + 1
	}
	p.Namespace = "/"
	if i < len(b) && b[i] == '/' {
		j := bytes.IndexByte(b[i:], ',')
		if j < 0 {
			p.Namespace = string(b[i:])
			i = len(b)
		} else {
			p.Namespace = string(b[i : i+j])
			i += j + 1
		}
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i > start {
		if i-start > maxIDDigits {
			return p, fmt.Errorf("%w: ack id too long", ErrBadPacket)
		}
		p.ID, _ = strconv.ParseInt(string(b[start:i]), 10, 64)
	}
	if i < len(b) {
		p.Data = b[i:]
	}
	if err := p.validate(); err != nil {
		return p, err
	}
	return p, nil
}

// validate checks the payload against the packet type, as the reference
// parser does.
func (p *Packet) validate() error {
	switch p.Type {
	case Connect:
		if p.Data != nil && !isObject(p.Data) {
			return fmt.Errorf("%w: CONNECT payload must be an object", ErrBadPacket)
		}
	case Disconnect:
		if p.Data != nil {
			return fmt.Errorf("%w: DISCONNECT has no payload", ErrBadPacket)
		}
	case Event, BinaryEvent:
		if !isArray(p.Data) {
			return fmt.Errorf("%w: event payload must be an array", ErrBadPacket)
		}
		p.Elems = splitValid(p.Data)
		if len(p.Elems) == 0 {
			return fmt.Errorf("%w: event without a name", ErrBadPacket)
		}
		name, err := nameOf(p.Elems[0])
		if err != nil {
			return err
		}
		p.Name = name
	case Ack, BinaryAck:
		if p.ID < 0 {
			return fmt.Errorf("%w: ACK without id", ErrBadPacket)
		}
		if !isArray(p.Data) {
			return fmt.Errorf("%w: ACK payload must be an array", ErrBadPacket)
		}
		p.Elems = splitValid(p.Data)
	case ConnectError:
		return fmt.Errorf("%w: CONNECT_ERROR from a client", ErrBadPacket)
	}
	return nil
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

func isArray(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '[' && json.Valid(b)
}

// EventName returns the name of an event payload, its first element: a
// string that is not reserved, or a number (kept in its JSON text).
func EventName(data []byte) (string, error) {
	if !isArray(data) {
		return "", fmt.Errorf("%w: event payload must be an array", ErrBadPacket)
	}
	first, _, err := nextElement(data, skipOpen(data))
	if err != nil || first == nil {
		return "", fmt.Errorf("%w: event without a name", ErrBadPacket)
	}
	return nameOf(first)
}

// nameOf reads an event name from the first element of a valid array.
func nameOf(first []byte) (string, error) {
	switch first[0] {
	case '"':
		var name string
		if err := json.Unmarshal(first, &name); err != nil {
			return "", fmt.Errorf("%w: event name: %v", ErrBadPacket, err)
		}
		if reserved[name] {
			return "", fmt.Errorf("%w: reserved event name %q", ErrBadPacket, name)
		}
		return name, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(first), nil
	}
	return "", fmt.Errorf("%w: event name must be a string", ErrBadPacket)
}

// SplitArray returns the elements of a JSON array, which must be valid
// JSON. The elements alias data.
func SplitArray(data []byte) ([]json.RawMessage, error) {
	if !isArray(data) {
		return nil, fmt.Errorf("%w: not an array", ErrBadPacket)
	}
	return splitValid(data), nil
}

// splitValid splits an array already known to be valid JSON.
func splitValid(data []byte) []json.RawMessage {
	out := make([]json.RawMessage, 0, 4)
	i := skipOpen(data)
	for {
		el, next, err := nextElement(data, i)
		if err != nil || el == nil {
			return out
		}
		out = append(out, el)
		i = next
	}
}

// skipOpen returns the index just past the '[' of a valid array.
func skipOpen(data []byte) int { return bytes.IndexByte(data, '[') + 1 }

// nextElement scans the valid JSON array data from i (just past '[' or
// past an element) and returns the next element, or nil at the closing ']'.
func nextElement(data []byte, i int) (el []byte, next int, err error) {
	i = skipSpace(data, i)
	if i < len(data) && data[i] == ',' {
		i = skipSpace(data, i+1)
	}
	if i >= len(data) {
		return nil, i, fmt.Errorf("%w: truncated array", ErrBadPacket)
	}
	if data[i] == ']' {
		return nil, i, nil
	}
	start, depth, inString := i, 0, false
	for ; i < len(data); i++ {
		c := data[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 {
				return trimSpace(data[start:i]), i, nil
			}
			depth--
		case ',':
			if depth == 0 {
				return trimSpace(data[start:i]), i, nil
			}
		}
	}
	return nil, i, fmt.Errorf("%w: truncated array", ErrBadPacket)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

func trimSpace(b []byte) []byte { return bytes.TrimRight(b, " \t\r\n") }

// AppendHeader appends a packet's type, attachment count, namespace and ack
// id (when id >= 0): everything that comes before the payload.
func AppendHeader(dst []byte, t PacketType, nsp string, attachments int, id int64) []byte {
	dst = append(dst, '0'+byte(t))
	if t == BinaryEvent || t == BinaryAck {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if id >= 0 {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return dst
}

// AppendArray appends the JSON array of elems, each already valid JSON.
func AppendArray(dst []byte, elems ...[]byte) []byte {
	dst = append(dst, '[')
	for i, e := range elems {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, e...)
	}
	return append(dst, ']')
}
