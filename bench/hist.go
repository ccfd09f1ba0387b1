// Package bench is natter's load generator: Socket.IO v5 clients over
// WebSocket and long-polling, the scenarios that drive them (fan-out, join
// storm, idle connections, soak) and what they measure. cmd/natter-bench runs
// it; docs/benchmarks.md has its figures.
package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram counts durations in microseconds in buckets of bounded relative
// width (HDR-style: exact below 256 µs, then 128 buckets per power of two, so
// any percentile is within 0.8 % of the truth) and a fixed size (35 KB)
// whatever it records. Record is safe from many goroutines.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Uint64
}

const (
	histSub     = 128         // buckets per power of two above histExact
	histExact   = 2 * histSub // values below this have a bucket each
	histMaxBits = 40          // values up to 2^40 µs (12 days); longer ones count as that
	histBuckets = histExact + (histMaxBits-8)*histSub
)

func bucketOf(v uint64) int {
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(v) - 8 // v>>shift is in [128, 256)
	return histExact + (shift-1)*histSub + int(v>>shift) - histSub
}

// bucketTop is the largest value that falls in bucket i.
func bucketTop(i int) uint64 {
	if i < histExact {
		return uint64(i)
	}
	shift := (i-histExact)/histSub + 1
	low := uint64((i-histExact)%histSub+histSub) << shift
	return low + 1<<shift - 1
}

// Record counts one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.counts[bucketOf(us)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// Count is how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the longest duration recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Quantile is the duration below which the fraction q of the recorded ones
// lie (the top of its bucket, never above Max); zero when none were recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			top := bucketTop(i)
			if m := h.max.Load(); top > m {
				top = m
			}
			return time.Duration(top) * time.Microsecond
		}
	}
	return h.Max()
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	h.total.Add(o.total.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			return
		}
	}
}

// Reset forgets every recorded duration. It must not race with Record if
// the counts are to add up.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.total.Store(0)
	h.max.Store(0)
}

// ms is a duration in milliseconds, to three decimals, for the JSON line.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
