package buckets

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
)

// BenchmarkPushPull pushes and pulls one 64 MiB file, public and private,
// side by side: the cost of encryption. Each round pushes new random bytes,
// so neither side deduplicates against the last round.
func BenchmarkPushPull(b *testing.B) {
	data := make([]byte, 64<<20)
	for _, private := range []bool{false, true} {
		name := map[bool]string{false: "public", true: "private"}[private]
		b.Run(name, func(b *testing.B) {
			f := newFixture(b)
			ctx := context.Background()
			bkt, _, err := f.svc.Create(ctx, f.p, f.thread, "bench", private, cid.Undef)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				b.StopTimer()
				rand.Read(data)
				b.StartTimer()
				if _, err := f.svc.PushPath(ctx, f.p, f.thread, bkt.Key, "f", bytes.NewReader(data), ""); err != nil {
					b.Fatal(err)
				}
				if err := f.svc.PullPath(ctx, f.p, f.thread, bkt.Key, "f", io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStream encrypts and decrypts 16 MiB in memory: the cipher's own
// speed, without storage.
func BenchmarkStream(b *testing.B) {
	key := randomBytes(b, pathKeySize)
	plain := randomBytes(b, 16<<20)
	sealed := seal(b, key, plain)
	b.Run("encrypt", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			r, err := newEncryptReader(key, bytes.NewReader(plain))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decrypt", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			d, err := newDecryptReader(key, bytes.NewReader(sealed), int64(len(sealed)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := d.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
