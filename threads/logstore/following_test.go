package logstore

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// TestFollowing: the records after a position come from the index, for
// appended and ingested logs alike; a position that does not name the
// record given, or records stored before the index, are unknown, so that
// the caller walks the log instead.
func TestFollowing(t *testing.T) {
	s := newStore(t)
	info, logKey := s.newThread(t, "t")
	var cids []cid.Cid
	var recs []threads.Record
	for i := range 7 {
		recs = append(recs, s.append(t, info.ID, logKey, fmt.Sprint(i)))
		cids = append(cids, recs[i].Cid)
	}
	lid := logID(t, logKey)
	l, err := s.Log(info.ID, lid)
	if err != nil {
		t.Fatal(err)
	}
	// A copy that ingests the log holds the same index.
	r := newStore(t)
	r.create(t, info)
	for _, rec := range recs {
		if _, _, err := r.ingest(t, info.ID, s.blocksOf(t, info.ID, rec)); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range []*testStore{s, r} {
		for _, tc := range []struct {
			name  string
			after cid.Cid
			n     int64
			limit int
			want  []cid.Cid
			known bool
		}{
			{"from the first", cid.Undef, 0, 3, cids[:3], true},
			{"from the middle", cids[2], 3, 3, cids[3:6], true},
			{"to the head", cids[4], 5, 10, cids[5:], true},
			{"at the head", cids[6], 7, 10, []cid.Cid{}, true},
			{"wrong position", cids[2], 4, 3, nil, false},
			{"past the head", cids[6], 8, 3, nil, false},
			{"a CID without a position", cids[2], 0, 3, nil, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, known, err := st.Following(info.ID, l, tc.after, tc.n, tc.limit)
				if err != nil || known != tc.known || !slices.Equal(got, tc.want) {
					t.Fatalf("Following = %v, %v, %v; want %v, %v", got, known, err, tc.want, tc.known)
				}
			})
		}
	}
	// Records stored before logs kept the index have no positions.
	err = s.write(t, info.ID, func(b *store.Batch) error {
		b.Delete(seqKey(info.ID, lid, 1))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, known, err := s.Following(info.ID, l, cid.Undef, 0, 3); err != nil || known {
		t.Fatalf("Following over a hole in the index = %v, %v, %v; want unknown", got, known, err)
	}
}
