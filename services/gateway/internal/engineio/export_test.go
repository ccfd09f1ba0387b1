package engineio

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
