package ipfsnet

import (
	"context"
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	mh "github.com/multiformats/go-multihash"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newKey(t *testing.T) (crypto.PrivKey, ipns.Name) {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	name, err := NameOf(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, name
}

func rawCid(t *testing.T, s string) cid.Cid {
	t.Helper()
	h, err := mh.Sum([]byte(s), mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// sign signs a record and waits until it is on disk.
func sign(t *testing.T, rs *Records, sk crypto.PrivKey, root cid.Cid) {
	t.Helper()
	durable, err := rs.Sign(context.Background(), sk, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := durable(); err != nil {
		t.Fatal(err)
	}
}

func TestRecordsSequenceSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	rs, err := NewRecords(st, 2*time.Hour, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sk, name := newKey(t)
	for i := range 3 {
		sign(t, rs, sk, rawCid(t, "root"))
		rec, _, err := rs.Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if seq, _ := rec.Sequence(); seq != uint64(i) {
			t.Fatalf("record %d has sequence %d", i, seq)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, dir)
	defer st.Close()
	rs, err = NewRecords(st, 2*time.Hour, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	next := rawCid(t, "next")
	sign(t, rs, sk, next)
	rec, raw, err := rs.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := ipns.ValidateWithName(rec, name); err != nil {
		t.Fatal(err)
	}
	if seq, _ := rec.Sequence(); seq != 3 {
		t.Errorf("sequence after reopening = %d; want 3", seq)
	}
	if v, _ := rec.Value(); v.String() != "/ipfs/"+next.String() {
		t.Errorf("value = %s; want /ipfs/%s", v, next)
	}
	if ttl, _ := rec.TTL(); ttl != 30*time.Second {
		t.Errorf("TTL = %s; want 30s", ttl)
	}
	if eol, _ := rec.Validity(); eol.Before(time.Now().Add(time.Hour)) || eol.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("valid until %s; want two hours from when it was signed", eol)
	}
	if again, err := ipns.UnmarshalRecord(raw); err != nil || ipns.ValidateWithName(again, name) != nil {
		t.Errorf("the marshalled record does not round-trip: %v", err)
	}
}

func TestRecordsGetRefuses(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	rs, err := NewRecords(st, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	sk, name := newKey(t)
	_, unknown := newKey(t)

	if _, _, err := rs.Get(ctx, unknown); !errors.Is(errors.NotExist, err) {
		t.Errorf("Get of a name never signed = %v; want NotExist", err)
	}
	// A record signed long ago has expired: it is not served.
	rs.now = func() time.Time { return time.Now().Add(-2 * DefaultValidity) }
	sign(t, rs, sk, rawCid(t, "old"))
	rs.now = time.Now
	if _, _, err := rs.Get(ctx, name); !errors.Is(errors.NotExist, err) {
		t.Errorf("Get of an expired record = %v; want NotExist", err)
	}
	// Signing again continues the sequence and makes it valid.
	sign(t, rs, sk, rawCid(t, "new"))
	rec, _, err := rs.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := rec.Sequence(); seq != 1 {
		t.Errorf("sequence = %d; want 1", seq)
	}
	if err := rs.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs.Get(ctx, name); !errors.Is(errors.NotExist, err) {
		t.Errorf("Get after Delete = %v; want NotExist", err)
	}
}

func TestSettingsRefused(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	cases := []struct {
		name string
		err  func() error
	}{
		{"short validity", func() error { _, err := NewRecords(st, time.Second, 0); return err }},
		{"negative ttl", func() error { _, err := NewRecords(st, 0, -time.Second); return err }},
		{"dht mode", func() error { _, err := ParseDHTMode("sometimes"); return err }},
		{"bootstrap not a multiaddr", func() error { _, err := ParseBootstrap([]string{"example.org:4001"}); return err }},
		{"bootstrap without peer", func() error { _, err := ParseBootstrap([]string{"/ip4/192.0.2.1/tcp/4001"}); return err }},
	}
	for _, c := range cases {
		if err := c.err(); !errors.Is(errors.Invalid, err) {
			t.Errorf("%s: %v; want Invalid", c.name, err)
		}
	}
}

// BenchmarkRecordsSign is what publishing adds to each bucket change:
// signing a record (V1 and V2) and storing it durably.
func BenchmarkRecordsSign(b *testing.B) {
	st, err := store.Open(b.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rs, err := NewRecords(st, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	h, _ := mh.Sum([]byte("root"), mh.SHA2_256, -1)
	root := cid.NewCidV1(cid.DagProtobuf, h)
	for b.Loop() {
		durable, err := rs.Sign(context.Background(), sk, root)
		if err != nil {
			b.Fatal(err)
		}
		if err := durable(); err != nil {
			b.Fatal(err)
		}
	}
}
