package ops

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPprof(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mount bool
		want  int
	}{
		{"mounted", true, http.StatusOK},
		{"not asked for", false, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := Mux(nil, nil)
			if tc.mount {
				Pprof(mux)
			}
			srv := httptest.NewServer(mux)
			defer srv.Close()
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine?debug=1"} {
				res, err := http.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != tc.want {
					t.Errorf("GET %s: %d, want %d", path, res.StatusCode, tc.want)
				}
			}
		})
	}
}
