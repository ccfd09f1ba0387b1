// Command natter-bench is natter's load generator: Socket.IO v5 clients over
// WebSocket or long-polling against a server on this machine, one scenario a
// run, one JSON line a result (docs/benchmarks.md, "Scale").
//
//	natter-bench -scenario fanout -url http://127.0.0.1:18081,http://127.0.0.1:18082 -rate 100 -pids 123,456
//	natter-bench -scenario fanout -sweep -sweep-from 50 ...
//	natter-bench -scenario joinstorm -rooms 100 -per-room 100 -leave ...
//	natter-bench -scenario idle -conns 10000 -hold 30s ...
//	natter-bench -scenario soak -rate 100 -duration 5m ...
//	natter-bench ports N               N free loopback ports
//	natter-bench report -doc docs/benchmarks.md -cmd "make bench" results.jsonl
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/natter/natter/bench"
)

// Bounds on one run, whatever the flags say.
const (
	maxClients  = 20000
	maxDuration = 30 * time.Minute
	maxRate     = 100000 // messages/s into a room
)

func main() {
	cmd := run
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "ports":
			cmd = ports
		case "report":
			cmd = report
		}
	}
	args := os.Args[1:]
	if cmd != nil && len(args) > 0 && (args[0] == "ports" || args[0] == "report") {
		args = args[1:]
	}
	if err := cmd(args); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "natter-bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("natter-bench", flag.ContinueOnError)
	var (
		scenario  = fs.String("scenario", "fanout", "fanout, joinstorm, idle or soak")
		target    = fs.String("target", "natter", "a label for the server, printed in the line")
		urls      = fs.String("url", "http://127.0.0.1:8080", "the servers' base URLs, comma-separated; clients are spread over them in turn (loopback only)")
		transport = fs.String("transport", bench.WebSocket, "websocket or polling")
		sources   = fs.Int("sources", 8, "connect from this many loopback addresses, 127.0.0.1 up")
		pidList   = fs.String("pids", "", "the server's pids, comma-separated: their CPU and RSS are reported")
		runID     = fs.String("run", "", "a prefix for the rooms and names of this run (default: random)")

		clients     = fs.Int("clients", 200, "fanout: members of the room")
		senders     = fs.Int("senders", 10, "fanout: how many of them send")
		rates       = fs.String("rate", "100", "fanout: messages/s into the room, total; a comma-separated list runs one step each")
		sweep       = fs.Bool("sweep", false, "fanout: after the -rate steps, raise the rate until a step fails")
		sweepFrom   = fs.Float64("sweep-from", 25, "fanout: the sweep's first rate")
		sweepFactor = fs.Float64("sweep-factor", 2, "fanout: each step of the sweep multiplies the rate by this")
		sweepMax    = fs.Float64("sweep-max", 10000, "fanout: the sweep stops there")
		bisect      = fs.Int("bisect", 2, "fanout: steps that narrow the limit once a sweep step failed")
		retries     = fs.Int("retries", 1, "fanout: runs of a failed sweep step again before it counts as failed (a shared machine is noisy)")
		step        = fs.Duration("step", 5*time.Second, "fanout: how long each step sends")
		warmup      = fs.Duration("warmup", 3*time.Second, "fanout: send at the first -rate this long first, unreported")
		drain       = fs.Duration("drain", 3*time.Second, "fanout: how long a step waits for its last deliveries")
		duration    = fs.Duration("duration", time.Minute, "soak: how long it sends")

		rooms   = fs.Int("rooms", 100, "joinstorm: rooms")
		perRoom = fs.Int("per-room", 100, "joinstorm, idle: clients per room")
		leave   = fs.Bool("leave", true, "joinstorm: then close every client at once and check the counts fall to zero")
		timeout = fs.Duration("timeout", 30*time.Second, "joinstorm: how long the joins (and the leaves) may take")

		conns = fs.Int("conns", 5000, "idle: connections to hold")
		join  = fs.Bool("join", false, "idle: join a room (of -per-room) on each")
		hold  = fs.Duration("hold", 30*time.Second, "idle: how long to hold them (past a ping interval)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	pids, err := parseInts(*pidList)
	if err != nil {
		return fmt.Errorf("-pids: %w", err)
	}
	var dialers []*bench.Dialer
	for _, u := range strings.Split(*urls, ",") {
		u = strings.TrimRight(strings.TrimSpace(u), "/")
		if err := bench.CheckLoopback(u); err != nil {
			return err
		}
		dialers = append(dialers, &bench.Dialer{URL: u, Transport: *transport, Sources: *sources})
	}
	if *runID == "" {
		*runID = "b" + strconv.FormatUint(rand.Uint64()%(36*36*36*36), 36)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, maxDuration)
	defer cancel()

	switch *scenario {
	case "fanout", "soak":
		if *clients > maxClients {
			return fmt.Errorf("-clients %d: at most %d", *clients, maxClients)
		}
		rs, err := parseFloats(*rates)
		if err != nil {
			return fmt.Errorf("-rate: %w", err)
		}
		f := &bench.Fanout{
			Dialers: dialers, Target: *target, Clients: *clients, Senders: *senders,
			Rates: rs, Sweep: *sweep, SweepFrom: *sweepFrom, SweepFactor: *sweepFactor,
			SweepMax: min(*sweepMax, maxRate), Bisect: *bisect, Retries: *retries,
			Step: *step, Warmup: *warmup, Drain: *drain, Pids: pids,
			Room: *runID + "fan", Names: *runID + "m", Scenario: *scenario, Out: os.Stdout,
		}
		if *scenario == "soak" {
			f.Step, f.Sweep = *duration, false
		}
		for _, r := range rs {
			if r <= 0 || r > maxRate {
				return fmt.Errorf("-rate %v: between 0 and %d", r, maxRate)
			}
		}
		if f.Sweep && (*sweepFrom <= 0 || *sweepFactor <= 1) {
			return errors.New("-sweep-from must be > 0 and -sweep-factor > 1")
		}
		return f.Run(ctx)
	case "joinstorm":
		if *rooms**perRoom > maxClients {
			return fmt.Errorf("%d rooms of %d: at most %d clients", *rooms, *perRoom, maxClients)
		}
		j := &bench.JoinStorm{Dialers: dialers, Target: *target, Rooms: *rooms, PerRoom: *perRoom,
			Leave: *leave, Timeout: *timeout, Pids: pids, Prefix: *runID + "r", Out: os.Stdout}
		return j.Run(ctx)
	case "idle":
		if *conns > maxClients {
			return fmt.Errorf("-conns %d: at most %d", *conns, maxClients)
		}
		d := &bench.Idle{Dialers: dialers, Target: *target, Conns: *conns, Join: *join, PerRoom: *perRoom,
			Hold: *hold, Pids: pids, Prefix: *runID + "i", Out: os.Stdout}
		return d.Run(ctx)
	}
	return fmt.Errorf("-scenario %q: fanout, joinstorm, idle or soak", *scenario)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// ports prints n free TCP ports on 127.0.0.1, one a line, for a script that
// starts servers.
func ports(args []string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 || n > 100 {
			return fmt.Errorf("ports %q: a count from 1 to 100", args[0])
		}
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}
