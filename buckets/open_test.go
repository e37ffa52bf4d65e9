package buckets

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestOpenPath opens files of a public and a private bucket: each reads
// the bytes at any offset (across blocks and encrypted segments), an open
// file keeps reading the version it was opened at after the path is
// pushed again, and a directory opens with no reader.
func TestOpenPath(t *testing.T) {
	for _, private := range []bool{false, true} {
		name := map[bool]string{false: "public", true: "private"}[private]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			b, _, err := f.svc.Create(ctx, f.p, f.thread, name, private, cid.Undef)
			if err != nil {
				t.Fatal(err)
			}
			data := randomBytes(t, 3<<20+777)
			res, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "dir/f.bin", bytes.NewReader(data), "")
			if err != nil {
				t.Fatal(err)
			}
			it, at, r, err := f.svc.OpenPath(ctx, f.p, f.thread, b.Key, "dir/f.bin")
			if err != nil {
				t.Fatal(err)
			}
			if it.Size != int64(len(data)) || !it.Cid.Equals(res.Cid) || at.Path != res.Bucket.Path {
				t.Fatalf("OpenPath: size %d, CID %s, root %s; want %d, %s, %s", it.Size, it.Cid, at.Path, len(data), res.Cid, res.Bucket.Path)
			}
			if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "dir/f.bin", bytes.NewReader([]byte("a later version")), ""); err != nil {
				t.Fatal(err)
			}
			for _, off := range []int64{int64(len(data)) - 10, 0, 1<<20 - 3, 262144, 2<<20 + 65535} {
				if _, err := r.Seek(off, io.SeekStart); err != nil {
					t.Fatalf("seek to %d: %v", off, err)
				}
				got := make([]byte, min(100_000, int64(len(data))-off))
				if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, data[off:off+int64(len(got))]) {
					t.Fatalf("read at %d: %v; or the bytes differ from those pushed", off, err)
				}
			}
			dir, _, r, err := f.svc.OpenPath(ctx, f.p, f.thread, b.Key, "dir")
			if err != nil || !dir.IsDir || r != nil {
				t.Fatalf("OpenPath of a directory: dir %v, reader %v, %v", dir.IsDir, r, err)
			}
		})
	}
}
