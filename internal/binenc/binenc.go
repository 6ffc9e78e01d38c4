// Package binenc writes and reads the compact binary records mfabridge
// keeps per conversation (the session and the provider's transaction):
// unsigned and signed varints, and strings prefixed with their length.
// They are read at every packet of a conversation and held for every
// conversation waiting at a challenge, so their size and decoding cost
// count where JSON's would.
package binenc

import (
	"encoding/binary"
	"errors"
)

// ErrFormat is a record that is cut short, too long, or holds a count
// above its bound.
var ErrFormat = errors.New("binenc: malformed record")

// AppendString appends s with its length in front.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendUvarint appends v as an unsigned varint.
func AppendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// AppendVarint appends v as a signed (zig-zag) varint.
func AppendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

// Reader reads a record. It copies the record once: every string it
// returns shares that copy. The first fault sticks (see Err) and makes
// every later read return a zero value.
type Reader struct {
	s   string
	err error
}

// NewReader returns a Reader of data.
func NewReader(data []byte) *Reader { return &Reader{s: string(data)} }

// Fail marks the record malformed: for a value read well but out of its
// range.
func (r *Reader) Fail() { r.fail() }

func (r *Reader) fail() {
	if r.err == nil {
		r.err = ErrFormat
	}
	r.s = ""
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	var v uint64
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // more than 64 bits
			}
			r.s = r.s[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	r.fail()
	return 0
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	u := r.Uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// Count reads an unsigned varint that must not exceed limit.
func (r *Reader) Count(limit int) int {
	v := r.Uvarint()
	if v > uint64(limit) {
		r.fail()
		return 0
	}
	return int(v)
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.s) == 0 {
		r.fail()
		return 0
	}
	c := r.s[0]
	r.s = r.s[1:]
	return c
}

// String reads a string written by AppendString.
func (r *Reader) String() string {
	n := r.Uvarint()
	if n > uint64(len(r.s)) {
		r.fail()
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

// Err returns the first fault, or ErrFormat when bytes are left over.
func (r *Reader) Err() error {
	if r.err == nil && len(r.s) != 0 {
		return ErrFormat
	}
	return r.err
}
