package test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"

	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	usersclient "github.com/selfhub/hub/client/users"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// TestEveryKeyHasAnOwner has a hub write every kind of state it keeps
// (accounts, an org and an invitation, keys, app users and their tokens,
// DBs with instances, usage, a mailbox, a bucket with files and its IPNS
// record), stops it, and reads its store: every key falls under a prefix
// the store lists, and each owner the test reached shows up.
func TestEveryKeyHasAnOwner(t *testing.T) {
	h := testhub.Start(t, nil)
	w := newWorld(t, h)
	if err := w.hc.InviteToOrg(w.asOrg, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	userCtx := client.WithToken(testhub.WithKey(t, w.devUser), w.devToken)
	api := threadspb.NewAPIClient(h.Conn)
	id, _ := threads.NewID(threads.Raw)
	if _, err := api.NewDB(userCtx, &threadspb.NewDBRequest{DbID: id.Bytes(), Name: "things",
		Collections: []*threadspb.CollectionConfig{{Name: "things"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Create(userCtx, &threadspb.CreateRequest{DbID: id.Bytes(), CollectionName: "things",
		Instances: [][]byte{[]byte(`{"_id":"a","v":1}`)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := usersclient.New(h.Conn).SetupMailbox(userCtx); err != nil {
		t.Fatal(err)
	}
	bw := newBucketsUser(t, h, "bucky")
	created, err := bw.bc.Create(bw.ctx, "site", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bw.bc.PushPath(bw.ctx, created.Root.Key, "index.html", bytes.NewReader([]byte("hi")), created.Root.Path); err != nil {
		t.Fatal(err)
	}
	h.Stop()

	st, err := store.Open(filepath.Join(h.Config.Repo, "store"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	owners := map[string]int{}
	err = st.Scan(nil, func(key, _ []byte) error {
		p, ok := store.PrefixOf(key)
		if !ok {
			t.Errorf("key %q is under no prefix the store lists (store/prefixes.go)", key)
		}
		owners[p.Owner]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for o, n := range owners {
		seen = append(seen, o)
		t.Logf("%s: %d keys", o, n)
	}
	sort.Strings(seen)
	for _, want := range []string{"auth", "buckets", "ipfsnet", "metering", "threads/db", "threads/logstore"} {
		if owners[want] == 0 {
			t.Errorf("no key of %s in the store (owners seen: %v)", want, seen)
		}
	}
}
