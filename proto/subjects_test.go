package proto

import "testing"

func TestGatewaySubjects(t *testing.T) {
	for _, tc := range []struct {
		name, subject string
		build         func(string) string
		kind          string
	}{
		{"http", "natter.gateway.gw-1.http", GatewayHTTPSubject, GatewayHTTP},
		{"cancel", "natter.gateway.gw-1.cancel", GatewayCancelSubject, GatewayCancel},
		{"addr", "natter.gateway.gw-1.addr", GatewayAddrSubject, GatewayAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.build("gw-1"); got != tc.subject {
				t.Errorf("built %q, want %q", got, tc.subject)
			}
			id, kind, ok := ParseGatewaySubject(tc.subject)
			if !ok || id != "gw-1" || kind != tc.kind {
				t.Errorf("ParseGatewaySubject(%q) = %q, %q, %v", tc.subject, id, kind, ok)
			}
		})
	}
}

func TestParseGatewaySubjectRefuses(t *testing.T) {
	for _, subject := range []string{
		GatewayHeartbeatSubject,
		"natter.gateway.gw1",
		"natter.gateway.gw1.other",
		"natter.gateway.gw1.http.more",
		"natter.gateway..http",
		"natter.gateway.g*.http",
		"natter.presence.gw1.http",
		"",
	} {
		if id, kind, ok := ParseGatewaySubject(subject); ok {
			t.Errorf("ParseGatewaySubject(%q) = %q, %q, true", subject, id, kind)
		}
	}
}
