package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/natter/natter/bench"
)

// The section of docs/benchmarks.md that report rewrites.
const (
	beginMarker = "<!-- make bench: begin -->"
	endMarker   = "<!-- make bench: end -->"
)

// report reads the JSON lines of a make bench run and writes the table of
// natter against the seed stack and the hub, with the ratios, into the doc
// between the markers (appending the section if they are missing).
func report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	doc := fs.String("doc", "docs/benchmarks.md", "the Markdown file to rewrite")
	cmd := fs.String("cmd", "make bench", "the command that produced the results")
	note := fs.String("note", "", "a line about the machine, printed under the table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("report: one results file (JSON lines)")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var rs []bench.Result
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var r bench.Result
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("report: %w: %.100s", err, line)
		}
		rs = append(rs, r)
	}
	section := table(rs, *cmd, *note, raw)
	old, err := os.ReadFile(*doc)
	if err != nil {
		return err
	}
	s := string(old)
	b, e := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if b >= 0 && e > b {
		s = s[:b] + section + s[e+len(endMarker):]
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(*doc, []byte(s), 0o644)
}

// find returns the last result matching.
func find(rs []bench.Result, match func(*bench.Result) bool) *bench.Result {
	for i := len(rs) - 1; i >= 0; i-- {
		if match(&rs[i]) {
			return &rs[i]
		}
	}
	return nil
}

func sweepOf(rs []bench.Result, target string) *bench.Result {
	return find(rs, func(r *bench.Result) bool { return r.Scenario == "sweep" && r.Target == target })
}

// firstStep is the fixed-rate step that runs before the sweep: the figures at
// 20,000 deliveries/s.
func firstStep(rs []bench.Result, target string) *bench.Result {
	for i := range rs {
		if r := &rs[i]; r.Scenario == "fanout" && r.Target == target && r.Step == 1 {
			return r
		}
	}
	return nil
}

func storm(rs []bench.Result, target string, rooms int) *bench.Result {
	return find(rs, func(r *bench.Result) bool {
		return r.Scenario == "joinstorm" && r.Target == target && (rooms == 1) == (r.Rooms == 1)
	})
}

func idleOf(rs []bench.Result, target string) *bench.Result {
	return find(rs, func(r *bench.Result) bool { return r.Scenario == "idle" && r.Target == target })
}

var targets = []string{"natter", "seed", "hub"}

func table(rs []bench.Result, cmd, note string, raw []byte) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("%s\n", beginMarker)
	p("Written by `%s` on %s; rerun it to replace this section.\n\n", cmd, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	p("| measured in one run | natter | seed | hub | natter/seed | natter/hub |\n| --- | --- | --- | --- | --- | --- |\n")

	row := func(what string, val func(string) (float64, string), ratio bool) {
		p("| %s |", what)
		v := map[string]float64{}
		for _, t := range targets {
			n, s := val(t)
			v[t] = n
			p(" %s |", s)
		}
		for _, t := range []string{"seed", "hub"} {
			if ratio && v["natter"] > 0 && v[t] > 0 {
				p(" %.2f |", v["natter"]/v[t])
			} else {
				p(" — |")
			}
		}
		p("\n")
	}
	row("max sustainable delivered msg/s (0 errors, ≥ 99.9 % delivered, p99 < 100 ms)", func(t string) (float64, string) {
		r := sweepOf(rs, t)
		if r == nil {
			return 0, "—"
		}
		if r.MaxPerSec == 0 {
			return 0, "none passed"
		}
		return r.MaxPerSec, fmt.Sprintf("%s (%s msgs/s × %d)", thousands(r.MaxPerSec), thousands(r.MaxRate), r.Clients)
	}, true)
	at := func(t string) *bench.Result { return firstStep(rs, t) }
	rate := "20,000"
	if r := at("natter"); r != nil {
		rate = thousands(r.TargetPerSec)
	}
	row("at "+rate+" deliveries/s: p50 / p99 ms", func(t string) (float64, string) {
		r := at(t)
		if r == nil {
			return 0, "—"
		}
		return r.P99, fmt.Sprintf("%.1f / %.1f%s", r.P50, r.P99, failMark(r))
	}, true)
	row("at "+rate+" deliveries/s: server CPU % (100 = one core)", func(t string) (float64, string) {
		r := at(t)
		if r == nil {
			return 0, "—"
		}
		return r.CPU, fmt.Sprintf("%.0f", r.CPU)
	}, true)
	stormRow := func(rooms int) {
		label := "join storm: 100 rooms of 100"
		for _, t := range targets {
			if r := storm(rs, t, rooms); r != nil {
				label = fmt.Sprintf("join storm: %d rooms of %d", r.Rooms, r.PerRoom)
				if r.Rooms == 1 {
					label = fmt.Sprintf("join storm: %s in one room", thousands(float64(r.PerRoom)))
				}
				break
			}
		}
		row(label+": joined, time to the last ack, counts right", func(t string) (float64, string) {
			r := storm(rs, t, rooms)
			if r == nil {
				return 0, "—"
			}
			s := fmt.Sprintf("%s/%s in %.1f s, %s", thousands(float64(r.Joined)), thousands(float64(r.Clients)), r.JoinSeconds, yes(r.CountsOK))
			if n := r.ErrorKind["connect"]; n > 0 {
				s += fmt.Sprintf("; %s could not connect", thousands(float64(n)))
			}
			if n := r.ErrorKind["join"]; n > 0 {
				s += fmt.Sprintf("; %s joins failed", thousands(float64(n)))
			}
			return r.JoinSeconds, s
		}, false)
		row(label+": all leave at once, counts at 0 after", func(t string) (float64, string) {
			r := storm(rs, t, rooms)
			if r == nil || r.LeftOK == nil {
				return 0, "—"
			}
			return r.LeaveSeconds, fmt.Sprintf("%.1f s, %s", r.LeaveSeconds, yes(r.LeftOK))
		}, false)
	}
	stormRow(100)
	stormRow(1)
	row("RSS per idle connection", func(t string) (float64, string) {
		r := idleOf(rs, t)
		if r == nil {
			return 0, "—"
		}
		return r.PerConnKB, fmt.Sprintf("%.1f KB (%s held)", r.PerConnKB, thousands(float64(r.Conns)))
	}, true)
	p("\nLong-polling (natter only: its gateways pass a POST that reaches the wrong one to the owner, so no sticky sessions are needed):\n\n")
	p("| natter, 200 clients | max sustainable delivered msg/s | at the fixed step: p50 / p99 ms |\n| --- | --- | --- |\n")
	for _, t := range []struct{ label, target string }{
		{"WebSocket, direct to the 2 gateways", "natter"},
		{"polling, direct to the 2 gateways", "natter-polling"},
		{"polling, through nginx", "natter-polling-nginx"},
	} {
		s, f := sweepOf(rs, t.target), firstStep(rs, t.target)
		if s == nil && f == nil {
			continue
		}
		max, lat := "—", "—"
		if s != nil {
			max = "none passed"
			if s.MaxPerSec > 0 {
				max = fmt.Sprintf("%s (%s msgs/s)", thousands(s.MaxPerSec), thousands(s.MaxRate))
			}
		}
		if f != nil {
			lat = fmt.Sprintf("%.1f / %.1f at %s/s%s", f.P50, f.P99, thousands(f.TargetPerSec), failMark(f))
		}
		p("| %s | %s | %s |\n", t.label, max, lat)
	}
	if note != "" {
		p("\n%s\n", note)
	}
	p("\nThe JSON lines of the run:\n\n<details>\n\n```json\n%s```\n\n</details>\n", bytes.TrimLeft(raw, "\n"))
	p("%s", endMarker)
	return b.String()
}

func failMark(r *bench.Result) string {
	if r.Pass != nil && !*r.Pass {
		return fmt.Sprintf(" (failed: %d errors, %.2f %% delivered)", r.Errors, r.Ratio*100)
	}
	return ""
}

func yes(b *bool) string {
	switch {
	case b == nil:
		return "unchecked"
	case *b:
		return "counts right"
	}
	return "counts WRONG"
}

// thousands writes n rounded, with thousands separators.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
