package test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	bucketsclient "github.com/selfhub/hub/client/buckets"
)

// BenchmarkGatewayGet64MiB reads a 64 MiB bucket file over loopback HTTP,
// by CID and by bucket path (in-process hubd; compare with the gRPC pull in
// BenchmarkBucketPushPull64MiB).
func BenchmarkGatewayGet64MiB(b *testing.B) {
	w := newBucketsWorld(b, "gwbench")
	created, err := w.bc.Create(w.ctx, "bench", bucketsclient.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	data := randomData(64 << 20)
	pushed, err := w.bc.PushPath(w.ctx, created.Root.Key, "big.bin", bytes.NewReader(data), "")
	if err != nil {
		b.Fatal(err)
	}
	base := "http://" + w.h.Addrs.Gateway
	for name, url := range map[string]string{
		"ipfs":   base + "/ipfs/" + pushed.Cid,
		"thread": created.Links.URL + "/big.bin",
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				resp, err := http.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || n != int64(len(data)) {
					b.Fatalf("status %s, %d bytes, %v", resp.Status, n, err)
				}
			}
		})
	}
}
