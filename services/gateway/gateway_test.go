package gateway

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/natter/natter/proto"
)

func TestAdvertiseAddr(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct{ name, listen, want string }{
		{"port only", ":8080", net.JoinHostPort(host, "8080")},
		{"every IPv4 address", "0.0.0.0:8080", net.JoinHostPort(host, "8080")},
		{"every IPv6 address", "[::]:8080", net.JoinHostPort(host, "8080")},
		{"an address", "127.0.0.1:9000", "127.0.0.1:9000"},
		{"a name", "gateway1:8080", "gateway1:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := advertiseAddr(tc.listen); got != tc.want {
				t.Errorf("advertiseAddr(%q) = %q, want %q", tc.listen, got, tc.want)
			}
		})
	}
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("NATTER_HTTP_ADDR", ":8080")
		t.Setenv("NATTER_ADVERTISE_ADDR", "gw.internal:8080")
		c, err := ConfigFromEnv()
		if err != nil {
			t.Fatal(err)
		}
		if got := c.WithDefaults().AdvertiseAddr; got != "gw.internal:8080" {
			t.Errorf("AdvertiseAddr = %q", got)
		}
		t.Setenv("NATTER_ADVERTISE_ADDR", "")
		c, _ = ConfigFromEnv()
		if got := c.WithDefaults().AdvertiseAddr; got != net.JoinHostPort(host, "8080") {
			t.Errorf("default AdvertiseAddr = %q", got)
		}
	})
}

func TestOriginSettingsFromEnv(t *testing.T) {
	t.Setenv("NATTER_ALLOWED_ORIGINS", " https://a.example, ,https://b.example ")
	t.Setenv("NATTER_ALLOWED_HOSTS", "chat.example,chat.example.org:8443")
	c, err := ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://a.example", "https://b.example"}; !slices.Equal(c.AllowedOrigins, want) {
		t.Errorf("AllowedOrigins = %q, want %q", c.AllowedOrigins, want)
	}
	if want := []string{"chat.example", "chat.example.org:8443"}; !slices.Equal(c.AllowedHosts, want) {
		t.Errorf("AllowedHosts = %q, want %q", c.AllowedHosts, want)
	}
}

// TestNewIDValidAndIncreasing: the ids a gateway writes are what
// proto.ValidID accepts (history refuses any other before), and strictly
// increasing, also within a millisecond.
func TestNewIDValidAndIncreasing(t *testing.T) {
	prev := ""
	for range 10000 {
		id := newID()
		if !proto.ValidID(id) {
			t.Fatalf("newID() = %q, not a valid id", id)
		}
		if id <= prev {
			t.Fatalf("newID() = %q after %q", id, prev)
		}
		prev = id
	}
}

// TestNewRefusesBadID: an id that cannot go into a subject is refused
// before anything is made.
func TestNewRefusesBadID(t *testing.T) {
	for _, id := range []string{"gw.1", "gw 1", "gw*", strings.Repeat("g", 65)} {
		if _, err := New(Config{ID: id}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "gateway id") {
			t.Errorf("New with id %q: %v", id, err)
		}
	}
}
