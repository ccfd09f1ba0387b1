package engineio

// NopObserver is the Observer that does nothing, for tests' observers to
// embed.
type NopObserver = nopObserver

// PollWaiting reports whether a GET of the session sid is waiting.
func (s *Server) PollWaiting(sid string) bool {
	sess := s.session(sid)
	if sess == nil {
		return false
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.polling
}

// Queued returns the bytes charged for the queue of every open session.
func (s *Server) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sess := range s.sessions {
		sess.mu.Lock()
		n += sess.queued
		sess.mu.Unlock()
	}
	return n
}
