package buckets

import (
	"context"
	"encoding/json"
	"io"
	"sync"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// A bucket's size is the true cumulative size of its root DAG (the bytes
// of every block, counted once per link, as IPFS reports it where the
// DAG's links record true sizes; truesize.go where they do not): the
// logical size a user pushed, before deduplication. An account's usage is the sum
// over the buckets charged to it (record.go): the account the hub
// authenticated when each was made, so a developer's or org's own buckets
// and those of all its app's users count together, and a fresh identity
// of an app brings no fresh quota. The quota (Config.Quota) caps it.
//
// Usage is summed from the buckets' records on first need and kept in
// memory, moved by every change this service makes (which writes the
// records) and summed again by each garbage collection, which reads every
// record anyway. Nothing a tenant writes through the threads API moves it.

// usage holds the bytes stored per account.
type usage struct {
	// mu guards every field below.
	mu      sync.Mutex
	loaded  bool
	bytes   map[hub.PubKey]int64
	moves   uint64 // changes made through reserve; see setUsage
	pending int    // reservations whose write has not yet committed or failed
}

// StoredBytes returns the bytes stored in the buckets charged to account.
func (s *Service) StoredBytes(ctx context.Context, account hub.PubKey) (int64, error) {
	const op errors.Op = "buckets.StoredBytes"
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	if err := s.loadUsage(); err != nil {
		return 0, errors.E(op, err)
	}
	return s.usage.bytes[account], nil
}

// loadUsage sums the records once. s.usage.mu must be held.
func (s *Service) loadUsage() error {
	if s.usage.loaded {
		return nil
	}
	sizes := map[hub.PubKey]int64{}
	err := s.eachRecord(func(_ string, r *record) error {
		sizes[r.Account] += r.Size
		return nil
	})
	if err != nil {
		return errors.E(errors.Internal, err)
	}
	s.usage.bytes, s.usage.loaded = sizes, true
	return nil
}

// usageMoves returns the number of changes reserve has made, and whether
// a scan starting now may replace the figures (setUsage): not while a
// reserved write is in flight, which the scan may or may not see.
func (s *Service) usageMoves() (moves uint64, settled bool) {
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	return s.usage.moves, s.usage.pending == 0
}

// setUsage replaces the usage figures with ones a full scan computed, if
// the scan began settled and no change was reserved since (moves and
// settled are usageMoves from then): a newer change would otherwise be
// lost.
func (s *Service) setUsage(sizes map[hub.PubKey]int64, moves uint64, settled bool) {
	s.usage.mu.Lock()
	if settled && s.usage.moves == moves {
		s.usage.bytes, s.usage.loaded = sizes, true
	}
	s.usage.mu.Unlock()
}

// reserve moves account's usage by delta, refusing with Exhausted a growth
// past the quota; shrinking is always allowed. The caller then calls done
// once, with whether the write it reserved for committed: a failed write
// takes the change back. Either way done counts as a move (see setUsage),
// so a collection whose scan may have read the DB before this write
// committed does not overwrite the figure.
func (s *Service) reserve(ctx context.Context, op errors.Op, account hub.PubKey, delta int64) (done func(committed bool), err error) {
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	if err := s.loadUsage(); err != nil {
		return nil, errors.E(op, err)
	}
	used := s.usage.bytes[account]
	if q := s.cfg.Quota; q > 0 && delta > 0 && used+delta > q {
		return nil, quotaError(op, used, delta, q)
	}
	s.usage.bytes[account] = used + delta
	s.usage.moves++
	s.usage.pending++
	return func(committed bool) {
		s.usage.mu.Lock()
		if !committed {
			s.usage.bytes[account] -= delta
		}
		s.usage.moves++
		s.usage.pending--
		s.usage.mu.Unlock()
	}, nil
}

func quotaError(op errors.Op, used, more, quota int64) error {
	return errors.Errorf(op, errors.Exhausted,
		"bucket storage quota exceeded: %d bytes stored, %d more would pass the quota of %d bytes; remove data or ask the operator for a larger quota", used, more, quota)
}

// quotaReader fails a stream with Exhausted once more than left bytes
// were read through it, so a push past the quota stops early instead of
// storing everything first.
type quotaReader struct {
	countingReader
	op    errors.Op
	used  int64 // bytes stored when the push began
	quota int64
}

func (q *quotaReader) Read(b []byte) (int, error) {
	n, err := q.countingReader.Read(b)
	if q.quota > 0 && q.used+q.n > q.quota {
		return n, quotaError(q.op, q.used, q.n, q.quota)
	}
	return n, err
}

// meter returns a reader that counts what it reads from r and, when a
// quota is set, fails once account's usage would pass it.
func (s *Service) meter(ctx context.Context, op errors.Op, account hub.PubKey, r io.Reader) (*quotaReader, error) {
	q := &quotaReader{countingReader: countingReader{r: r}, op: op, quota: s.cfg.Quota}
	if q.quota > 0 {
		used, err := s.StoredBytes(ctx, account)
		if err != nil {
			return nil, err
		}
		if used >= q.quota {
			return nil, quotaError(op, used, 0, q.quota)
		}
		q.used = used
	}
	return q, nil
}

// findBuckets returns every bucket txn reads, at their recorded roots:
// the instances of buckets made in DB thread (see homeRecord), not copies
// written elsewhere.
func (s *Service) findBuckets(ctx context.Context, txn *db.Txn, thread threads.ID) ([]Bucket, error) {
	raws, err := txn.Find(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Bucket, 0, len(raws))
	for _, raw := range raws {
		var id struct {
			Key string `json:"_id"`
		}
		if json.Unmarshal(raw, &id) != nil {
			continue
		}
		rec, err := s.homeRecord(thread, id.Key)
		if err != nil {
			continue // not a bucket: written through the threads API, not by this service
		}
		if b, err := s.asRecorded("", raw, thread, rec); err == nil {
			out = append(out, b)
		}
	}
	return out, nil
}
