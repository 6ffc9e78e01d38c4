package binenc

import (
	"errors"
	"math"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var b []byte
	b = AppendString(b, "")
	b = AppendString(b, "héllo")
	b = AppendUvarint(b, math.MaxUint64)
	b = AppendVarint(b, math.MinInt64)
	b = AppendVarint(b, -1)
	b = AppendUvarint(b, 7)
	b = append(b, 0xfe)
	r := NewReader(b)
	if s := r.String(); s != "" {
		t.Errorf("empty string read as %q", s)
	}
	if s := r.String(); s != "héllo" {
		t.Errorf("string read as %q", s)
	}
	if v := r.Uvarint(); v != math.MaxUint64 {
		t.Errorf("uvarint read as %d", v)
	}
	if v := r.Varint(); v != math.MinInt64 {
		t.Errorf("varint read as %d", v)
	}
	if v := r.Varint(); v != -1 {
		t.Errorf("varint read as %d", v)
	}
	if v := r.Count(7); v != 7 {
		t.Errorf("count read as %d", v)
	}
	if v := r.Byte(); v != 0xfe {
		t.Errorf("byte read as %x", v)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestFaults(t *testing.T) {
	cases := map[string]func(r *Reader){
		"string longer than the record": func(r *Reader) { _ = r.String() },
		"count above its bound":         func(r *Reader) { r.Count(3) },
		"byte past the end":             func(r *Reader) { r.Byte(); r.Byte(); r.Byte() },
		"uvarint over 64 bits":          func(r *Reader) { r.Uvarint() },
		"bytes left over":               func(r *Reader) { r.Byte() },
	}
	inputs := map[string][]byte{
		"string longer than the record": {5, 'a'},
		"count above its bound":         {4},
		"byte past the end":             {1, 2},
		"uvarint over 64 bits":          {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},
		"bytes left over":               {1, 2},
	}
	for name, read := range cases {
		r := NewReader(inputs[name])
		read(r)
		if err := r.Err(); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Err() = %v, want ErrFormat", name, err)
		}
		if r.String() != "" || r.Uvarint() != 0 {
			t.Errorf("%s: reads after a fault return values", name)
		}
	}
}
