package gateway

import (
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConfigFromEnv sets every variable in Env and checks what it sets.
func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"NATS_URL":                  "nats://n1:4222",
		"NATTER_HTTP_ADDR":          ":9000",
		"NATTER_ADVERTISE_ADDR":     "gw.internal:9000",
		"NATTER_GATEWAY_ID":         "gw7",
		"NATTER_ALLOWED_ORIGINS":    "https://a.example",
		"NATTER_ALLOWED_HOSTS":      "chat.example",
		"NATTER_PING_INTERVAL":      "3s",
		"NATTER_PING_TIMEOUT":       "4s",
		"NATTER_MAX_PAYLOAD":        "5000",
		"NATTER_SEND_QUEUE_BYTES":   "6000",
		"NATTER_HEADER_TIMEOUT":     "7s",
		"NATTER_BODY_TIMEOUT":       "8s",
		"NATTER_ATTACHMENT_TIMEOUT": "9s",
		"NATTER_IDLE_TIMEOUT":       "11s",
		"NATTER_MESSAGE_RATE":       "12",
		"NATTER_MESSAGE_BURST":      "13",
		"NATTER_RATE_LIMITS":        "join.addr=50/500",
		"NATTER_TYPING_INTERVAL":    "14s",
		"NATTER_TRUSTED_PROXIES":    "10.0.0.0/8",
		"NATTER_PPROF":              "1",
		"NATTER_RECOVERY":           "off",
	}
	for _, v := range Env {
		if _, ok := env[v.Name]; !ok {
			t.Errorf("Env has %s, which this test does not set", v.Name)
		}
	}
	for name, v := range env {
		t.Setenv(name, v)
	}
	got, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		NATSURL: "nats://n1:4222", HTTPAddr: ":9000", AdvertiseAddr: "gw.internal:9000", ID: "gw7",
		AllowedOrigins: []string{"https://a.example"}, AllowedHosts: []string{"chat.example"},
		PingInterval: 3 * time.Second, PingTimeout: 4 * time.Second, MaxPayload: 5000, SendQueueBytes: 6000,
		HeaderTimeout: 7 * time.Second, BodyTimeout: 8 * time.Second, AttachmentTimeout: 9 * time.Second,
		IdleTimeout: 11 * time.Second, MessageRate: 12, MessageBurst: 13,
		Limits:         map[string]Rate{"join.addr": {50, 500}},
		TypingInterval: 14 * time.Second, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Pprof: true, NoRecovery: true,
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
