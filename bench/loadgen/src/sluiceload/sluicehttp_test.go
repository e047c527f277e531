package main

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// The HTTP driver's text body keeps the size and gives back the 16 bytes e2e reads.
func TestTextBodyRoundTrip(t *testing.T) {
	for _, size := range []int{16, 17, 100, 1024} {
		body := make([]byte, size)
		binary.BigEndian.PutUint64(body[0:8], 0xFFEE0011_22334455)
		binary.BigEndian.PutUint64(body[8:16], 42)
		text := textBody(body)
		if len(text) != size && size >= 32 {
			t.Fatalf("size %d: text is %d bytes", size, len(text))
		}
		for _, c := range text {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("size %d: byte %#x is not printable", size, c)
			}
		}
		back := binaryBody(string(text))
		if !bytes.Equal(back[:16], body[:16]) {
			t.Fatalf("size %d: prefix %x, want %x", size, back[:16], body[:16])
		}
	}
}
