// Package totp computes and checks RFC 6238 time-based one-time passwords
// (HMAC-SHA-1, 30-second steps, 6 digits), as authenticator apps do.
package totp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Step is the RFC 6238 time step.
const Step = 30 * time.Second

// Digits is the length of a code.
const Digits = 6

// DecodeSecret decodes a base32 secret as authenticator apps show it
// (case-insensitive, spaces and padding optional).
func DecodeSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	s = strings.TrimRight(s, "=")
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("totp: secret is not base32: %w", err)
	}
	return key, nil
}

// Code returns the code for key at time t.
func Code(key []byte, t time.Time) string {
	return hotp(key, uint64(t.Unix())/uint64(Step/time.Second))
}

// Valid reports whether code is right for key at time t, allowing one step
// of clock drift either way. The comparison takes constant time.
func Valid(key []byte, code string, t time.Time) bool {
	if len(code) != Digits {
		return false
	}
	counter := uint64(t.Unix()) / uint64(Step/time.Second)
	ok := 0
	for _, c := range []uint64{counter - 1, counter, counter + 1} {
		ok |= subtle.ConstantTimeCompare([]byte(hotp(key, c)), []byte(code))
	}
	return ok == 1
}

func hotp(key []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", Digits, v%1000000)
}
