package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natter/natter/proto"
)

// livenessInterval is how often a request that waits on another gateway
// checks that the gateway still lives: a poll may wait for a minute, and
// a gateway killed meanwhile would otherwise never answer.
const livenessInterval = time.Second

// addrTimeout bounds the question for a gateway's address, and a liveness
// check.
const addrTimeout = time.Second

// peers asks the other gateways, on their address subjects, where they
// listen and whether they live.
type peers struct {
	nc *nats.Conn

	mu   sync.Mutex
	live map[string]liveness // by gateway id, see gone
}

// liveness is the last check of a gateway.
type liveness struct {
	at   time.Time
	gone bool
}

func newPeers(nc *nats.Conn) *peers {
	return &peers{nc: nc, live: make(map[string]liveness)}
}

// addr asks gateway gw where it listens.
func (p *peers) addr(ctx context.Context, gw string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, addrTimeout)
	defer cancel()
	msg, err := p.nc.RequestWithContext(ctx, proto.GatewayAddrSubject(gw), nil)
	if err != nil {
		return "", err
	}
	if len(msg.Data) == 0 {
		return "", errors.New("no address")
	}
	return string(msg.Data), nil
}

// gone reports whether gateway gw has left NATS: nobody answers on its
// address subject. A slow answer is not taken for an absent one. An answer
// serves every request waiting on gw for half a livenessInterval, so that
// thousands of waiting polls cost a few checks a second, not thousands.
func (p *peers) gone(gw string) bool {
	p.mu.Lock()
	l, ok := p.live[gw]
	p.mu.Unlock()
	if ok && time.Since(l.at) < livenessInterval/2 {
		return l.gone
	}
	ctx, cancel := context.WithTimeout(context.Background(), addrTimeout)
	defer cancel()
	_, err := p.nc.RequestWithContext(ctx, proto.GatewayAddrSubject(gw), nil)
	gone := errors.Is(err, nats.ErrNoResponders)
	p.mu.Lock()
	p.live[gw] = liveness{at: time.Now(), gone: gone}
	p.mu.Unlock()
	return gone
}
