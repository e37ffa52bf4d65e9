package buckets

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/ipfs/boxo/blockstore"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	hubblocks "github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// The hub's own record of each bucket.
//
// A bucket's instance lives in a ThreadDB collection that the DB's owner
// can change through the threads API: rewrite its path or owner, delete
// it, or give the collection a read filter or a write validator, which are
// the owner's JavaScript. The hub-wide work (garbage collection, usage and
// quotas, IPNS re-signing, the gateway's lookups, start-up) must not depend
// on any of that: one tenant could otherwise stop it for everyone, pin
// blocks it was never charged for, or charge someone else. So the service
// keeps a record of its own per bucket, under a raw store key no tenant
// reaches, written in the same commit as the instance (db.Txn.Also), and
// that record is the truth for everything but the bucket's name, roles
// and keys:
//
//   - its root: every operation of this service starts from the recorded
//     root, whatever path the instance holds; a root written through the
//     threads API is ignored, pins no block and escapes no quota;
//   - whom it is charged to: the account the hub authenticated when the
//     bucket was made (for an app's user, the app's developer or org),
//     never the instance's owner field;
//   - its size, the cumulative size of its recorded root's DAG;
//   - its DB, so that a copy of the instance in another DB is not it.
//
// Every raw key of a bucket commits with its instance: Create writes the
// record and the IPNS key (ipnsKeyKey) in the instance's commit, every
// change of the root rewrites the record in the commit that saves the
// instance (saveBucket), and Remove deletes both in the commit that
// deletes it; nothing else writes them but the migration RecordBuckets.
// So a crash never leaves one without the others (TestBucketStateSurvivesKill
// in test/ kills hubd under such writes and checks).
//
// Garbage collection marks from the recorded roots and usage sums the
// recorded sizes: neither opens a transaction on any collection. An
// instance deleted through the threads API leaves its record, so its
// blocks stay charged to its account until the bucket is removed through
// this service.

// record is what the hub records about one bucket.
type record struct {
	Thread  string     `json:"thread"`  // the DB the bucket was made in: its ID's text form
	Account hub.PubKey `json:"account"` // charged for its storage
	Root    string     `json:"root"`    // CID of its current root directory
	Size    int64      `json:"size"`    // cumulative size of the root's DAG
	Private bool       `json:"private"` // its contents are encrypted
	Updated int64      `json:"updated"` // Unix ns of its last change
}

// recordKey is where the record of bucket key is kept; recordKey("")
// prefixes them all.
func recordKey(key string) []byte { return store.Key(store.BucketRecords, key) }

// put adds the record of bucket key to b.
func (r record) put(key string) func(*store.Batch) {
	return func(b *store.Batch) { b.Put(recordKey(key), r) }
}

// recordOf returns the record of bucket key; NotExist when there is none.
func (s *Service) recordOf(key string) (record, error) {
	var r record
	if err := s.st.Get(recordKey(key), &r); err != nil {
		return record{}, err
	}
	return r, nil
}

// eachRecord calls fn with every bucket's key and record, until fn fails.
func (s *Service) eachRecord(fn func(key string, r *record) error) error {
	prefix := recordKey("")
	return store.ScanJSON(s.st, prefix, func(k []byte, r *record) error {
		return fn(string(k[len(prefix):]), r)
	})
}

// legacyDBKey is where hubs before the records kept the ID of the DB that
// holds a bucket; RecordBuckets turns each into a record.
func legacyDBKey(key string) []byte { return store.Key(store.LegacyBucketDBs, key) }

// recordsDoneKey marked a store whose buckets all had records, before
// stores had format versions.
func recordsDoneKey() []byte { return []byte(store.LegacyRecordsDone) }

// RecordBuckets is the store's migration to store.FormatBucketRecords: it
// gives every bucket of a store written before the hub kept its own
// records one, and returns how many it made. It runs before any service,
// over the parts a Service is made of (New). It reads each instance as
// stored (db.Manager.StoredInstance), running none of its DB owner's code,
// and charges the bucket to the account of the DB that holds it: the
// account the hub authenticated when the bucket was made, as only
// principals of that account reach the DB. A bucket whose DB or instance
// is gone is dropped, and one whose instance cannot be read is dropped and
// logged: neither stops the others. Each bucket's record and the deletion
// of its old key commit together, so a run stopped at any point leaves
// the next run only the buckets not yet recorded.
func RecordBuckets(ctx context.Context, st *store.Store, dbs *db.Manager, blocks blockstore.Blockstore, log *slog.Logger) (int, error) {
	const op errors.Op = "buckets.RecordBuckets"
	s, dag := &Service{st: st, dbs: dbs, sizes: &sizeTable{st: st}}, hubblocks.NewDAGService(blocks)
	type legacy struct {
		key    string
		thread threads.ID
	}
	var old []legacy
	prefix := legacyDBKey("")
	err := s.st.Scan(prefix, func(k, v []byte) error {
		old = append(old, legacy{string(k[len(prefix):]), threads.ID(v)})
		return nil
	})
	if err != nil {
		return 0, errors.E(op, err)
	}
	n := 0
	for _, l := range old {
		if err := ctx.Err(); err != nil {
			return n, errors.E(op, errors.Canceled, err)
		}
		b := s.st.NewBatch()
		b.Delete(legacyDBKey(l.key))
		r, err := s.legacyRecord(ctx, dag, l.key, l.thread)
		switch {
		case err == nil:
			r.put(l.key)(b)
			n++
		case errors.Is(errors.NotExist, err):
			b.Delete(ipnsKeyKey(l.key)) // removed around the service
		default:
			log.Warn("a bucket could not be recorded and is dropped", "bucket", l.key, "db", l.thread, "err", err)
			b.Delete(ipnsKeyKey(l.key))
		}
		if err := b.Commit(); err != nil {
			return n, errors.E(op, err)
		}
	}
	b := s.st.NewBatch()
	b.Delete(recordsDoneKey())
	if err := b.Commit(); err != nil {
		return n, errors.E(op, err)
	}
	return n, nil
}

// legacyRecord builds the record of bucket key in DB thread from its
// instance as stored, reading its root's size through dag.
func (s *Service) legacyRecord(ctx context.Context, dag ipld.DAGService, key string, thread threads.ID) (record, error) {
	owner, err := s.dbs.Owner(ctx, thread)
	if err != nil {
		return record{}, err
	}
	raw, err := s.dbs.StoredInstance(ctx, thread, Collection, key)
	if err != nil {
		return record{}, err
	}
	var b Bucket
	if err := json.Unmarshal(raw, &b); err != nil {
		return record{}, errors.E(errors.Invalid, err)
	}
	root, err := b.Root()
	if err != nil {
		return record{}, err
	}
	r := record{Thread: thread.String(), Account: owner.Account, Root: root.String(), Private: b.IsPrivate(), Updated: b.UpdatedAt}
	if nd, err := dag.Get(ctx, root); err == nil {
		r.Size, _ = s.sizes.size(nd) // else broken: garbage collection reports it
	}
	return r, nil
}
