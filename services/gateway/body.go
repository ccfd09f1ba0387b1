package gateway

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// bodyDeadline bounds the time a request's body may take to arrive, from
// when its headers were read: a read after the deadline fails with
// os.ErrDeadlineExceeded (Engine.IO answers such a POST 408), and the
// server closes the connection. The deadline is lifted once the body has
// been read to its end, so that a handler that then waits (a polling POST
// held up by backpressure) is not cut; requests without a body, such as a
// long-polling GET, get none: a server-wide ReadTimeout would cut those.
type bodyDeadline struct {
	next     http.Handler
	timeout  time.Duration
	timedOut prometheus.Counter
}

func (b bodyDeadline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(b.timeout)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, timedOut: b.timedOut}
		}
	}
	b.next.ServeHTTP(w, r)
}

// deadlineBody lifts the read deadline at the body's end and counts a
// body that did not arrive in time. Only the request's handler, and the
// server after it, read it: one at a time.
type deadlineBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	timedOut prometheus.Counter
	counted  bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded) && !b.counted:
		b.counted = true
		b.timedOut.Inc()
	}
	return n, err
}
