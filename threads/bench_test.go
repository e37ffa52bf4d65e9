package threads

import (
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

// BenchmarkDecodeRecord measures what every received or re-read record
// costs: hash check, decryption, parsing and signature verification.
func BenchmarkDecodeRecord(b *testing.B) {
	key := newKey(b)
	_, blocks, err := NewRecord(key, newLogKey(b), cid.Undef, []byte("body"), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := DecodeRecord(key, blocks[0]); err != nil {
			b.Fatal(err)
		}
	}
}
