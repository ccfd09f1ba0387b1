package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natter/natter/kit/wait"
)

// Fanout is the fan-out scenario: Clients members of one room, the first
// Senders of them sending, open loop, at a total rate of messages a second
// into the room, every message due to every member (the sender included, as
// the seed's io.emit). It runs the fixed Rates first, then, with Sweep, raises
// the rate from SweepFrom by SweepFactor until a step fails, and narrows the
// limit in Bisect more steps; a failed step of the sweep is run again up to
// Retries times before it counts (the machine may be shared, and noisy).
// Every step prints its Result; a sweep ends with a summary line, whose
// maximum is the highest rate of any step that passed, fixed or swept.
type Fanout struct {
	Dialers     []*Dialer // clients are spread over them in turn
	Target      string
	Clients     int
	Senders     int
	Rates       []float64
	Sweep       bool
	SweepFrom   float64
	SweepFactor float64
	SweepMax    float64
	Bisect      int
	Retries     int           // a failed sweep step is run again this many times before it counts
	Step        time.Duration // how long each step sends
	Warmup      time.Duration // sends at the first rate this long before the steps, unreported
	Drain       time.Duration // how long a step waits for the last deliveries
	Pids        []int
	Room        string
	Names       string // the members' names are Names + index
	Scenario    string // "fanout" or "soak", for the lines
	Out         io.Writer

	step    atomic.Int64 // the step whose deliveries count; -1 between steps
	others  atomic.Int64 // events that are no message of a step: join notices, late ones
	members []*member
	senders []*sender
}

// member is one client of the room and what it has received this step.
type member struct {
	c         *Client
	hist      Histogram
	delivered atomic.Int64
	reordered atomic.Int64
	late      atomic.Int64
	dead      bool

	// reader goroutine only
	lastStep int64
	lastSeq  []int64
}

type sender struct {
	m     *member
	index int64
	due   chan int64 // when each message is due, from the pacer
	seq   int64

	acks    Histogram
	acked   atomic.Int64
	refused atomic.Int64
	failed  atomic.Int64 // a write that failed
}

// Run connects the clients, runs the steps and closes the clients.
func (f *Fanout) Run(ctx context.Context) error {
	if f.Clients < 1 || f.Senders < 1 || f.Senders > f.Clients {
		return fmt.Errorf("fanout: %d clients, %d senders", f.Clients, f.Senders)
	}
	f.step.Store(-1)
	if err := f.connect(ctx); err != nil {
		return err
	}
	defer f.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, s := range f.senders {
		wg.Add(1)
		go func() { defer wg.Done(); s.run(f) }()
	}
	defer func() {
		for _, s := range f.senders {
			close(s.due)
		}
	}()
	// The members' join notices (n² of them) go before the first step.
	f.quiet(500*time.Millisecond, 15*time.Second)

	if f.Warmup > 0 && len(f.Rates) > 0 {
		if err := f.warmup(ctx); err != nil {
			return err
		}
	}
	// A fixed step that passed shows its rate sustainable as well as a step
	// of the sweep would.
	var best, fail float64
	var bestRes *Result
	step := 0
	for _, rate := range f.Rates {
		step++
		r, err := f.runStep(ctx, step, rate)
		if err != nil {
			return err
		}
		if *r.Pass && rate > best {
			best, bestRes = rate, r
		}
	}
	if !f.Sweep {
		return nil
	}
	for rate := f.SweepFrom; rate <= f.SweepMax; rate *= f.SweepFactor {
		r, err := f.try(ctx, &step, rate)
		if err != nil {
			return err
		}
		if !*r.Pass {
			fail = rate
			break
		}
		if rate > best {
			best, bestRes = rate, r
		}
	}
	for range f.Bisect {
		if fail == 0 || best == 0 || fail <= best || f.anyDead() {
			break
		}
		f.settle()
		rate := (best + fail) / 2
		r, err := f.try(ctx, &step, rate)
		if err != nil {
			return err
		}
		switch {
		case !*r.Pass:
			fail = rate
		case rate > best:
			best, bestRes = rate, r
		}
	}
	sum := Result{Scenario: "sweep", Target: f.Target, URLs: f.urls(), Transport: f.Dialers[0].Transport,
		Clients: f.Clients, Senders: f.Senders, MaxRate: best, Pids: f.Pids}
	if bestRes != nil {
		sum.MaxPerSec = bestRes.DeliveredPS
		sum.P50, sum.P99, sum.P999, sum.Max = bestRes.P50, bestRes.P99, bestRes.P999, bestRes.Max
		sum.CPU, sum.RSSKB, sum.GenCPU = bestRes.CPU, bestRes.RSSKB, bestRes.GenCPU
		sum.Rate, sum.Ratio, sum.Step = bestRes.Rate, bestRes.Ratio, bestRes.Step
	}
	sum.Pass = ptr(bestRes != nil)
	return sum.Write(f.Out)
}

// warmup sends at the first rate for Warmup and forgets the figures: the
// first messages of a fresh server (a JIT that has not compiled its paths
// yet, pools not yet grown) are not what it sustains.
func (f *Fanout) warmup(ctx context.Context) error {
	out, step := f.Out, f.Step
	f.Out, f.Step = io.Discard, f.Warmup
	defer func() { f.Out, f.Step = out, step }()
	_, err := f.runStep(ctx, 0, f.Rates[0])
	f.settle()
	return err
}

// try runs a step of the sweep at rate, and again up to Retries times while
// it fails.
func (f *Fanout) try(ctx context.Context, step *int, rate float64) (*Result, error) {
	*step++
	r, err := f.runStep(ctx, *step, rate)
	for range f.Retries {
		if err != nil || *r.Pass || f.anyDead() {
			break
		}
		f.settle()
		*step++
		r, err = f.runStep(ctx, *step, rate)
	}
	return r, err
}

func (f *Fanout) urls() []string {
	var u []string
	for _, d := range f.Dialers {
		u = append(u, d.URL)
	}
	return u
}

// connect dials and joins every member, a few dozen at a time.
func (f *Fanout) connect(ctx context.Context) error {
	f.members = make([]*member, f.Clients)
	errs := make([]error, f.Clients)
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for i := range f.members {
		m := &member{lastSeq: make([]int64, f.Senders), lastStep: -1}
		f.members[i] = m
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := f.Dialers[i%len(f.Dialers)].Dial(ctx, func(p []byte) { f.receive(m, p) })
			if err != nil {
				errs[i] = err
				return
			}
			m.c = c
			jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			errs[i] = c.Join(jctx, fmt.Sprintf("%s%d", f.Names, i), f.Room)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.close()
		return fmt.Errorf("fanout: connect %d clients: %w", f.Clients, firstErr(errs))
	}
	for i := range f.Senders {
		f.senders = append(f.senders, &sender{m: f.members[i], index: int64(i), due: make(chan int64, 4096)})
	}
	return nil
}

func firstErr(errs []error) error {
	n := 0
	var first error
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Errorf("%d failed; the first: %w", n, first)
}

func (f *Fanout) close() {
	var cs []*Client
	for _, m := range f.members {
		cs = append(cs, m.c)
	}
	closeAll(cs)
}

// receive handles an event on a member's reader goroutine: a message of this
// step is timed and counted; anything else is let go.
func (f *Fanout) receive(m *member, p []byte) {
	st, ok := parseStamp(p)
	if !ok {
		f.others.Add(1)
		return
	}
	step := f.step.Load()
	if st.step != step {
		m.late.Add(1)
		f.others.Add(1)
		return
	}
	m.hist.Record(time.Duration(now() - st.due))
	m.delivered.Add(1)
	if m.lastStep != step {
		m.lastStep = step
		clear(m.lastSeq)
	}
	if st.sender >= 0 && st.sender < int64(len(m.lastSeq)) {
		if st.seq <= m.lastSeq[st.sender] {
			m.reordered.Add(1)
		}
		m.lastSeq[st.sender] = st.seq
	}
}

// run writes the messages the pacer schedules for this sender, until due is
// closed.
func (s *sender) run(f *Fanout) {
	var buf []byte
	for due := range s.due {
		step := f.step.Load()
		s.seq++
		sentAt := now()
		id, err := s.m.c.ackID(func(args []byte) {
			if f.step.Load() != step {
				return
			}
			s.acks.Record(time.Duration(now() - sentAt))
			if ackOK(args) {
				s.acked.Add(1)
			} else {
				s.refused.Add(1)
			}
		})
		if err != nil {
			s.failed.Add(1)
			continue
		}
		buf = appendMessage(buf[:0], id, stamp{step: step, sender: s.index, seq: s.seq, due: due})
		if err := s.m.c.tr.write(buf); err != nil {
			s.m.c.forget(id)
			s.failed.Add(1)
		}
	}
}

// pace schedules rate messages a second over d, each to the next sender, and
// returns how many it scheduled and how many it could not (a sender's
// queue was full: the client could not write as fast as asked).
func (f *Fanout) pace(ctx context.Context, rate float64, d time.Duration) (sent, backlog int64) {
	total := int64(rate * d.Seconds())
	start := now()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for sent+backlog < total {
		select {
		case <-ctx.Done():
			return sent, backlog
		case <-t.C:
		}
		due := min(total, int64(float64(now()-start)/1e9*rate)+1)
		for n := sent + backlog; n < due; n++ {
			s := f.senders[n%int64(len(f.senders))]
			select {
			case s.due <- start + int64(float64(n)*1e9/rate):
				sent++
			default:
				backlog++
			}
		}
	}
	return sent, backlog
}

func (f *Fanout) anyDead() bool {
	for _, m := range f.members {
		if m.dead {
			return true
		}
	}
	return false
}

// settle waits, after a failed step, until its late deliveries stop arriving
// (at most 15 s), so that the next step starts on a server that caught up.
func (f *Fanout) settle() { f.quiet(500*time.Millisecond, 15*time.Second) }

// quiet waits until no event but a step's messages has come for a while, or
// at most limit.
func (f *Fanout) quiet(while, limit time.Duration) {
	deadline := time.Now().Add(limit)
	last := f.others.Load()
	for time.Now().Before(deadline) {
		// Quiet is a stretch of time with nothing new, so this waits for
		// a time, not on a condition.
		time.Sleep(while)
		n := f.others.Load()
		if n == last {
			return
		}
		last = n
	}
}

func (f *Fanout) runStep(ctx context.Context, step int, rate float64) (*Result, error) {
	for _, m := range f.members {
		m.hist.Reset()
		m.delivered.Store(0)
		m.reordered.Store(0)
		m.late.Store(0)
	}
	for _, s := range f.senders {
		s.acks.Reset()
		s.acked.Store(0)
		s.refused.Store(0)
		s.failed.Store(0)
	}
	f.step.Store(int64(step))
	meter, err := startMeter(f.Pids)
	if err != nil {
		return nil, err
	}

	sent, backlog := f.pace(ctx, rate, f.Step)

	use, err := meter.stop()
	if err != nil {
		return nil, err
	}

	want := sent * int64(f.Clients)
	// What did not come within the drain is counted below, not an error.
	_ = wait.Until(ctx, f.Drain, func() error {
		if f.delivered() < want || f.acksIn() < sent {
			return errors.New("still draining")
		}
		return nil
	})
	f.step.Store(-1)

	var hist, acks Histogram
	var delivered, reordered int64
	var ec errorCounts
	for _, m := range f.members {
		hist.Merge(&m.hist)
		delivered += m.delivered.Load()
		reordered += m.reordered.Load()
		if !m.dead {
			select {
			case <-m.c.Done():
				m.dead = true
				ec.add("disconnected", 1, m.c.Err())
			default:
			}
		}
	}
	var acked, refused, failed int64
	for _, s := range f.senders {
		acks.Merge(&s.acks)
		acked += s.acked.Load()
		refused += s.refused.Load()
		failed += s.failed.Load()
	}
	ec.add("send_backlog", backlog, nil)
	ec.add("write_failed", failed, nil)
	ec.add("ack_refused", refused, nil)
	ec.add("ack_missing", sent-failed-acked-refused, nil)

	r := &Result{
		Scenario: f.Scenario, Target: f.Target, URLs: f.urls(), Transport: f.Dialers[0].Transport,
		Clients: f.Clients, Senders: f.Senders, Step: step, Rate: rate,
		TargetPerSec: rate * float64(f.Clients),
		Seconds:      round(use.seconds, 3),
		Sent:         sent, Acked: acked, Expected: want, Delivered: delivered,
		DeliveredPS: round(float64(delivered)/use.seconds, 0),
		P50:         ms(hist.Quantile(0.5)), P99: ms(hist.Quantile(0.99)),
		P999: ms(hist.Quantile(0.999)), Max: ms(hist.Max()),
		AckP50: ms(acks.Quantile(0.5)), AckP99: ms(acks.Quantile(0.99)),
		Reordered: reordered,
	}
	use.fill(r, f.Pids)
	if want > 0 {
		r.Ratio = round(float64(delivered)/float64(want), 5)
	}
	ec.fill(r)
	r.Pass = ptr(r.Errors == 0 && want > 0 && r.Ratio >= 0.999 && r.P99 < 100)
	return r, r.Write(f.Out)
}

func (f *Fanout) delivered() int64 {
	var n int64
	for _, m := range f.members {
		n += m.delivered.Load()
	}
	return n
}

func (f *Fanout) acksIn() int64 {
	var n int64
	for _, s := range f.senders {
		n += s.acked.Load() + s.refused.Load() + s.failed.Load()
	}
	return n
}
