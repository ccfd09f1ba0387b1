package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Idle holds Conns connections (handshake, Socket.IO connect, with Join one
// room of PerRoom each) for Hold, answering pings, and reports how much the
// server's resident memory grew per connection.
type Idle struct {
	Dialers []*Dialer
	Target  string
	Conns   int
	Join    bool
	PerRoom int
	Hold    time.Duration
	Pids    []int
	Prefix  string
	Out     io.Writer
}

// Run opens, holds and closes the connections, and prints the line.
func (d *Idle) Run(ctx context.Context) error {
	if d.Conns < 1 {
		return fmt.Errorf("idle: %d connections", d.Conns)
	}
	meter, err := startMeter(d.Pids)
	if err != nil {
		return err
	}
	var (
		mu  sync.Mutex
		ec  errorCounts
		wg  sync.WaitGroup
		sem = make(chan struct{}, 100)
	)
	clients := make([]*Client, d.Conns)
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := d.Dialers[i%len(d.Dialers)].Dial(ctx, nil)
			if err != nil {
				mu.Lock()
				ec.add("connect", 1, err)
				mu.Unlock()
				return
			}
			clients[i] = c
			if d.Join {
				jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				room := fmt.Sprintf("%s%d", d.Prefix, i/max(d.PerRoom, 1))
				if err := c.Join(jctx, fmt.Sprintf("%su%d", d.Prefix, i), room); err != nil {
					mu.Lock()
					ec.add("join", 1, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	defer closeAll(clients)

	select {
	case <-time.After(d.Hold):
	case <-ctx.Done():
	}
	use, err := meter.stop()
	if err != nil {
		return err
	}
	open := 0
	for _, c := range clients {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
			ec.add("disconnected", 1, c.Err())
		default:
			open++
		}
	}
	r := &Result{
		Scenario: "idle", Target: d.Target, URLs: urlsOf(d.Dialers), Transport: d.Dialers[0].Transport,
		Conns: open, RSSBeforeKB: use.rssBefore, RSSAfterKB: use.kb,
		Seconds: round(use.seconds, 1),
	}
	use.fill(r, d.Pids)
	if d.Join {
		r.PerRoom = d.PerRoom
	}
	if open > 0 {
		r.PerConnKB = round(float64(use.kb-use.rssBefore)/float64(open), 2)
	}
	ec.fill(r)
	return r.Write(d.Out)
}
