package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAPIKeyTooShort: a gateway refuses to start with a short API key,
// and says so without the key.
func TestAPIKeyTooShort(t *testing.T) {
	_, err := New(Config{ID: "gw", APIKey: Secret("short key")}, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "at least 16") || strings.Contains(err.Error(), "short key") {
		t.Errorf("New with a 9-byte key: %v", err)
	}
}

// TestAPIAuthorized: only the exact key, as a Bearer token, passes.
func TestAPIAuthorized(t *testing.T) {
	const key = "0123456789abcdef-key"
	a := &apiServer{key: newBearerKey(Secret(key))}
	for _, tc := range []struct {
		header string
		want   bool
	}{
		{"Bearer " + key, true},
		{"", false},
		{"Bearer", false},
		{"Bearer ", false},
		{"bearer " + key, false},
		{"Bearer " + key + " ", false},
		{"Bearer  " + key, false},
		{"Bearer " + key[:len(key)-1], false},
		{key, false},
	} {
		r := httptest.NewRequest("POST", "/api/v1/rooms", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := a.authorized(r); got != tc.want {
			t.Errorf("Authorization %q: %v, want %v", tc.header, got, tc.want)
		}
	}
}
