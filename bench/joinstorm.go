package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// JoinStorm is the join storm: Rooms × PerRoom clients connect and join at
// once; then the rooms' counts (the `rooms` event, asked of the server by a
// client that joined nothing) must equal the acked joins (a client whose join
// failed closes at once); with Leave, every client then closes at once and the
// counts must fall to zero.
type JoinStorm struct {
	Dialers []*Dialer
	Target  string
	Rooms   int
	PerRoom int
	Leave   bool
	Timeout time.Duration // for the storm, and again for the leaves
	Pids    []int
	Prefix  string // rooms are Prefix + index, names Prefix + "u" + index
	Out     io.Writer
}

var prefixJoinNotice = []byte(`42["join",`)

// Run runs the storm and prints its line.
func (j *JoinStorm) Run(ctx context.Context) error {
	n := j.Rooms * j.PerRoom
	if n < 1 {
		return fmt.Errorf("joinstorm: %d rooms of %d", j.Rooms, j.PerRoom)
	}
	observer, err := j.Dialers[0].Dial(ctx, nil)
	if err != nil {
		return fmt.Errorf("joinstorm: observer: %w", err)
	}
	defer observer.Close()

	meter, err := startMeter(j.Pids)
	if err != nil {
		return err
	}

	var (
		notices atomic.Int64
		joined  atomic.Int64
		lastAck atomic.Int64 // ns since start
		lastUp  atomic.Int64 // ns since start, of the last connection open
		hist    Histogram    // start to each join's ack
		connect Histogram    // start to each connection open
		rtt     Histogram    // each join's round trip
		mu      sync.Mutex
		ec      errorCounts
		wg      sync.WaitGroup
	)
	clients := make([]*Client, n)
	perRoom := make([]int, j.Rooms)
	sctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := j.Dialers[i%len(j.Dialers)].Dial(sctx, func(p []byte) {
				if bytes.HasPrefix(p, prefixJoinNotice) {
					notices.Add(1)
				}
			})
			if err != nil {
				mu.Lock()
				ec.add("connect", 1, err)
				mu.Unlock()
				return
			}
			up := time.Since(start)
			connect.Record(up)
			storeMax(&lastUp, up)
			room := i / j.PerRoom
			if err := c.Join(sctx, fmt.Sprintf("%su%d", j.Prefix, i), j.room(room)); err != nil {
				// A user whose join failed is gone: the truth the counts
				// must come to is the joins that were acked.
				c.Close()
				mu.Lock()
				ec.add("join", 1, err)
				mu.Unlock()
				return
			}
			clients[i] = c
			d := time.Since(start)
			hist.Record(d)
			rtt.Record(d - up)
			joined.Add(1)
			storeMax(&lastAck, d)
			mu.Lock()
			perRoom[room]++
			mu.Unlock()
		}()
	}
	wg.Wait()

	r := &Result{
		Scenario: "joinstorm", Target: j.Target, URLs: urlsOf(j.Dialers), Transport: j.Dialers[0].Transport,
		Rooms: j.Rooms, PerRoom: j.PerRoom, Clients: n,
		Joined: joined.Load(), JoinSeconds: round(time.Duration(lastAck.Load()).Seconds(), 3),
		JoinP50: ms(hist.Quantile(0.5)), JoinP99: ms(hist.Quantile(0.99)),
		ConnectSeconds: round(time.Duration(lastUp.Load()).Seconds(), 3), ConnectP50: ms(connect.Quantile(0.5)),
		JoinRTTP50: ms(rtt.Quantile(0.5)), JoinRTTP99: ms(rtt.Quantile(0.99)),
	}
	want := func(room int) int { return perRoom[room] }
	// Failed joins closed their connections: a server with a grace period
	// (natter's presence: 5 s) counts them a while longer.
	ok, err := j.waitCounts(ctx, observer, want, 15*time.Second)
	if err != nil {
		ec.add("rooms", 1, err)
	}
	r.CountsOK = ptr(ok)
	r.Notices = notices.Load()

	if j.Leave {
		leaveStart := time.Now()
		closeAll(clients)
		clients = nil
		ok, err := j.waitCounts(ctx, observer, func(int) int { return 0 }, j.Timeout)
		if err != nil {
			ec.add("rooms", 1, err)
		}
		r.LeftOK = ptr(ok)
		r.LeaveSeconds = round(time.Since(leaveStart).Seconds(), 3)
	}
	defer closeAll(clients)

	use, err := meter.stop()
	if err != nil {
		return err
	}
	use.fill(r, j.Pids)
	ec.fill(r)
	return r.Write(j.Out)
}

// storeMax raises v to d if d is greater.
func storeMax(v *atomic.Int64, d time.Duration) {
	for {
		l := v.Load()
		if int64(d) <= l || v.CompareAndSwap(l, int64(d)) {
			return
		}
	}
}

func (j *JoinStorm) room(i int) string { return fmt.Sprintf("%s%d", j.Prefix, i) }

// waitCounts asks for the rooms until each of ours has want(i) users (a room
// with none may be left out), at most for d; it reports whether they did.
func (j *JoinStorm) waitCounts(ctx context.Context, c *Client, want func(int) int, d time.Duration) (bool, error) {
	deadline := time.Now().Add(d)
	var lastErr error
	for {
		// A server too busy to answer one query may answer the next.
		got, err := roomCounts(ctx, c, j.Prefix)
		if err != nil {
			lastErr = err
		} else if j.match(got, want) {
			return true, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, lastErr
		}
		// Not wait.Until: each query is load on the server under test, so
		// they go at a slow fixed pace rather than wait's 50 ms.
		time.Sleep(250 * time.Millisecond)
	}
}

func (j *JoinStorm) match(got map[string]int, want func(int) int) bool {
	for i := range j.Rooms {
		if got[j.room(i)] != want(i) {
			return false
		}
	}
	return true
}

// roomCounts asks the server for its rooms (the `rooms` event) and returns
// the counts of those whose names start with prefix.
func roomCounts(ctx context.Context, c *Client, prefix string) (map[string]int, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	args, err := c.Call(cctx, "rooms", "{}")
	if err != nil {
		return nil, err
	}
	var ack []struct {
		OK    bool `json:"ok"`
		Rooms []struct {
			Room  string `json:"room"`
			Count int    `json:"count"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(args, &ack); err != nil || len(ack) == 0 || !ack[0].OK {
		return nil, fmt.Errorf("rooms: %.200s", args)
	}
	got := map[string]int{}
	for _, r := range ack[0].Rooms {
		if strings.HasPrefix(r.Room, prefix) {
			got[r.Room] = r.Count
		}
	}
	return got, nil
}

func urlsOf(ds []*Dialer) []string {
	var u []string
	for _, d := range ds {
		u = append(u, d.URL)
	}
	return u
}
