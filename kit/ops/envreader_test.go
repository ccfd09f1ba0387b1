package ops

import (
	"strings"
	"testing"
	"time"
)

func TestEnvReader(t *testing.T) {
	vars := []EnvVar{{Name: "T_DUR"}, {Name: "T_INT"}, {Name: "T_SW"}, {Name: "T_STR"}}
	for _, tc := range []struct {
		name, dur, n, sw string
		want             string // in the error; "" for none
	}{
		{name: "unset"},
		{name: "good", dur: "5s", n: "3", sw: "on"},
		{name: "bad duration", dur: "5 seconds", want: `T_DUR="5 seconds"`},
		{name: "negative duration", dur: "-1s", want: `T_DUR="-1s"`},
		{name: "bad int", n: "many", want: `T_INT="many"`},
		{name: "negative int", n: "-2", want: `T_INT="-2"`},
		{name: "bad switch", sw: "yes", want: `T_SW="yes"`},
		{name: "first bad value", dur: "x", n: "y", want: `T_DUR="x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("T_DUR", tc.dur)
			t.Setenv("T_INT", tc.n)
			t.Setenv("T_SW", tc.sw)
			t.Setenv("T_STR", "s")
			r := NewEnvReader(vars)
			d, n, sw, s := r.Duration("T_DUR"), r.Int("T_INT"), r.Switch("T_SW"), r.String("T_STR")
			err := r.Err()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.dur == "5s" && (d != 5*time.Second || n != 3 || !sw || s != "s") {
					t.Errorf("read %v %d %v %q", d, n, sw, s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestEnvReaderUnlisted(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("reading a variable Env does not list did not panic")
		}
	}()
	NewEnvReader(nil).String("T_UNLISTED")
}
