package threaddb_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/threaddb"
)

// BenchmarkJoinCatchUp measures how fast a node that joins a DB receives
// its history from another node on loopback: records/s, each record one
// instance written in its own transaction.
func BenchmarkJoinCatchUp(b *testing.B) {
	const records = 2000
	a, err := threaddb.Open(b.Context(), threaddb.Config{Dir: b.TempDir(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	db, err := a.NewDB(b.Context(), "", hub.DBOptions{Collections: []hub.CollectionConfig{{Name: "items"}}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range records {
		doc := json.RawMessage(fmt.Sprintf(`{"_id":"i%05d","text":"item %d"}`, i, i))
		if _, err := a.Create(b.Context(), db, "items", []json.RawMessage{doc}); err != nil {
			b.Fatal(err)
		}
	}
	info, err := a.GetDBInfo(b.Context(), db)
	if err != nil {
		b.Fatal(err)
	}
	addrs, err := a.DBAddrs(db)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		n, err := threaddb.Open(b.Context(), threaddb.Config{Dir: b.TempDir(), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := n.Join(b.Context(), addrs[0], info.Key, ""); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := n.FindByID(b.Context(), db, "items", fmt.Sprintf("i%05d", records-1)); err != nil {
			b.Fatalf("after Join the last record is missing: %v", err)
		}
		n.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
}
