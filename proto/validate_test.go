package proto

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeRoomMarks(t *testing.T) {
	for _, in := range []string{"\u0301", "x\u0300\u0301\u0302", "lo\u200bbby", "\u202elobby"} {
		if got, err := NormalizeRoom(in); err == nil {
			t.Errorf("NormalizeRoom(%q) = %q, want refused", in, got)
		}
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"01M8BGNADAMXADYZGNTCJF27AS", true},
		{"7ZZZZZZZZZZZZZZZZZZZZZZZZZ", true}, // the largest 128 bits
		{"00000000000000000000000000", true},
		{"", false},
		{"01M8BGNADAMXADYZGNTCJF27A", false},   // 25
		{"01M8BGNADAMXADYZGNTCJF27ASX", false}, // 27
		{"81M8BGNADAMXADYZGNTCJF27AS", false},  // over 128 bits
		{"01m8bgnadamxadyzgntcjf27as", false},  // lower case
		{"01NOTANIDTHATWASEVERSTORED", false},  // I and O are not in the alphabet
		{"01M8BGNADAMXADYZGNTCJF27A\x00", false},
		{"01M8BGNADAMXADYZGNTCJF27Aé", false},
	} {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
		err := ValidatePage(tc.id, 0)
		if want := tc.want || tc.id == ""; (err == nil) != want {
			t.Errorf("ValidatePage(%q, 0) = %v", tc.id, err)
		}
	}
}

func TestValidateClientID(t *testing.T) {
	for _, id := range []string{"", "1", "3f2c9a1e-8d7b-4c6a-9e5f-0a1b2c3d4e5f", strings.Repeat("x", MaxClientIDBytes)} {
		if err := ValidateClientID(id); err != nil {
			t.Errorf("ValidateClientID(%d bytes) = %v", len(id), err)
		}
	}
	err := ValidateClientID(strings.Repeat("x", MaxClientIDBytes+1))
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeBadRequest {
		t.Errorf("a clientId too long: %v, want %s", err, CodeBadRequest)
	}
}

func TestValidatePageLimit(t *testing.T) {
	for limit, ok := range map[int]bool{-1: false, 0: true, 1: true, MaxHistoryPage: true, MaxHistoryPage + 1: false} {
		if err := ValidatePage("", limit); (err == nil) != ok {
			t.Errorf("ValidatePage(\"\", %d) = %v", limit, err)
		}
	}
}
