package test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/logstore"
)

// startHubd starts hubd in process with cfg and returns a function that
// stops it (also called when the test ends, if it was not).
func startHubd(t *testing.T, cfg daemon.Config) (*daemon.Daemon, func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := daemon.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start hubd: %v", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("stop hubd: %v", err)
		}
	}
	t.Cleanup(stop)
	return d, stop
}

// storedRecords reads every record of thread id from the store of a
// stopped hubd's repo. Nothing in the API names records, so this is how
// the test learns their CIDs.
func storedRecords(t *testing.T, repo string, id threads.ID) []threads.Record {
	t.Helper()
	st, err := store.Open(filepath.Join(repo, "store"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ls := logstore.NewStore(st)
	logs, err := ls.Logs(id)
	if err != nil {
		t.Fatal(err)
	}
	var out []threads.Record
	for _, l := range logs {
		recs, err := ls.Records(id, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	return out
}

// TestIPFSBitswapServesThreads fetches a DB's records and their event,
// header and body blocks from hubd over bitswap, by CID alone, into an
// independent node: each block hashes to its CID, each record decodes and
// verifies with the thread key, and its event opens to the instance
// written over gRPC.
func TestIPFSBitswapServesThreads(t *testing.T) {
	cfg := testhub.Config(t)
	d, stop := startHubd(t, cfg)
	conn := testhub.Dial(t, d.Addrs().API)
	ctx, _ := signup(t, hubclient.New(conn), "alice")
	tc := threadsclient.New(conn)
	id, err := tc.NewDB(ctx, "", threadsclient.DBOptions{Name: "served", Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	const marker = "fetched by CID over bitswap"
	if _, err := tc.Create(ctx, id, "notes", json.RawMessage(`{"_id":"n1","text":"`+marker+`"}`)); err != nil {
		t.Fatal(err)
	}
	info, err := tc.GetDBInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	stop()
	recs := storedRecords(t, cfg.Repo, id)
	if len(recs) == 0 {
		t.Fatal("the DB holds no records")
	}

	d, _ = startHubd(t, cfg)
	p := newIPFSPeer(t)
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p.connect(t, fctx, d.Addrs().P2P)
	fetched := 0
	get := func(c cid.Cid) ([]byte, error) {
		nd, err := p.dag.Get(fctx, c) // verifies the bytes against c
		if err != nil {
			t.Fatalf("fetch %s over bitswap: %v", c, err)
		}
		if err := threads.CheckBlock(c, nd.RawData()); err != nil {
			t.Fatalf("block %s: %v", c, err)
		}
		fetched++
		return nd.RawData(), nil
	}
	found := false
	for _, want := range recs {
		data, _ := get(want.Cid)
		rec, err := threads.DecodeRecord(info.Key, threads.Block{Cid: want.Cid, Data: data})
		if err != nil {
			t.Fatalf("record %s fetched over bitswap: %v", want.Cid, err)
		}
		if rec.LogID != want.LogID || !rec.Event.Equals(want.Event) || !rec.Prev.Equals(want.Prev) {
			t.Fatalf("record %s fetched over bitswap is %+v; stored %+v", want.Cid, rec, want)
		}
		ev, err := threads.OpenEvent(info.Key, rec, get) // event, header, body
		if err != nil {
			t.Fatalf("event of record %s: %v", rec.Cid, err)
		}
		found = found || strings.Contains(string(ev.Body), marker)
	}
	if want := 4 * len(recs); fetched != want {
		t.Errorf("fetched %d blocks for %d records; want %d (record, event, header, body)", fetched, len(recs), want)
	}
	if !found {
		t.Errorf("no event of the %d records carries the instance written", len(recs))
	}
}
