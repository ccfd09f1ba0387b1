package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times:
// 100 on every Linux the project runs on.
const clockTick = 100

// procSample is the CPU time and resident memory of a set of processes at
// one moment.
type procSample struct {
	at    time.Time
	ticks uint64 // utime+stime, summed
	rssKB int64  // VmRSS, summed
}

// sampleProcs reads /proc for each pid; a pid that is gone is an error, so
// that a crashed server does not pass for an idle one.
func sampleProcs(pids []int) (procSample, error) {
	s := procSample{at: time.Now()}
	for _, pid := range pids {
		t, err := procTicks(pid)
		if err != nil {
			return s, err
		}
		r, err := procRSS(pid)
		if err != nil {
			return s, err
		}
		s.ticks += t
		s.rssKB += r
	}
	return s, nil
}

// cpuPercent is the CPU the processes used between two samples, 100 being one
// core busy all along.
func cpuPercent(a, b procSample) float64 {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(b.ticks-a.ticks) / clockTick / secs * 100
}

func procTicks(pid int) (uint64, error) { return readProc(pid, "stat", parseStatTicks) }

// readProc parses the file /proc/<pid>/<name> with parse.
func readProc[T any](pid int, name string, parse func([]byte) (T, error)) (T, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
	if err != nil {
		var zero T
		return zero, fmt.Errorf("server pid %d: %w", pid, err)
	}
	return parse(b)
}

// parseStatTicks reads utime and stime, the 14th and 15th fields of a
// /proc/<pid>/stat line; the second, the command, is in parentheses and may
// hold spaces, so the fields are counted from its closing one.
func parseStatTicks(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %.40q: no command", b)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is the state, field 3; utime is field 14.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat %.40q: %d fields", b, len(f))
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat %.40q: utime %q stime %q", b, f[11], f[12])
	}
	return u + s, nil
}

func procRSS(pid int) (int64, error) { return readProc(pid, "status", parseVmRSS) }

// parseVmRSS reads the "VmRSS:   1234 kB" line of /proc/<pid>/status.
func parseVmRSS(b []byte) (int64, error) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				return strconv.ParseInt(string(f[0]), 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("status: no VmRSS line")
}

// meter measures a span of a run: the server's processes and the generator's
// own.
type meter struct {
	pids         []int
	server, self procSample
}

// usage is what a meter measured.
type usage struct {
	seconds       float64
	cpu, genCPU   float64 // 100 = one core
	rssBefore, kb int64   // the server's, at the start and at the end
}

func startMeter(pids []int) (*meter, error) {
	m := &meter{pids: pids}
	var err error
	if m.server, err = sampleProcs(pids); err != nil {
		return nil, err
	}
	m.self, _ = sampleProcs([]int{os.Getpid()})
	return m, nil
}

func (m *meter) stop() (usage, error) {
	server, err := sampleProcs(m.pids)
	if err != nil {
		return usage{}, err
	}
	self, _ := sampleProcs([]int{os.Getpid()})
	return usage{
		seconds:   server.at.Sub(m.server.at).Seconds(),
		cpu:       round(cpuPercent(m.server, server), 1),
		genCPU:    round(cpuPercent(m.self, self), 1),
		rssBefore: m.server.rssKB,
		kb:        server.rssKB,
	}, nil
}

// fill puts the figures every scenario reports into r.
func (u usage) fill(r *Result, pids []int) {
	r.CPU, r.GenCPU, r.RSSKB, r.Pids = u.cpu, u.genCPU, u.kb, pids
}
