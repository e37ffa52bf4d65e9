package buckets

import (
	"bytes"
	"context"
	"testing"

	"github.com/selfhub/hub/errors"
)

// TestImportProfile configures the unixfs-v0-2015 profile: files get CIDv0
// and 256 KiB dag-pb leaves, and read back whole.
func TestImportProfile(t *testing.T) {
	v0, err := ParseProfile("unixfs-v0-2015")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProfile("unixfs-v9"); !errors.Is(errors.Invalid, err) {
		t.Fatalf("an unknown profile: %v; want Invalid", err)
	}
	f := newFixtureConfig(t, Config{GatewayURL: "http://127.0.0.1:8006", Profile: v0})
	ctx := context.Background()
	b := f.create(t, "v0")
	data := randomBytes(t, 300<<10)
	res, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "f.bin", bytes.NewReader(data), "")
	if err != nil {
		t.Fatal(err)
	}
	nd, err := f.svc.dag.Get(ctx, res.Cid)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cid.Version() != 0 || len(nd.Links()) != 2 || nd.Links()[0].Cid.Version() != 0 {
		t.Fatalf("a 300 KiB file under unixfs-v0-2015: %s with %d links; want CIDv0 with two 256 KiB dag-pb leaves", res.Cid, len(nd.Links()))
	}
	var got bytes.Buffer
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "f.bin", &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("pull: %v (equal %v)", err, bytes.Equal(got.Bytes(), data))
	}
}
