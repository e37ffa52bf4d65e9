package abuse

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/test/testhub"
)

// Hostile read filters on the buckets collection: one that fails every
// read, and one that grows its memory without end.
const (
	throwingFilter   = `throw new Error("x")`
	memoryBombFilter = `var a = []; for (;;) { a.push(new Array(1 << 20).fill(instance)); }`
)

// TestHubWideScanRunsNoTenantCode gives two attackers' buckets collections
// hostile read filters. Garbage collection goes on for everyone (a
// victim's removed bucket is freed), and after a crash and restart hubd
// comes up, the victim's bucket Create works and collection still frees
// its blocks: no hub-wide pass reads through a tenant's filter.
func TestHubWideScanRunsNoTenantCode(t *testing.T) {
	h := startHub(t, "--gc-interval", "100ms")
	victim := newTenant(t, h, "victim")
	for name, filter := range map[string]string{"thrower": throwingFilter, "bomber": memoryBombFilter} {
		a := newTenant(t, h, name)
		db, key := bucketWithFile(t, a, "attacker's file")
		err := a.Threads.UpdateCollection(a.User, db, threadsclient.CollectionConfig{Name: "buckets", ReadFilter: filter})
		if err != nil {
			t.Fatalf("%s: set a read filter on its own buckets collection: %v", name, err)
		}
		if filter == throwingFilter {
			// The attacker's own reads run its filter, and fail cleanly.
			if _, err := a.Buckets.Root(client.WithThread(a.User, db.String()), key); err == nil {
				t.Fatalf("%s: reading its own bucket through a throwing filter succeeded", name)
			}
		}
	}
	keptDB, keptKey := bucketWithFile(t, victim, "victim's file")
	wantFreed(t, h, victim)
	h.alive(t)
	victim.mustBeServed(t)

	h.restart(t)
	victim.redial(t, h)
	victim.mustBeServed(t) // bucket Create needs the usage, loaded at start
	var got bytes.Buffer
	if _, err := victim.Buckets.PullPath(client.WithThread(victim.User, keptDB.String()), keptKey, "f.txt", &got); err != nil || got.String() != "victim's file" {
		t.Fatalf("victim's file after the restart: %q, %v", got.String(), err)
	}
	wantFreed(t, h, victim)
	h.alive(t)
}

// bucketWithFile makes a DB and a bucket in it for tn's user, with
// contents at f.txt, and returns them.
func bucketWithFile(t *testing.T, tn *tenant, contents string) (threadsclient.ID, string) {
	t.Helper()
	in, db, key := newBucket(t, tn, tn.User)
	if _, err := tn.Buckets.PushPath(in, key, "f.txt", bytes.NewReader([]byte(contents)), ""); err != nil {
		t.Fatal(err)
	}
	return db, key
}

// newBucket makes a DB and a bucket in it as user, an identity of tn's
// app, and returns the user's context in that DB, the DB and the key.
func newBucket(t *testing.T, tn *tenant, user context.Context) (context.Context, threadsclient.ID, string) {
	t.Helper()
	db, err := tn.Threads.NewDB(user, "", threadsclient.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := client.WithThread(user, db.String())
	b, err := tn.Buckets.Create(in, "b", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return in, db, b.Root.Key
}

// wantFreed has tn push 2 MiB into a fresh bucket and remove it, and waits
// until garbage collection has freed most of it.
func wantFreed(t *testing.T, h *target, tn *tenant) {
	t.Helper()
	const size = 2 << 20
	blocks := filepath.Join(h.Repo, "blocks")
	in, _, key := newBucket(t, tn, tn.User)
	if _, err := tn.Buckets.PushPath(in, key, "big.bin", bytes.NewReader(randomBytes(size)), ""); err != nil {
		t.Fatal(err)
	}
	had := testhub.DirBytes(t, blocks)
	if err := tn.Buckets.Remove(in, key); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for testhub.DirBytes(t, blocks) > had-size*3/4 {
		h.alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("blocks hold %d bytes 60 s after a %d-byte bucket was removed (%d before): garbage collection is stopped", testhub.DirBytes(t, blocks), size, had)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// redial connects tn's clients to h, after a restart; its credentials
// stay.
func (tn *tenant) redial(t *testing.T, h *target) {
	t.Helper()
	conn := testhub.Dial(t, h.Addrs.API)
	tn.Hub, tn.Threads, tn.Buckets = hubclient.New(conn), threadsclient.New(conn), bucketsclient.New(conn)
}
