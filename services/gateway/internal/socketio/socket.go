package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/natter/natter/services/gateway/internal/engineio"
)

// Errors of emits and acks.
var (
	ErrAckTimeout   = errors.New("socketio: ack timed out")
	ErrDisconnected = errors.New("socketio: socket disconnected")
	ErrNoAck        = errors.New("socketio: the client asked for no ack")
	ErrAcked        = errors.New("socketio: already acked")
)

// Socket is a client's connection to one namespace.
type Socket struct {
	id     string
	nsp    *Namespace
	client *client
	auth   json.RawMessage
	// pid is the socket's private id, with recovery on; recovered tells
	// whether the socket took up a previous one's state.
	pid       string
	recovered bool

	mu        sync.Mutex
	connected bool
	nextAck   int64
	acks      map[int64]*pendingAck
	data      any
}

type pendingAck struct {
	timer *time.Timer
	done  func(args []json.RawMessage, attachments [][]byte, err error)
}

func newSocket(c *client, nsp *Namespace, auth json.RawMessage) *Socket {
	return &Socket{id: engineio.RandomID(), nsp: nsp, client: c, auth: auth, connected: true}
}

// ID returns the socket's id, the "sid" of its CONNECT answer.
func (s *Socket) ID() string { return s.id }

// PID returns the socket's private id, "" without connection state
// recovery. A client that reconnects presents it to recover the socket's
// state.
func (s *Socket) PID() string { return s.pid }

// Recovered reports whether the socket took up the state of a previous
// socket of the client's (see Recovery).
func (s *Socket) Recovered() bool { return s.recovered }

// Namespace returns the name of the socket's namespace.
func (s *Socket) Namespace() string { return s.nsp.name }

// Auth returns the CONNECT payload, {} when the client sent none.
func (s *Socket) Auth() json.RawMessage { return s.auth }

// Session returns the Engine.IO session the socket travels on.
func (s *Socket) Session() *engineio.Session { return s.client.sess }

// SetData stores a value of the application's on the socket.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Data returns what SetData stored.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Connected reports whether the socket is still connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// EventMessage is an event received from a client.
type EventMessage struct {
	Name string
	// Args are the arguments after the name, as raw JSON. A binary
	// argument is a placeholder {"_placeholder":true,"num":N} that names
	// Attachments[N].
	Args        []json.RawMessage
	Attachments [][]byte

	socket *Socket
	ackID  int64
	acked  bool
}

// WantsAck reports whether the client asked for an acknowledgement.
func (e *EventMessage) WantsAck() bool { return e.ackID >= 0 }

// Ack answers the event with args, encoded as Emit encodes them.
func (e *EventMessage) Ack(args ...any) error {
	raw, att, err := encodeArgs(args)
	if err != nil {
		return err
	}
	return e.AckRaw(raw, att)
}

// AckRaw answers the event with raw JSON arguments and attachments.
func (e *EventMessage) AckRaw(args []json.RawMessage, attachments [][]byte) error {
	if e.ackID < 0 {
		return ErrNoAck
	}
	if e.acked {
		return ErrAcked
	}
	e.acked = true
	t := Ack
	if len(attachments) > 0 {
		t = BinaryAck
	}
	frame := AppendHeader(nil, t, e.socket.nsp.name, len(attachments), e.ackID)
	frame = AppendArray(frame, rawElems(args)...)
	return e.socket.sendFrame(frame, attachments)
}

func (s *Socket) onEvent(p Packet, attachments [][]byte) {
	h := s.nsp.handler(p.Name)
	if h == nil {
		return
	}
	h(s, &EventMessage{Name: p.Name, Args: p.Elems[1:], Attachments: attachments, socket: s, ackID: p.ID})
}

func (s *Socket) onAck(p Packet, attachments [][]byte) {
	args := p.Elems
	s.mu.Lock()
	pa := s.acks[p.ID]
	delete(s.acks, p.ID)
	s.mu.Unlock()
	if pa == nil || !pa.timer.Stop() {
		return // unknown, or timed out already
	}
	pa.done(args, attachments, nil)
}

// Emit sends an event. Each argument is marshalled as JSON (HTML left
// unescaped), except json.RawMessage, sent as it is, and []byte, sent as a
// binary attachment.
func (s *Socket) Emit(event string, args ...any) error {
	raw, att, err := encodeArgs(args)
	if err != nil {
		return err
	}
	return s.EmitRaw(event, raw, att)
}

// EmitRaw sends an event with raw JSON arguments and their attachments.
func (s *Socket) EmitRaw(event string, args []json.RawMessage, attachments [][]byte) error {
	frame, err := EncodeEvent(s.nsp.name, event, -1, args, len(attachments))
	if err != nil {
		return err
	}
	return s.sendFrame(frame, attachments)
}

// EmitWithAck sends an event and asks the client to acknowledge it within
// timeout. done runs once: with the client's ack arguments, or with
// ErrAckTimeout, or with ErrDisconnected. It runs on the session's reader
// or on a timer, and must not block.
func (s *Socket) EmitWithAck(timeout time.Duration, done func(args []json.RawMessage, attachments [][]byte, err error), event string, args ...any) error {
	raw, att, err := encodeArgs(args)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return ErrDisconnected
	}
	id := s.nextAck
	s.nextAck++
	if s.acks == nil {
		s.acks = make(map[int64]*pendingAck)
	}
	pa := &pendingAck{done: done}
	pa.timer = time.AfterFunc(timeout, func() {
		s.mu.Lock()
		delete(s.acks, id)
		s.mu.Unlock()
		done(nil, nil, ErrAckTimeout)
	})
	s.acks[id] = pa
	s.mu.Unlock()

	frame, err := EncodeEvent(s.nsp.name, event, id, raw, len(att))
	if err == nil {
		err = s.sendFrame(frame, att)
	}
	if err != nil {
		s.mu.Lock()
		delete(s.acks, id)
		s.mu.Unlock()
		pa.timer.Stop()
		return err
	}
	return nil
}

// EncodeEvent returns the frame of an event: header and JSON array, the
// name first. With attachments > 0 it is a BINARY_EVENT whose attachments
// are sent after it. Frames may be built once and sent to many sockets of
// the namespace with SendFrame.
func EncodeEvent(nsp, event string, id int64, args []json.RawMessage, attachments int) ([]byte, error) {
	name, err := json.Marshal(event)
	if err != nil {
		return nil, fmt.Errorf("event name: %w", err)
	}
	t := Event
	if attachments > 0 {
		t = BinaryEvent
	}
	size := 8 + len(nsp) + len(name)
	for _, a := range args {
		size += len(a) + 1
	}
	frame := AppendHeader(make([]byte, 0, size), t, nsp, attachments, id)
	frame = append(frame, '[')
	frame = append(frame, name...)
	for _, a := range args {
		frame = append(frame, ',')
		frame = append(frame, a...)
	}
	return append(frame, ']'), nil
}

// SendFrame sends a frame made by EncodeEvent, with its attachments.
func (s *Socket) SendFrame(frame []byte, attachments [][]byte) error {
	return s.sendFrame(frame, attachments)
}

func (s *Socket) sendFrame(frame []byte, attachments [][]byte) error {
	if len(attachments) == 0 {
		return s.client.send(engineio.TextPacket(engineio.Message, frame))
	}
	packets := make([]engineio.Packet, 0, 1+len(attachments))
	packets = append(packets, engineio.TextPacket(engineio.Message, frame))
	for _, a := range attachments {
		packets = append(packets, engineio.BinaryPacket(a))
	}
	return s.client.send(packets...)
}

// Disconnect removes the socket from its namespace and tells the client
// (the client's "io server disconnect": it does not reconnect).
func (s *Socket) Disconnect() {
	if s.client.remove(s.nsp.name) != s {
		return
	}
	s.client.send(engineio.TextPacket(engineio.Message, AppendHeader(nil, Disconnect, s.nsp.name, 0, -1)))
	s.disconnected("server namespace disconnect")
}

// CloseSession closes the whole Engine.IO session under the socket; the
// client sees its transport close and reconnects.
func (s *Socket) CloseSession() { s.client.sess.Close() }

// disconnected runs once when the socket leaves: pending acks fail and
// the namespace's OnDisconnect runs.
func (s *Socket) disconnected(reason string) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	s.connected = false
	acks := s.acks
	s.acks = nil
	s.mu.Unlock()
	for _, pa := range acks {
		if pa.timer.Stop() {
			pa.done(nil, nil, ErrDisconnected)
		}
	}
	s.nsp.mu.RLock()
	f := s.nsp.onDisconnect
	s.nsp.mu.RUnlock()
	if f != nil {
		f(s, reason)
	}
}

// encodeArgs marshals emit arguments: []byte values become attachments
// with placeholders, json.RawMessage passes as it is.
func encodeArgs(args []any) ([]json.RawMessage, [][]byte, error) {
	raw := make([]json.RawMessage, len(args))
	var att [][]byte
	for i, a := range args {
		switch v := a.(type) {
		case json.RawMessage:
			if !json.Valid(v) {
				return nil, nil, fmt.Errorf("socketio: argument %d is not valid JSON", i)
			}
			raw[i] = v
		case []byte:
			raw[i] = placeholder(len(att))
			att = append(att, v)
		default:
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return nil, nil, fmt.Errorf("socketio: argument %d: %w", i, err)
			}
			raw[i] = bytes.TrimRight(buf.Bytes(), "\n")
		}
	}
	return raw, att, nil
}

func placeholder(n int) json.RawMessage {
	b := append([]byte(`{"_placeholder":true,"num":`), strconv.Itoa(n)...)
	return append(b, '}')
}

func rawElems(args []json.RawMessage) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}
