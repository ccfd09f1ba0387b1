package ops

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// EnvReader reads a service's environment variables: only those its Env
// lists (reading another is a bug, and panics), so that the list, and the
// README table checked against it, name every variable the service reads.
// An unset or empty variable reads as the zero value, which a Config takes
// for its default. The first bad value is kept, and Err returns it, naming
// the variable.
type EnvReader struct {
	vars []EnvVar
	err  error
}

// NewEnvReader returns a reader of the variables vars.
func NewEnvReader(vars []EnvVar) *EnvReader { return &EnvReader{vars: vars} }

// Err returns the first bad value read, nil when every value was good.
func (r *EnvReader) Err() error { return r.err }

// lookup returns the value of name, "" when unset.
func (r *EnvReader) lookup(name string) string {
	v, _ := r.Lookup(name)
	return v
}

// Lookup returns the value of name and whether it is set, for the rare
// variable whose empty value means something else than unset.
func (r *EnvReader) Lookup(name string) (string, bool) {
	for _, v := range r.vars {
		if v.Name == name {
			return os.LookupEnv(name)
		}
	}
	panic(fmt.Sprintf("ops: %s is read but not listed in Env", name))
}

func (r *EnvReader) fail(name, value, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s=%q: want %s", name, value, want)
	}
}

// String returns the value of name; "" when unset.
func (r *EnvReader) String(name string) string { return r.lookup(name) }

// Duration returns the value of name, a duration such as "25s" that is
// not negative; 0 when unset.
func (r *EnvReader) Duration(name string) time.Duration {
	return parse(r, name, "a duration such as 5s or 24h", time.ParseDuration)
}

// Int returns the value of name, an integer that is not negative; 0 when
// unset.
func (r *EnvReader) Int(name string) int {
	return parse(r, name, "a whole number, 0 or more", strconv.Atoi)
}

// List returns the value of name split at commas, without spaces around
// the items or empty ones; nil when unset.
func (r *EnvReader) List(name string) []string {
	var list []string
	for _, v := range strings.Split(r.lookup(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			list = append(list, v)
		}
	}
	return list
}

// Parse reads name, when it is set, with p, whose error says what a good
// value is; the zero T when unset or bad.
func Parse[T any](r *EnvReader, name string, p func(string) (T, error)) T {
	var zero T
	v, ok := r.Lookup(name)
	if !ok {
		return zero
	}
	x, err := p(v)
	if err != nil {
		if r.err == nil {
			r.err = fmt.Errorf("%s=%q: %w", name, v, err)
		}
		return zero
	}
	return x
}

// parse reads name with p, which must give a value of 0 or more, as want
// says; 0 when unset or bad.
func parse[T int | time.Duration](r *EnvReader, name, want string, p func(string) (T, error)) T {
	v := r.lookup(name)
	if v == "" {
		return 0
	}
	x, err := p(v)
	if err != nil || x < 0 {
		r.fail(name, v, want)
		return 0
	}
	return x
}

// Switch returns whether name is on: "1", "true" or "on"; "0", "false"
// and "off" are off, as unset is.
func (r *EnvReader) Switch(name string) bool {
	v := r.lookup(name)
	on, err := ParseSwitch(v)
	if err != nil {
		r.fail(name, v, "on or off (1, true, on; 0, false, off)")
	}
	return on
}

// ParseSwitch parses a switch: "1", "true" or "on" is on; "", "0",
// "false" and "off" are off; anything else is an error.
func ParseSwitch(v string) (bool, error) {
	switch v {
	case "1", "true", "on":
		return true, nil
	case "", "0", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q: on or off (1, true, on; 0, false, off)", v)
}
