package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/natter/natter/kit/ops"
	"github.com/natter/natter/services/gateway"
	"github.com/natter/natter/services/history"
	"github.com/natter/natter/services/presence"
)

// documented is every command whose environment the README documents in
// a table (Variable | Default | Meaning) under a heading that names it:
// its Env, and its configuration read from the environment with the
// defaults applied.
var documented = []struct {
	heading string
	env     []ops.EnvVar
	fromEnv func() (any, error)
}{
	{"services/gateway/cmd/gateway", gateway.Env, func() (any, error) {
		c, err := gateway.ConfigFromEnv()
		return c.WithDefaults(), err
	}},
	{"services/presence/cmd/presence", presence.Env, func() (any, error) {
		c, err := presence.ConfigFromEnv()
		return c.WithDefaults(), err
	}},
	{"services/history/cmd/history", history.Env, func() (any, error) {
		c, err := history.ConfigFromEnv()
		return c.WithDefaults(), err
	}},
	{"cmd/natter", Env, func() (any, error) { return configFromEnv() }},
}

// sample is a good value, not the default, of every variable listed.
var sample = map[string]string{
	"NATS_URL":                       "nats://10.0.0.1:4333",
	"REDIS_URL":                      "redis://10.0.0.1:6380/2",
	"NATTER_REDIS_PREFIX":            "{chat}:",
	"NATTER_REDIS_SENTINELS":         "10.0.0.1:26379,sentinel-2:26379",
	"NATTER_REDIS_MASTER":            "chat",
	"NATTER_REDIS_CLUSTER":           "10.0.0.1:7000,10.0.0.2:7000",
	"NATTER_REDIS_PASSWORD":          "s3cret",
	"NATTER_REDIS_SENTINEL_PASSWORD": "s3cret2",
	"NATTER_SESSION_TTL":             "1h",
	"NATTER_PRESENCE_GRACE":          "2s",
	"NATTER_GATEWAY_TIMEOUT":         "9s",
	"NATTER_PRESENCE_WORKERS":        "8",
	"NATTER_HTTP_ADDR":               "127.0.0.1:9999",
	"NATTER_PPROF":                   "1",
	"NATTER_HISTORY_MAX_AGE":         "48h",
	"NATTER_HISTORY_MAX_PER_ROOM":    "500",
	"NATTER_HISTORY_CACHE_PER_ROOM":  "100",
	"NATTER_HISTORY_DUPLICATES":      "30s",
	"NATTER_HISTORY_DEDUP_TTL":       "1h",
	"NATTER_RECOVERY_TTL":            "2h",
	"NATTER_EVENTS_STREAM":           "on",
	"NATTER_JETSTREAM_REPLICAS":      "3",
	"NATTER_DATA_DIR":                "/var/lib/natter",
	"NATTER_ADVERTISE_ADDR":          "gw.internal:9000",
	"NATTER_GATEWAY_ID":              "gw7",
	"NATTER_ALLOWED_ORIGINS":         "https://a.example",
	"NATTER_ALLOWED_HOSTS":           "chat.example",
	"NATTER_PING_INTERVAL":           "3s",
	"NATTER_PING_TIMEOUT":            "4s",
	"NATTER_MAX_PAYLOAD":             "5000",
	"NATTER_MAX_ROOMS":               "5",
	"NATTER_SEND_QUEUE_BYTES":        "6000",
	"NATTER_HEADER_TIMEOUT":          "7s",
	"NATTER_BODY_TIMEOUT":            "8s",
	"NATTER_ATTACHMENT_TIMEOUT":      "9s",
	"NATTER_IDLE_TIMEOUT":            "11s",
	"NATTER_MESSAGE_RATE":            "12",
	"NATTER_MESSAGE_BURST":           "13",
	"NATTER_RATE_LIMITS":             "join.addr=50/500",
	"NATTER_TYPING_INTERVAL":         "14s",
	"NATTER_TRUSTED_PROXIES":         "10.0.0.0/8",
	"NATTER_RECOVERY":                "off",
	"NATTER_AUTH_HS256_SECRET":       "0123456789abcdef0123456789abcdef",
	"NATTER_AUTH_HS256_SECRET_FILE":  "testdata/auth-secret",
	"NATTER_AUTH_PUBLIC_KEY_FILE":    "/etc/natter/jwt.pem",
	"NATTER_AUTH_JWKS_URL":           "https://id.example/.well-known/jwks.json",
	"NATTER_AUTH_AUDIENCE":           "natter",
	"NATTER_AUTH_ISSUER":             "https://id.example",
	"NATTER_AUTH_ANONYMOUS":          "1",
	"NATTER_API_KEY":                 "an api key of 16 bytes or more",
	"NATTER_API_KEY_FILE":            "testdata/auth-secret",
	"NATTER_API_RATE_LIMIT":          "5/10",
	"NATTER_ADMIN_KEY":               "an admin key of 16 bytes or more",
	"NATTER_ADMIN_KEY_FILE":          "testdata/auth-secret",
}

// bad is a value that each variable of a type refuses.
var bad = map[string]string{
	"REDIS_URL":                     "http://10.0.0.1",
	"NATTER_REDIS_SENTINELS":        "sentinel-1",
	"NATTER_REDIS_CLUSTER":          "10.0.0.1:7000,10.0.0.2:port",
	"NATTER_SESSION_TTL":            "a day",
	"NATTER_PRESENCE_GRACE":         "-5s",
	"NATTER_GATEWAY_TIMEOUT":        "6",
	"NATTER_PRESENCE_WORKERS":       "-1",
	"NATTER_PPROF":                  "yes",
	"NATTER_HISTORY_MAX_AGE":        "30d",
	"NATTER_HISTORY_MAX_PER_ROOM":   "10k",
	"NATTER_HISTORY_CACHE_PER_ROOM": "all",
	"NATTER_HISTORY_DUPLICATES":     "2 minutes",
	"NATTER_HISTORY_DEDUP_TTL":      "-1h",
	"NATTER_RECOVERY_TTL":           "1",
	"NATTER_EVENTS_STREAM":          "yes",
	"NATTER_JETSTREAM_REPLICAS":     "6",
	"NATTER_PING_INTERVAL":          "25",
	"NATTER_MAX_PAYLOAD":            "1MB",
	"NATTER_MAX_ROOMS":              "-1",
	"NATTER_RATE_LIMITS":            "join=fast",
	"NATTER_TRUSTED_PROXIES":        "the proxy",
	"NATTER_RECOVERY":               "maybe",
	"NATTER_AUTH_HS256_SECRET_FILE": "testdata/no-such-file",
	"NATTER_AUTH_ANONYMOUS":         "maybe",
	"NATTER_API_KEY_FILE":           "testdata/no-such-file",
	"NATTER_API_RATE_LIMIT":         "5",
	"NATTER_ADMIN_KEY_FILE":         "testdata/no-such-file",
}

// TestREADMEEnvTables checks each command's README table against its Env:
// the same variables in the same order, with the same defaults.
func TestREADMEEnvTables(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range documented {
		t.Run(d.heading, func(t *testing.T) {
			rows := envTable(t, string(readme), d.heading)
			var want [][2]string
			for _, v := range d.env {
				want = append(want, [2]string{v.Name, v.Default})
			}
			if !reflect.DeepEqual(rows, want) {
				t.Errorf("README table (variable, default):\n%q\nEnv:\n%q", rows, want)
			}
		})
	}
}

// envTable returns the variables and defaults of the table under the
// README heading "### `heading`".
func envTable(t *testing.T, readme, heading string) [][2]string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n### `"+heading+"`\n")
	if !ok {
		t.Fatalf("README has no heading ### `%s`", heading)
	}
	var rows [][2]string
	inTable := false
	for line := range strings.Lines(rest) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if inTable || strings.HasPrefix(line, "#") {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		if !inTable {
			if len(cells) != 3 || cells[0] != "Variable" || cells[1] != "Default" || cells[2] != "Meaning" {
				t.Fatalf("the table under %s starts %q, want | Variable | Default | Meaning |", heading, line)
			}
			inTable = true
			continue
		}
		if strings.Trim(cells[0], "- ") == "" {
			continue // the header's rule
		}
		if len(cells) != 3 {
			t.Fatalf("row %q: want 3 cells", line)
		}
		rows = append(rows, [2]string{cells[0], cells[1]})
	}
	if len(rows) == 0 {
		t.Fatalf("no table under %s", heading)
	}
	return rows
}

// TestEnvSetsConfig checks, for each command, that every variable of its
// Env is read: a sample value changes the configuration, its default
// leaves it as unset does, and a bad value is refused with an error that
// names it.
func TestEnvSetsConfig(t *testing.T) {
	for _, d := range documented {
		t.Run(d.heading, func(t *testing.T) {
			for _, v := range d.env {
				unset(t, v.Name)
			}
			base, err := d.fromEnv()
			if err != nil {
				t.Fatalf("with nothing set: %v", err)
			}
			for _, v := range d.env {
				t.Run(v.Name, func(t *testing.T) {
					s, ok := sample[v.Name]
					if !ok {
						t.Fatalf("no sample value of %s in this test", v.Name)
					}
					t.Setenv(v.Name, s)
					if got, err := d.fromEnv(); err != nil || reflect.DeepEqual(got, base) {
						t.Errorf("%s=%s: config %+v, %v; want one that differs from the default", v.Name, s, got, err)
					}
					if v.Default != "" {
						t.Setenv(v.Name, v.Default)
						if got, err := d.fromEnv(); err != nil || !reflect.DeepEqual(got, base) {
							t.Errorf("%s=%s (its default): config %+v, %v; want the default %+v", v.Name, v.Default, got, err, base)
						}
					}
					if b, ok := bad[v.Name]; ok {
						t.Setenv(v.Name, b)
						if _, err := d.fromEnv(); err == nil || !strings.Contains(err.Error(), v.Name) {
							t.Errorf("%s=%s: err %v, want one naming %s", v.Name, b, err, v.Name)
						}
					}
				})
			}
		})
	}
}

// unset unsets name for the rest of the test.
func unset(t *testing.T, name string) {
	t.Setenv(name, "") // restores the value when the test ends
	os.Unsetenv(name)
}
