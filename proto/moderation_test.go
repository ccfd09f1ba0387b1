package proto

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateModerate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action string
		req    ModerateRequest
		code   string // "" for valid
	}{
		{"a mute for a minute", EventMute, ModerateRequest{Room: "r", Username: " Ann ", Seconds: 60}, ""},
		{"a ban for good", EventBan, ModerateRequest{Username: "Ann"}, ""},
		{"a kick with a reason", EventKick, ModerateRequest{Username: "Ann", Reason: "스팸"}, ""},
		{"no such action", "smite", ModerateRequest{Username: "Ann"}, CodeBadRequest},
		{"no name", EventMute, ModerateRequest{Seconds: 5}, CodeBadRequest},
		{"a bidi name", EventBan, ModerateRequest{Username: "a\u202eb"}, CodeBadRequest},
		{"a bad room", EventBan, ModerateRequest{Room: "a.b*", Username: "Ann"}, CodeInvalidRoom},
		{"negative seconds", EventMute, ModerateRequest{Username: "Ann", Seconds: -1}, CodeBadRequest},
		{"over a year", EventBan, ModerateRequest{Username: "Ann", Seconds: MaxModerationSeconds + 1}, CodeBadRequest},
		{"an unban that lasts", EventUnban, ModerateRequest{Username: "Ann", Seconds: 5}, CodeBadRequest},
		{"a long reason", EventKick, ModerateRequest{Username: "Ann", Reason: strings.Repeat("x", MaxReasonRunes+1)}, CodeBadRequest},
		{"a control character in the reason", EventKick, ModerateRequest{Username: "Ann", Reason: "a\x00b"}, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ValidateModerate(tc.action, tc.req)
			if tc.code == "" {
				if err != nil || got.Username != "Ann" {
					t.Errorf("%+v: %v", got, err)
				}
				return
			}
			if !errors.Is(err, &Error{Code: tc.code}) {
				t.Errorf("%v, want %s", err, tc.code)
			}
		})
	}
}

func TestValidateModerationLog(t *testing.T) {
	if r, err := ValidateModerationLog(PresenceModerationLog{}); err != nil || r.Limit != MaxHistoryPage {
		t.Errorf("the default: %+v %v", r, err)
	}
	for _, limit := range []int{-1, MaxModerationLog + 1} {
		if _, err := ValidateModerationLog(PresenceModerationLog{Limit: limit}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
	if _, err := ValidateModerationLog(PresenceModerationLog{Room: "a.b*"}); !errors.Is(err, ErrInvalidRoom) {
		t.Errorf("a bad room: %v", err)
	}
}
