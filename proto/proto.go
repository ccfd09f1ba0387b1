// Package proto is natter's one contract: the events and payloads that
// clients exchange with the gateways, the limits on them, and (with the
// chat layer) the NATS subjects the services meet on. See README.md.
package proto

// Client events, as the seed's page names them.
const (
	EventJoin          = "join"
	EventClientMessage = "client message"
	EventServerMessage = "server message"
	EventLeave         = "leave"
	EventWhisper       = "whisper"
	EventTyping        = "typing"
)

// Limits on what clients send.
const (
	MaxNameRunes    = 32
	MaxMessageRunes = 2000
	DefaultRoom     = "lobby"
)
