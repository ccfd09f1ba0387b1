// Package conformance is the app that the Engine.IO v4 and Socket.IO v5
// test suites of the protocol specifications expect to find, plus a few
// events of natter's own client tests.
//
// At /engine.io/ a raw Engine.IO server echoes every message. At
// /socket.io/, namespaces "/" and "/custom" emit "auth" with the handshake
// auth on connect, answer "message" with "message-back" and ack
// "message-with-ack" with the same arguments; "/refused" refuses every
// connection. Extra events: "server-ack" (the server emits with an ack and
// reports the outcome), "disconnect-me" and "close-transport".
package conformance

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/natter/natter/services/gateway/internal/engineio"
	"github.com/natter/natter/services/gateway/internal/socketio"
)

// Config configures the app; zero values mean the Engine.IO defaults.
type Config struct {
	PingInterval   time.Duration
	PingTimeout    time.Duration
	MaxPayload     int
	AllowedOrigins []string
	Logger         *slog.Logger
}

// App is the conformance app, an http.Handler.
type App struct {
	mux    *http.ServeMux
	echo   *engineio.Server
	sio    *engineio.Server
	logger *slog.Logger
}

// ServerAckTimeout is how long "server-ack" waits for the client's ack.
const ServerAckTimeout = time.Second

// New returns the app.
func New(cfg Config) *App {
	ecfg := engineio.Config{
		PingInterval: cfg.PingInterval,
		PingTimeout:  cfg.PingTimeout,
		MaxPayload:   cfg.MaxPayload,
	}
	if len(cfg.AllowedOrigins) > 0 {
		ecfg.CheckOrigin = engineio.AllowOrigins(cfg.AllowedOrigins)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sio := socketio.NewServer(socketio.Config{MaxAttachmentBytes: cfg.MaxPayload})
	for _, name := range []string{"/", "/custom"} {
		registerEcho(sio.Of(name))
	}
	sio.Of("/refused").Use(func(*socketio.Socket) error {
		return &socketio.Refusal{Message: "not allowed", Data: map[string]string{"reason": "test"}}
	})
	a := &App{
		mux:    http.NewServeMux(),
		echo:   engineio.NewServer(ecfg, echoHandler{}),
		sio:    engineio.NewServer(ecfg, sio),
		logger: logger,
	}
	a.mux.Handle("/engine.io/", a.echo)
	a.mux.Handle("/socket.io/", a.sio)
	return a
}

func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Close closes every session of both servers.
func (a *App) Close() {
	a.echo.Close(engineio.ReasonServerShutdown)
	a.sio.Close(engineio.ReasonServerShutdown)
}

func registerEcho(n *socketio.Namespace) {
	n.OnConnect(func(s *socketio.Socket) {
		s.Emit("auth", s.Auth())
	})
	n.On("message", func(s *socketio.Socket, e *socketio.EventMessage) {
		s.EmitRaw("message-back", e.Args, e.Attachments)
	})
	n.On("message-with-ack", func(s *socketio.Socket, e *socketio.EventMessage) {
		e.AckRaw(e.Args, e.Attachments)
	})
	n.On("server-ack", func(s *socketio.Socket, e *socketio.EventMessage) {
		type result struct {
			OK    bool              `json:"ok"`
			Args  []json.RawMessage `json:"args,omitempty"`
			Error string            `json:"error,omitempty"`
		}
		s.EmitWithAck(ServerAckTimeout, func(args []json.RawMessage, _ [][]byte, err error) {
			if err != nil {
				s.Emit("server-ack-result", result{Error: "timeout"})
				return
			}
			if args == nil {
				args = []json.RawMessage{}
			}
			s.Emit("server-ack-result", result{OK: true, Args: args})
		}, "server-ack-request", rawArgs(e.Args)...)
	})
	n.On("disconnect-me", func(s *socketio.Socket, _ *socketio.EventMessage) {
		s.Disconnect()
	})
	n.On("close-transport", func(s *socketio.Socket, _ *socketio.EventMessage) {
		s.CloseSession()
	})
}

func rawArgs(args []json.RawMessage) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}

// echoHandler is the raw Engine.IO echo: every message back as it came.
type echoHandler struct{}

func (echoHandler) ServeSession(s *engineio.Session) engineio.SessionHandler { return echoSession{s} }

type echoSession struct{ s *engineio.Session }

func (e echoSession) OnMessage(data []byte, binary bool) {
	if binary {
		e.s.Send(engineio.BinaryPacket(data))
		return
	}
	e.s.Send(engineio.TextPacket(engineio.Message, data))
}

func (echoSession) OnClose(string) {}
