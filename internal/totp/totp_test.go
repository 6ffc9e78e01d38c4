package totp

import (
	"testing"
	"time"
)

// RFC 6238 appendix B, SHA-1 rows (truncated to 6 digits).
func TestCodeRFC6238Vectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1111111111, "050471"},
		{1234567890, "005924"},
		{2000000000, "279037"},
		{20000000000, "353130"},
	} {
		if got := Code(key, time.Unix(tc.unix, 0)); got != tc.want {
			t.Errorf("Code(%d) = %s, want %s", tc.unix, got, tc.want)
		}
	}
}

func TestValidAllowsOneStepOfDrift(t *testing.T) {
	key, err := DecodeSecret("JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"same step", now, true},
		{"previous step", now.Add(-Step), true},
		{"next step", now.Add(Step), true},
		{"two steps old", now.Add(-2 * Step), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Valid(key, Code(key, tc.at), now); got != tc.want {
				t.Errorf("Valid = %v, want %v", got, tc.want)
			}
		})
	}
	if Valid(key, "12345", now) {
		t.Error("a 5-digit code was accepted")
	}
}

func TestDecodeSecretRejectsJunk(t *testing.T) {
	if _, err := DecodeSecret("not base32!"); err == nil {
		t.Fatal("want an error")
	}
	if _, err := DecodeSecret("jbsw y3dp ehpk 3pxp"); err != nil {
		t.Fatalf("lower case with spaces: %v", err)
	}
}
