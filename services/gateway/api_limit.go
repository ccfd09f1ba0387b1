package gateway

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/natter/natter/proto"
	"github.com/natter/natter/services/gateway/internal/engineio"
)

// DefaultAPIRate is the server API's default budget per client: requests
// a second, and at once above it.
var DefaultAPIRate = Rate{PerSecond: 20, Burst: 50}

// apiLimiter is the server API's flood control: a token bucket per
// client, which is the client address (see clientAddr; a loopback caller
// is "local", one budget for every tool on the host) over HTTP, and the
// requesting connection (its reply inbox's prefix, see natsClient) over
// NATS. The key authenticates, the bucket bounds; like the client
// events' buckets they are the gateway's own, so N gateways give a
// client N times the rate.
type apiLimiter struct {
	rate    Rate
	buckets *bucketSet // scope 0 only: one bucket per client
	proxies trustedProxies
}

func newAPILimiter(rate Rate, proxies trustedProxies) *apiLimiter {
	return &apiLimiter{rate: rate, buckets: newBucketSet([3]Rate{rate, Off, Off}), proxies: proxies}
}

// admit takes a token of client's bucket; when it is empty, it returns
// the rate_limited error to answer with and how long until a token is
// back.
func (l *apiLimiter) admit(client string) (time.Duration, error) {
	if l.rate.off() {
		return 0, nil
	}
	scope, wait := l.buckets.take(time.Now(), [3]string{client, "", ""})
	if scope == "" {
		return 0, nil
	}
	wait = max(wait, time.Millisecond).Round(time.Millisecond)
	return wait, proto.Errorf(proto.CodeRateLimited, "too many API requests from this client; retry in %s", wait)
}

// httpClient is an HTTP request's client, as a bucket key.
func (l *apiLimiter) httpClient(r *http.Request) string {
	addr := l.proxies.clientAddr(&engineio.Request{Header: r.Header, RemoteAddr: r.RemoteAddr})
	if addr == "" {
		addr = "local"
	}
	return "http:" + addr
}

// natsClient is a NATS request's client, as a bucket key: its reply
// subject without the last token, which a nats.go or nats CLI connection
// keeps for all its requests (_INBOX.<connection's nuid>.<request>). A
// client that picks a new reply prefix for each request gets a new
// bucket each time: over NATS, the bus's permissions are the guard, and
// this bounds the clients that play by its rules.
func natsClient(reply string) string {
	if i := strings.LastIndexByte(reply, '.'); i > 0 {
		reply = reply[:i]
	}
	return "nats:" + reply
}

// retryAfter is the Retry-After header of a wait: whole seconds, at
// least 1.
func retryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// ParseAPIRate parses NATTER_API_RATE_LIMIT: rate/burst (requests a
// second per client, and at once above it), or off; "" is the zero
// Rate, the default.
func ParseAPIRate(s string) (Rate, error) {
	switch s {
	case "":
		return Rate{}, nil
	case "off":
		return Off, nil
	}
	ps, bs, ok := strings.Cut(s, "/")
	rate, err1 := strconv.ParseFloat(ps, 64)
	burst, err2 := strconv.Atoi(bs)
	if !ok || err1 != nil || err2 != nil || !(rate > 0) || math.IsInf(rate, 0) || burst < 1 {
		return Rate{}, fmt.Errorf("API rate limit %q: want a positive rate per second, /, and a burst of at least 1, or off", s)
	}
	return Rate{PerSecond: rate, Burst: burst}, nil
}
