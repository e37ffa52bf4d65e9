package store

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/selfhub/hub/errors"
)

type rec struct{ N int }

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBatchGetScan(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	b := s.NewBatch()
	for i, k := range []string{"a/1", "a/2", "a0", "b/1"} {
		b.Put([]byte(k), rec{i})
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	var r rec
	if err := s.Get([]byte("a/2"), &r); err != nil || r.N != 1 {
		t.Fatalf("get: %+v %v", r, err)
	}
	if err := s.Get([]byte("a/3"), &r); !errors.Is(errors.NotExist, err) {
		t.Fatalf("missing key: %v", err)
	}
	var keys []string
	if err := ScanJSON(s, Key("a", ""), func(k []byte, v *rec) error {
		keys = append(keys, string(k))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0] != "a/1" || keys[1] != "a/2" {
		t.Fatalf("scan of a/ = %v; want a/1, a/2 and not a0", keys)
	}
	b = s.NewBatch()
	b.Delete([]byte("a/1"))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	if ok, _ := s.Has([]byte("a/1")); ok {
		t.Fatal("deleted key back after reopen")
	}
	if ok, _ := s.Has([]byte("b/1")); !ok {
		t.Fatal("committed key lost after reopen")
	}
}

func TestFailedBatchWritesNothing(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	b := s.NewBatch()
	b.Put([]byte("good"), rec{1})
	b.Put([]byte("bad"), func() {}) // cannot be encoded
	if err := b.Commit(); !errors.Is(errors.Internal, err) {
		t.Fatalf("commit of an unencodable batch: %v", err)
	}
	if ok, _ := s.Has([]byte("good")); ok {
		t.Fatal("half of a failed batch was written")
	}
}

func TestPrefixEnd(t *testing.T) {
	cases := map[string]string{"a/": "a0", "a\xff": "b", "\xff\xff": ""}
	for in, want := range cases {
		if got := string(prefixEnd([]byte(in))); got != want {
			t.Errorf("prefixEnd(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSnapshotIsolation(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	b := s.NewBatch()
	b.Put([]byte("k/1"), rec{1})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	defer snap.Close()
	b = s.NewBatch()
	b.Put([]byte("k/1"), rec{2})
	b.Put([]byte("k/2"), rec{3})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	var r rec
	if err := snap.Get([]byte("k/1"), &r); err != nil || r.N != 1 {
		t.Fatalf("snapshot sees a later write: %+v %v", r, err)
	}
	n := 0
	snap.Scan([]byte("k/"), func(k, v []byte) error { n++; return nil })
	if n != 1 {
		t.Fatalf("snapshot scan saw %d records; want 1", n)
	}
	n = 0
	s.ScanRange([]byte("k/2"), nil, func(k, v []byte) error { n++; return nil })
	if n != 1 {
		t.Fatalf("open-ended range saw %d records; want 1", n)
	}
}

func TestDeletePrefixInBatch(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	b := s.NewBatch()
	b.Put([]byte("p/old"), rec{1})
	b.Put([]byte("q/keep"), rec{1})
	b.Commit()
	b = s.NewBatch()
	b.Put([]byte("p/before"), rec{2})
	b.DeletePrefix([]byte("p/"))
	b.Put([]byte("p/after"), rec{3})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	s.Scan(nil, func(k, v []byte) error { keys = append(keys, string(k)); return nil })
	if len(keys) != 2 || keys[0] != "p/after" || keys[1] != "q/keep" {
		t.Fatalf("keys after DeletePrefix: %v", keys)
	}
}

func TestApplyIsVisibleThenDurable(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	b := s.NewBatch()
	b.Put([]byte("k"), rec{1})
	durable, err := b.Apply()
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Has([]byte("k")); !ok {
		t.Fatal("an applied batch is not visible")
	}
	if err := durable(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	defer s.Close()
	if ok, _ := s.Has([]byte("k")); !ok {
		t.Fatal("an applied and synced batch was lost on reopen")
	}
}

func TestScanRangeReverse(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	b := s.NewBatch()
	for _, k := range []string{"a", "b", "c", "d"} {
		b.Put([]byte(k), rec{})
	}
	b.Commit()
	var got string
	s.ScanRangeReverse([]byte("b"), []byte("d"), func(k, _ []byte) error { got += string(k); return nil })
	if got != "cb" {
		t.Fatalf("reverse scan of [b, d) = %q", got)
	}
}

// TestWhileOpen checks that background work runs only on an open store:
// after Close, WhileOpen refuses without calling its function, and a
// second Close says the store is closed instead of panicking in pebble.
func TestWhileOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	b := s.NewBatch()
	b.Put([]byte("k"), rec{1})
	if err := s.WhileOpen(b.ApplyNoSync); err != nil {
		t.Fatal(err)
	}
	var got rec
	if err := s.Get([]byte("k"), &got); err != nil || got.N != 1 {
		t.Fatalf("after ApplyNoSync: %+v, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	called := false
	err := s.WhileOpen(func() error { called = true; return nil })
	if called || !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("WhileOpen on a closed store: called %v, %v; want FailedPrecondition", called, err)
	}
	if err := s.Close(); !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("second Close: %v; want FailedPrecondition", err)
	}

	// What ApplyNoSync wrote reached the disk with Close.
	s = open(t, dir)
	defer s.Close()
	if err := s.Get([]byte("k"), &got); err != nil || got.N != 1 {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
}

func TestBinaryKey(t *testing.T) {
	short := BinaryKey("ns", []byte("abc"), 0)
	long := BinaryKey("ns", []byte("abcd"), 0)
	if bytes.HasPrefix(long, short) {
		t.Fatalf("%q starts with %q: one part's keys would cover another's", long, short)
	}
	if want := "ns\x03abc"; string(short) != want {
		t.Fatalf("BinaryKey = %q; want %q", short, want)
	}
}

func TestAnyInRange(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	b := s.NewBatch()
	b.PutRaw([]byte("k/b"), nil)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lower, upper string
		want         bool
	}{
		{"k/a", "k/b", false}, // upper is exclusive
		{"k/b", "k/c", true},  // lower is inclusive
		{"k/a", "k/z", true},
		{"k/c", "k/z", false},
	} {
		if got, err := s.AnyInRange([]byte(tc.lower), []byte(tc.upper)); err != nil || got != tc.want {
			t.Errorf("AnyInRange(%s, %s) = %v, %v; want %v", tc.lower, tc.upper, got, err, tc.want)
		}
	}
}
