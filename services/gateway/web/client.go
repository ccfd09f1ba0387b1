package web

import (
	"bytes"
	_ "embed"
	"net/http"
	"time"
)

// socketIOClient is the official Socket.IO browser client; see vendor/README.md.
//
//go:embed vendor/socket.io.min.js
var socketIOClient []byte

var started = time.Now()

// ClientHandler serves the Socket.IO browser client, as the reference
// server does at /socket.io/socket.io.js.
func ClientHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeContent(w, r, "socket.io.min.js", started, bytes.NewReader(socketIOClient))
	})
}
