package ops

import (
	"net/http"
	"net/http/pprof"
)

// Pprof mounts net/http/pprof's handlers on mux under /debug/pprof/, for
// `go tool pprof http://<addr>/debug/pprof/profile`. Only a service asked
// to (NATTER_PPROF) mounts them: a profile costs CPU, and reveals much.
func Pprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
