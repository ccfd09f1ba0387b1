package gateway

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConfigFromEnv sets the variables whose values need more than a
// string, a duration or a number read (each of those is: cmd/natter's
// TestEnvSetsConfig sets every variable of Env alone, its default and a
// bad value) and checks what they set.
func TestConfigFromEnv(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("a secret from a file, 32 bytes or more\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range Env {
		t.Setenv(v.Name, "")
		os.Unsetenv(v.Name)
	}
	for name, v := range map[string]string{
		"NATTER_ALLOWED_ORIGINS":   " https://a.example, ,https://b.example",
		"NATTER_ALLOWED_HOSTS":     "chat.example",
		"NATTER_PING_INTERVAL":     "3s",
		"NATTER_MESSAGE_RATE":      "12",
		"NATTER_RATE_LIMITS":       "join.addr=50/500",
		"NATTER_TRUSTED_PROXIES":   "10.0.0.0/8",
		"NATTER_PPROF":             "1",
		"NATTER_RECOVERY":          "off",
		"NATTER_AUTH_HS256_SECRET": "0123456789abcdef0123456789abcdef",
		// The file's secret is the one kept.
		"NATTER_AUTH_HS256_SECRET_FILE": secretFile,
		"NATTER_AUTH_ANONYMOUS":         "1",
		// Likewise the API key's file.
		"NATTER_API_KEY":        "an api key from the environment",
		"NATTER_API_KEY_FILE":   secretFile,
		"NATTER_API_RATE_LIMIT": "5/10",
		"NATTER_ADMIN_KEY":      "an admin key, 16 bytes or more",
	} {
		t.Setenv(name, v)
	}
	got, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		AllowedOrigins: []string{"https://a.example", "https://b.example"}, AllowedHosts: []string{"chat.example"},
		PingInterval: 3 * time.Second, MessageRate: 12, Limits: map[string]Rate{"join.addr": {50, 500}},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Pprof: true, NoRecovery: true,
		Auth:     AuthConfig{HS256Secret: Secret("a secret from a file, 32 bytes or more"), Anonymous: true},
		APIKey:   Secret("a secret from a file, 32 bytes or more"),
		APIRate:  Rate{5, 10},
		AdminKey: Secret("an admin key, 16 bytes or more"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ConfigFromEnv() =\n%+v\nwant\n%+v", got, want)
	}
}

// TestConfigFromEnvUnset: an empty environment is the zero Config, but for
// an empty NATTER_TRUSTED_PROXIES, which trusts no one.
func TestConfigFromEnvUnset(t *testing.T) {
	for _, v := range Env {
		t.Setenv(v.Name, "")
		os.Unsetenv(v.Name)
	}
	got, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, Config{}) {
		t.Errorf("ConfigFromEnv() = %+v, want the zero Config", got)
	}
	for _, v := range Env {
		t.Setenv(v.Name, "")
	}
	got, err = ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Config{TrustedProxies: []netip.Prefix{}, Limits: map[string]Rate{}}); !reflect.DeepEqual(got, want) {
		t.Errorf("ConfigFromEnv() with empty values = %+v, want %+v", got, want)
	}
}

// TestConfigFromEnvErrors: a bad value fails, naming its variable.
func TestConfigFromEnvErrors(t *testing.T) {
	for _, name := range []string{
		"NATTER_PING_INTERVAL", "NATTER_PING_TIMEOUT", "NATTER_MAX_PAYLOAD", "NATTER_SEND_QUEUE_BYTES",
		"NATTER_HEADER_TIMEOUT", "NATTER_BODY_TIMEOUT", "NATTER_ATTACHMENT_TIMEOUT", "NATTER_IDLE_TIMEOUT",
		"NATTER_MESSAGE_RATE", "NATTER_MESSAGE_BURST", "NATTER_RATE_LIMITS", "NATTER_TYPING_INTERVAL",
		"NATTER_TRUSTED_PROXIES", "NATTER_PPROF", "NATTER_RECOVERY",
		"NATTER_AUTH_HS256_SECRET_FILE", "NATTER_AUTH_ANONYMOUS", "NATTER_API_KEY_FILE",
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "bad")
			_, err := ConfigFromEnv()
			if err == nil || !strings.HasPrefix(err.Error(), name+`="bad": `) {
				t.Errorf("%s=bad: err = %v, want one naming %s", name, err, name)
			}
		})
	}
	// Durations and sizes are never negative.
	for _, name := range []string{"NATTER_PING_INTERVAL", "NATTER_MAX_PAYLOAD", "NATTER_MESSAGE_RATE"} {
		t.Run(name+" negative", func(t *testing.T) {
			t.Setenv(name, "-1")
			if _, err := ConfigFromEnv(); err == nil || !strings.HasPrefix(err.Error(), name+`="-1": `) {
				t.Errorf("%s=-1: err = %v, want one naming %s", name, err, name)
			}
		})
	}
}

// TestWithDefaults: the zero Config gets every default; a set field keeps
// its value, and the body and attachment timeouts follow the ping timeout.
func TestWithDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.NATSURL != DefaultNATSURL || c.HTTPAddr != DefaultHTTPAddr || c.PingInterval != DefaultPingInterval ||
		c.PingTimeout != DefaultPingTimeout || c.MaxPayload != DefaultMaxPayload ||
		c.SendQueueBytes != DefaultSendQueueBytes || c.ShutdownTimeout != DefaultShutdownTimeout ||
		c.RequestTimeout != DefaultRequestTimeout || c.MessageRate != DefaultMessageRate ||
		c.MessageBurst != DefaultMessageBurst || c.TypingInterval != DefaultTypingInterval ||
		c.HeartbeatInterval != DefaultHeartbeatInterval || c.HeaderTimeout != DefaultHeaderTimeout ||
		c.IdleTimeout != DefaultIdleTimeout || c.BodyTimeout != DefaultPingTimeout ||
		c.AttachmentTimeout != DefaultPingTimeout || !slices.Equal(c.TrustedProxies, DefaultTrustedProxies) ||
		c.ID == "" || c.AdvertiseAddr == "" {
		t.Errorf("Config{}.WithDefaults() = %+v", c)
	}
	if got := c.forwardWait(); got != DefaultPingInterval+DefaultPingTimeout+forwardSlack {
		t.Errorf("forwardWait() = %v", got)
	}
	c = Config{PingTimeout: time.Second, MaxPayload: 10}.WithDefaults()
	if c.PingTimeout != time.Second || c.MaxPayload != 10 || c.BodyTimeout != time.Second || c.AttachmentTimeout != time.Second {
		t.Errorf("set fields: %+v", c)
	}
}
