// Package engineio implements the server side of the Engine.IO protocol,
// version 4: the HTTP long-polling and WebSocket transports, the upgrade from
// one to the other, and heartbeats.
//
// The specification is docs/engine.io-protocol/v4-current.md in the
// socketio/socket.io repository.
package engineio

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// PacketType is the first character of every Engine.IO packet.
type PacketType byte

// Packet types, in wire order ('0' is Open).
const (
	Open PacketType = iota
	Close
	Ping
	Pong
	Message
	Upgrade
	Noop
)

var typeNames = [...]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

func (t PacketType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// Packet is one Engine.IO packet. Binary is only ever set on Message packets:
// over WebSocket it travels as a binary frame, over polling as "b"+base64.
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
}

// recordSeparator joins packets in a long-polling payload.
const recordSeparator = 0x1e

// ErrBadPacket is returned for input that is not a valid Engine.IO packet.
var ErrBadPacket = errors.New("engineio: bad packet")

// TextPacket returns a text packet of type t with data.
func TextPacket(t PacketType, data []byte) Packet { return Packet{Type: t, Data: data} }

// BinaryPacket returns a binary message packet.
func BinaryPacket(data []byte) Packet { return Packet{Type: Message, Data: data, Binary: true} }

// DecodeText decodes a packet received as text: a type digit followed by data.
// The returned packet's Data aliases b.
func DecodeText(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, fmt.Errorf("%w: empty", ErrBadPacket)
	}
	t := b[0] - '0'
	if b[0] < '0' || t > byte(Noop) {
		return Packet{}, fmt.Errorf("%w: unknown type %q", ErrBadPacket, b[0])
	}
	return Packet{Type: PacketType(t), Data: b[1:]}, nil
}

// AppendText appends the text form of p to dst: the type digit and the data.
// It must not be called for binary packets.
func AppendText(dst []byte, p Packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...)
}

// AppendPayload appends packets to dst as a long-polling payload: text
// packets as they are, binary ones as "b" followed by standard base64,
// separated by the record separator.
func AppendPayload(dst []byte, packets []Packet) []byte {
	for i, p := range packets {
		if i > 0 {
			dst = append(dst, recordSeparator)
		}
		if p.Binary {
			dst = append(dst, 'b')
			dst = base64.StdEncoding.AppendEncode(dst, p.Data)
			continue
		}
		dst = AppendText(dst, p)
	}
	return dst
}

// DecodePayload splits a long-polling payload into packets. It stops at the
// first bad packet and returns the packets before it with the error. The
// text packets' Data alias b; binary ones are freshly decoded.
func DecodePayload(b []byte) ([]Packet, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty payload", ErrBadPacket)
	}
	n := bytes.Count(b, []byte{recordSeparator}) + 1
	packets := make([]Packet, 0, n)
	for len(b) > 0 || n > len(packets) {
		var rec []byte
		if i := bytes.IndexByte(b, recordSeparator); i >= 0 {
			rec, b = b[:i], b[i+1:]
		} else {
			rec, b = b, nil
		}
		p, err := decodeRecord(rec)
		if err != nil {
			return packets, err
		}
		packets = append(packets, p)
	}
	return packets, nil
}

func decodeRecord(rec []byte) (Packet, error) {
	if len(rec) > 0 && rec[0] == 'b' {
		// Padding is optional, as for the reference server (Node's Buffer
		// decodes base64 with or without it).
		enc := bytes.TrimRight(rec[1:], "=")
		data := make([]byte, base64.RawStdEncoding.DecodedLen(len(enc)))
		n, err := base64.RawStdEncoding.Decode(data, enc)
		if err != nil {
			return Packet{}, fmt.Errorf("%w: base64: %v", ErrBadPacket, err)
		}
		return BinaryPacket(data[:n]), nil
	}
	return DecodeText(rec)
}
