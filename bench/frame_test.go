package bench

import (
	"reflect"
	"strings"
	"testing"
)

func TestStampRoundTrip(t *testing.T) {
	s := stamp{step: 3, sender: 9, seq: 12345, due: 987654321012}
	b := appendMessage(nil, 42, s)
	if want := `4242["client message",{"message":"3.9.12345.987654321012"}]`; string(b) != want {
		t.Fatalf("appendMessage = %s, want %s", b, want)
	}
	text := "3.9.12345.987654321012"
	frames := map[string]string{
		// natter: the payload, then the offset
		"natter": `42["server message",{"id":"01JD","room":"r","username":"u","color":"#fff","message":"` + text + `","ts":1},"17"]`,
		// socket.io 4.8 with the seed's payload
		"seed": `42["server message",{"id":"1-a-2","room":"r","username":"u","color":"#fff","message":"` + text + `","ts":1}]`,
	}
	for name, f := range frames {
		t.Run(name, func(t *testing.T) {
			got, ok := parseStamp([]byte(f))
			if !ok || got != s {
				t.Fatalf("parseStamp = %+v, %v; want %+v", got, ok, s)
			}
		})
	}
}

func TestParseStampRefuses(t *testing.T) {
	for _, f := range []string{
		``,
		`42["join",{"username":"u","room":"r"}]`,
		`42["server message",{"message":"hello"}]`,
		`42["server message",{"message":"1.2.3"}]`,
		`42["server message",{"message":"1.2.3.4.5"}]`,
		`42["server message",{"message":"1.2.3.`,
		`42["server message",{"message":"1..3.4"}]`,
		`42["server message",{"id":"x"}]`,
	} {
		if s, ok := parseStamp([]byte(f)); ok {
			t.Errorf("parseStamp(%q) = %+v, want no stamp", f, s)
		}
	}
}

func TestParseAck(t *testing.T) {
	tests := []struct {
		in   string
		id   int
		args string
		ok   bool
	}{
		{`430[{"ok":true}]`, 0, `[{"ok":true}]`, true},
		{`4312345[{"ok":false,"error":{"code":"rate_limited"}}]`, 12345, `[{"ok":false,"error":{"code":"rate_limited"}}]`, true},
		{`43[{"ok":true}]`, 0, "", false},
		{`4312`, 0, "", false},
		{`42["x"]`, 0, "", false},
	}
	for _, tc := range tests {
		id, args, ok := parseAck([]byte(tc.in))
		if ok != tc.ok || (ok && (id != tc.id || string(args) != tc.args)) {
			t.Errorf("parseAck(%q) = %d, %q, %v; want %d, %q, %v", tc.in, id, args, ok, tc.id, tc.args, tc.ok)
		}
	}
	if !ackOK([]byte(`[{"ok":true,"id":"x","ts":1}]`)) || ackOK([]byte(`[{"ok":false}]`)) {
		t.Error("ackOK misreads ok")
	}
}

func TestParseOpen(t *testing.T) {
	h, err := parseOpen([]byte(`0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`))
	if err != nil || h != (handshake{SID: "abc", PingInterval: 25000, PingTimeout: 20000}) {
		t.Fatalf("parseOpen = %+v, %v", h, err)
	}
	for _, bad := range []string{``, `40`, `0{"upgrades":[]}`, `0{`} {
		if _, err := parseOpen([]byte(bad)); err == nil {
			t.Errorf("parseOpen(%q) accepted", bad)
		}
	}
}

func TestEachPacket(t *testing.T) {
	tests := map[string][]string{
		"2":                       {"2"},
		"2\x1e42[\"a\"]\x1e430[]": {"2", `42["a"]`, "430[]"},
		"":                        nil,
		"6\x1e":                   {"6"},
	}
	for body, want := range tests {
		var got []string
		eachPacket([]byte(body), func(p []byte) { got = append(got, string(p)) })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("eachPacket(%q) = %q, want %q", body, got, want)
		}
	}
}

func TestProcParsers(t *testing.T) {
	stat := "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 12345 1000000 500 18446744073709551615"
	if got, err := parseStatTicks([]byte(stat)); err != nil || got != 325 {
		t.Fatalf("parseStatTicks = %d, %v; want 325", got, err)
	}
	if _, err := parseStatTicks([]byte("1234 (x) S 1")); err == nil {
		t.Fatal("a short stat line was accepted")
	}
	status := "Name:\tgateway\nVmPeak:\t  99 kB\nVmRSS:\t   21504 kB\nThreads:\t9\n"
	if got, err := parseVmRSS([]byte(status)); err != nil || got != 21504 {
		t.Fatalf("parseVmRSS = %d, %v; want 21504", got, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("a status without VmRSS was accepted")
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080", "http://127.1.2.3:1", "http://localhost:3000", "http://[::1]:80"} {
		if err := CheckLoopback(u); err != nil {
			t.Errorf("CheckLoopback(%q) = %v", u, err)
		}
	}
	for _, u := range []string{"http://10.0.0.1:8080", "http://192.168.1.1", "https://127.0.0.1", "ws://127.0.0.1", "http://8.8.8.8:80"} {
		if err := CheckLoopback(u); err == nil {
			t.Errorf("CheckLoopback(%q) accepted", u)
		} else if strings.Contains(u, "10.0.0.1") && !strings.Contains(err.Error(), "loopback") {
			t.Errorf("CheckLoopback(%q): %v, want it to say loopback", u, err)
		}
	}
}
