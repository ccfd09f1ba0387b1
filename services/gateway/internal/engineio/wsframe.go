package engineio

import (
	"encoding/binary"
	"net"
	"sync"
)

// WebSocket opcodes (RFC 6455 §5.2) of the frames the writer makes.
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPong   = 0xA
)

// wsPong is the Type of a queued packet that is a WebSocket pong, the
// answer to a client's ping frame, written in turn with the rest. It never
// leaves the WebSocket writer: no Engine.IO packet has this type.
const wsPong PacketType = 0xff

// inlineMax is the largest payload copied into the write buffer; a larger
// one goes to the kernel from where it lies (writev), not copied.
const inlineMax = 4 << 10

// maxPooledBuffer caps what a write buffer may keep between batches: a
// rare huge batch does not pin its memory.
const maxPooledBuffer = 64 << 10

// frameWriter writes a batch of packets to a WebSocket as unmasked server
// frames (RFC 6455 §5.2) in as few syscalls as the kernel allows: one
// writev of every header and small payload, copied into one buffer, and
// of each large payload where it lies. gorilla/websocket writes one
// message per syscall and offers no batch; the session's writer is the
// connection's only writer, so it may write to the connection itself. No
// extension is negotiated (the upgrader enables no compression), so a
// frame is its header and its payload.
type frameWriter struct {
	buf     []byte
	iovs    net.Buffers
	pending net.Buffers // what writeTo has yet to write; a field, so that it is not allocated
}

var frameWriters = sync.Pool{New: func() any { return new(frameWriter) }}

// frameHeaderLen is the size of an unmasked frame header for a payload of n bytes.
func frameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// appendFrameHeader appends the header of one final, unmasked frame.
func appendFrameHeader(b []byte, opcode byte, n int) []byte {
	b = append(b, 0x80|opcode)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		return binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		return binary.BigEndian.AppendUint64(b, uint64(n))
	}
}

// frame returns a packet's opcode, and the byte that precedes its data in
// the payload (the Engine.IO type of a text packet), if any.
func frame(p Packet) (opcode byte, prefix []byte) {
	switch {
	case p.Type == wsPong:
		return opPong, nil
	case p.Binary:
		return opBinary, nil
	default:
		return opText, typeDigits[p.Type : p.Type+1]
	}
}

// typeDigits holds the digit of each packet type, so that a frame's prefix
// is a slice of it, not a new byte.
var typeDigits = []byte("0123456789")

// encode lays out packets as frames: b.buf holds every header and small
// payload, b.iovs the pieces to write in order.
func (b *frameWriter) encode(packets []Packet) {
	size := 0
	for _, p := range packets {
		_, prefix := frame(p)
		n := len(prefix) + len(p.Data)
		size += frameHeaderLen(n) + len(prefix)
		if len(p.Data) <= inlineMax {
			size += len(p.Data)
		}
	}
	if cap(b.buf) < size {
		b.buf = make([]byte, 0, size)
	}
	buf, iovs, mark := b.buf[:0], b.iovs[:0], 0
	for _, p := range packets {
		opcode, prefix := frame(p)
		buf = appendFrameHeader(buf, opcode, len(prefix)+len(p.Data))
		buf = append(buf, prefix...)
		if len(p.Data) <= inlineMax {
			buf = append(buf, p.Data...)
			continue
		}
		iovs = append(iovs, buf[mark:], p.Data)
		mark = len(buf)
	}
	if mark < len(buf) {
		iovs = append(iovs, buf[mark:])
	}
	b.buf, b.iovs = buf, iovs
}

// writeTo writes what encode laid out.
func (b *frameWriter) writeTo(conn net.Conn) error {
	b.pending = b.iovs // WriteTo consumes the slice it is given
	_, err := b.pending.WriteTo(conn)
	return err
}

// release returns b to the pool, dropping references to the payloads.
func (b *frameWriter) release() {
	clear(b.iovs[:cap(b.iovs)])
	b.iovs, b.pending = b.iovs[:0], nil
	if cap(b.buf) > maxPooledBuffer {
		b.buf = nil
	}
	frameWriters.Put(b)
}
