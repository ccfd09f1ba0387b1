package ops

import (
	"cmp"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// Process configures what every service's command does alike: it
// connects to NATS and serves its operational endpoints. The zero value
// of every field means its default.
type Process struct {
	NATSURL  string // the NATS servers, comma-separated; nats.DefaultURL
	HTTPAddr string // of /healthz, /readyz and /metrics; the service's own
	Pprof    bool   // mounts net/http/pprof on HTTPAddr; off
}

// ProcessEnv lists the variables of a Process whose HTTPAddr defaults to
// httpAddr.
func ProcessEnv(httpAddr string) []EnvVar {
	return []EnvVar{
		{Name: "NATS_URL", Default: nats.DefaultURL, Doc: "the NATS server (or servers, comma-separated)"},
		{Name: "NATTER_HTTP_ADDR", Default: httpAddr, Doc: "the address of /healthz, /readyz and /metrics"},
		{Name: "NATTER_PPROF", Default: "off", Doc: "`1`: net/http/pprof at `/debug/pprof/` on the HTTP address"},
	}
}

// ProcessFromEnv reads the variables of ProcessEnv with r.
func ProcessFromEnv(r *EnvReader) Process {
	return Process{
		NATSURL:  r.String("NATS_URL"),
		HTTPAddr: r.String("NATTER_HTTP_ADDR"),
		Pprof:    r.Switch("NATTER_PPROF"),
	}
}

// WithDefaults returns p with every zero field set to its default,
// httpAddr for HTTPAddr.
func (p Process) WithDefaults(httpAddr string) Process {
	Default(&p.NATSURL, nats.DefaultURL)
	Default(&p.HTTPAddr, httpAddr)
	return p
}

// Endpoints returns the operational endpoints of p, whose metrics g
// gathers and whose readiness ready reports.
func (p Process) Endpoints(g prometheus.Gatherer, ready Ready) Endpoints {
	return Endpoints{Addr: p.HTTPAddr, Pprof: p.Pprof, Gatherer: g, Ready: ready}
}

// Default sets *v to def when *v is zero or less: what a zero field of a
// Config means.
func Default[T cmp.Ordered](v *T, def T) {
	var zero T
	if *v <= zero {
		*v = def
	}
}
