package engineio

import (
	"errors"
	"io"
	"net/http"
	"os"
)

// servePoll answers a long-polling GET: at once with what is queued, or
// when something is, or with a noop when the session upgrades. A second
// GET while one waits, or a GET that the client abandons, ends the session,
// as the reference server does.
//
// A GET is idempotent, as HTTP says and as proxies assume: one that
// carries the "t" of the GET answered last (every official client sends a
// random t with each request) is that GET sent again by a proxy that lost
// the answer, and gets the same answer; one that carries the t of the GET
// still waiting takes over the wait, and the first returns. So a gateway
// or proxy that dies while passing on a poll loses no packet when the
// request is retried elsewhere (nginx retries a GET whose upstream fails).
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("t")
	if !s.lockPolling(w, r) {
		return
	}
	switch {
	case t != "" && t == s.pollT && !s.polling && s.answer != nil:
		body := s.answer
		s.mu.Unlock()
		s.writePoll(w, r, body)
		return
	case t != "" && t == s.pollT && s.polling:
		close(s.pollStop) // the first GET returns; this one waits instead
	case s.polling:
		s.mu.Unlock()
		s.close(ReasonTransportError, Close) // answers the first GET
		s.srv.refuse(w, r, codeBadRequest)
		return
	}
	stop := make(chan struct{})
	s.polling, s.pollT, s.answer, s.pollStop = true, t, nil, stop
	var packets []Packet
	for {
		if isClosed(stop) {
			// A retry took over; it may need the wake this GET took.
			s.mu.Unlock()
			s.signal()
			return
		}
		if s.closed {
			packets = append(s.take(), TextPacket(s.last, nil))
			break
		}
		if len(s.queue) > 0 {
			packets = s.take()
			break
		}
		if s.upgrading || s.transport != transportPolling {
			packets = []Packet{TextPacket(Noop, nil)}
			break
		}
		s.mu.Unlock()
		select {
		case <-s.pollWake:
		case <-s.done:
		case <-stop:
		case <-r.Context().Done():
			s.mu.Lock()
			if isClosed(stop) {
				s.mu.Unlock()
				s.signal()
				return
			}
			s.polling = false
			s.mu.Unlock()
			s.close(ReasonTransportError, Close)
			return
		}
		s.mu.Lock()
	}
	// The answer is kept, under the lock, before anyone can ask again.
	body := AppendPayload(make([]byte, 0, payloadSize(packets)), packets)
	s.polling, s.answer = false, body
	s.mu.Unlock()
	s.writePoll(w, r, body)
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (s *Session) writePoll(w http.ResponseWriter, r *http.Request, body []byte) {
	s.srv.setCORS(w, r)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	w.Write(body)
}

func payloadSize(packets []Packet) int {
	n := 0
	for _, p := range packets {
		n += 2 + len(p.Data)
		if p.Binary {
			n += len(p.Data)/3 + 4
		}
	}
	return n
}

// lockPolling locks s.mu for a long-polling request and returns true, or
// refuses the request and returns false, unlocked, when the session is
// closed or has upgraded.
func (s *Session) lockPolling(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		s.srv.refuse(w, r, codeUnknownSID)
		return false
	case s.transport != transportPolling:
		s.mu.Unlock()
		s.srv.refuse(w, r, codeBadRequest)
		return false
	}
	return true
}

// serveData reads a long-polling POST: a payload of packets from the client.
func (s *Session) serveData(w http.ResponseWriter, r *http.Request) {
	if !s.lockPolling(w, r) {
		return
	}
	if s.posting {
		s.mu.Unlock()
		s.close(ReasonTransportError, Close)
		s.srv.refuse(w, r, codeBadRequest)
		return
	}
	s.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}()

	if r.Header.Get("Content-Type") == "application/octet-stream" {
		// Protocol v4 sends binary as base64 inside a text payload.
		s.close(ReasonParseError, Close)
		s.srv.refuse(w, r, codeBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.srv.cfg.MaxPayload)))
	if err != nil {
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			s.close(ReasonTransportError, Close)
			s.srv.setCORS(w, r)
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
			return
		}
		s.close(ReasonTransportError, Close)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The body was too slow: the server set a read deadline
			// (the gateway's BodyTimeout). The reference server closes
			// the session too when a POST ends before its body.
			s.srv.setCORS(w, r)
			w.Header().Set("Connection", "close")
			http.Error(w, "request body too slow", http.StatusRequestTimeout)
		}
		return
	}
	packets, err := DecodePayload(body)
	for _, p := range packets {
		if !s.onPacket(p) {
			break
		}
	}
	if err != nil {
		s.close(ReasonParseError, Close)
		s.srv.refuse(w, r, codeBadRequest)
		return
	}
	s.srv.setCORS(w, r)
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	io.WriteString(w, "ok")
}
