package ops

import (
	"errors"
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

func TestEnvReaderListAndParse(t *testing.T) {
	vars := []EnvVar{{Name: "T_LIST"}, {Name: "T_PARSED"}, {Name: "T_UNSET"}}
	t.Setenv("T_LIST", " a, ,b ,")
	t.Setenv("T_PARSED", "")
	r := NewEnvReader(vars)
	if got := r.List("T_LIST"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("List = %q, want [a b]", got)
	}
	calls := 0
	upper := func(v string) (string, error) { calls++; return strings.ToUpper(v), nil }
	if got := Parse(r, "T_PARSED", upper); got != "" || calls != 1 {
		t.Errorf("Parse of a set, empty variable = %q after %d calls, want it parsed once", got, calls)
	}
	if got := Parse(r, "T_UNSET", upper); got != "" || calls != 1 {
		t.Errorf("Parse of an unset variable called the parser")
	}
	t.Setenv("T_PARSED", "bad")
	r = NewEnvReader(vars)
	Parse(r, "T_PARSED", func(string) (int, error) { return 0, errors.New("a number") })
	if err := r.Err(); err == nil || err.Error() != `T_PARSED="bad": a number` {
		t.Errorf("Err = %v, want one naming the variable, its value and what is wanted", err)
	}
}
