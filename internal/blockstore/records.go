package blockstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// records is the hub's own list of the objects an S3 store holds, kept
// in the embedded store (store.BlockObjects), so that the collector walks
// a local list instead of listing the object store on every cycle (a
// listing of a million objects is a thousand requests, and paid per
// request on most clouds).
//
// The record of an object is written, synced, before its upload starts,
// and deleted only after the object is: a crash leaves at worst a record
// of an object that never arrived (the collector deletes both, a delete of
// a missing object being no error), never an object nobody records. Syncs
// of concurrent uploads share one disk write (group commit).
//
// The list is of one location: store.BlockInventory names the s3:// URL
// it lists. A hub opened on another location (or for the first time, on a
// store from before records were kept) lists that location once and
// records what it finds.
type records struct {
	st *store.Store
}

// recordKey is the store key of the record of datastore key k.
func recordKey(k ds.Key) []byte { return store.Key(store.BlockObjects, k.String()[1:]) }

// inventoryKey holds the location the records list.
var inventoryKey = store.Key(store.BlockInventory, "at")

// add records that k's object is being written with size bytes, and
// returns once the record is durable. Uploads can outlive the calls that
// started them (an S3 front-end request past hubd's shutdown grace), so
// add and remove fail on a closed store instead of touching it.
func (r records) add(k ds.Key, size int) error {
	const op errors.Op = "blockstore.records.add"
	return r.st.WhileOpen(func() error {
		b := r.st.NewBatch()
		b.PutRaw(recordKey(k), binary.AppendUvarint(nil, uint64(size)))
		durable, err := b.Apply()
		if err != nil {
			return errors.E(op, err)
		}
		return durable()
	})
}

// remove deletes the records of keys.
func (r records) remove(keys []ds.Key) error {
	return r.st.WhileOpen(func() error {
		b := r.st.NewBatch()
		for _, k := range keys {
			b.Delete(recordKey(k))
		}
		return b.Commit()
	})
}

// A Record is one object the hub wrote: its datastore key and size.
type Record struct {
	Key  ds.Key
	Size int
}

// page returns up to n records whose keys come after after ("" for the
// first page), in key order.
func (r records) page(after ds.Key, n int) ([]Record, error) {
	const op errors.Op = "blockstore.records.page"
	lower := store.Key(store.BlockObjects, "")
	if after.String() != "/" {
		lower = append(recordKey(after), 0)
	}
	var out []Record
	stop := fmt.Errorf("page full")
	err := r.st.ScanRange(lower, store.PrefixEnd(store.Key(store.BlockObjects, "")), func(key, val []byte) error {
		size, m := binary.Uvarint(val)
		if m <= 0 {
			return errors.Errorf(op, errors.Internal, "the record %q holds no size", key)
		}
		name := bytes.TrimPrefix(key, store.Key(store.BlockObjects, ""))
		out = append(out, Record{Key: ds.RawKey("/" + string(name)), Size: int(size)})
		if len(out) == n {
			return stop
		}
		return nil
	})
	if err != nil && err != stop {
		return nil, err
	}
	return out, nil
}

// inventory makes the records list the objects of location held by s:
// if they list another location (or none), it drops them, lists s once and
// records every object found.
func (r records) inventory(ctx context.Context, s *S3, location string, log *slog.Logger) error {
	const op errors.Op = "blockstore.records.inventory"
	at, err := r.st.GetRaw(inventoryKey)
	if err == nil && string(at) == location {
		return nil
	}
	if err != nil && !errors.Is(errors.NotExist, err) {
		return err
	}
	b := r.st.NewBatch()
	b.DeletePrefix(store.Key(store.BlockObjects, ""))
	b.Delete(inventoryKey)
	if err := b.Commit(); err != nil {
		return err
	}
	res, err := s.Query(ctx, query.Query{KeysOnly: true})
	if err != nil {
		return err
	}
	defer res.Close()
	n := 0
	b = r.st.NewBatch()
	for e := range res.Next() {
		if e.Error != nil {
			return errors.E(op, e.Error)
		}
		k := ds.RawKey(e.Key)
		if _, _, err := splitKey(op, k); err != nil {
			continue // not an object of ours: never recorded, so never deleted
		}
		b.PutRaw(recordKey(k), binary.AppendUvarint(nil, uint64(e.Size)))
		if n++; n%1000 == 0 {
			if err := b.Commit(); err != nil {
				return err
			}
			b = r.st.NewBatch()
		}
	}
	b.PutRaw(inventoryKey, []byte(location))
	if err := b.Commit(); err != nil {
		return err
	}
	log.Info("recorded the objects of the blocks store, which the hub had not listed before", "blocks", location, "objects", n)
	return nil
}

// KeepRecords makes s keep the hub's record of its objects in st (see
// records), listing its location once if st does not record it yet. Call
// it before s is used.
func (s *S3) KeepRecords(ctx context.Context, st *store.Store, log *slog.Logger) error {
	r := &records{st: st}
	// The endpoint is part of the location: the same bucket name on
	// another server is another store.
	if err := r.inventory(ctx, s, s.cfg.String()+" at "+s.cfg.Endpoint, log); err != nil {
		return err
	}
	s.rec = r
	return nil
}

// maxDeletes is the most keys one DeleteObjects request may name (the S3
// API's limit).
const maxDeletes = 1000

// Recording reports whether s keeps records of its objects (KeepRecords).
func (s *S3) Recording() bool { return s.rec != nil }

// Records returns up to n (at least 1) of the records of the objects s
// holds, in key order, after after (the root key for the first page). s
// must be Recording.
func (s *S3) Records(after ds.Key, n int) ([]Record, error) { return s.rec.page(after, max(n, 1)) }

// DeleteMany deletes the objects of keys, up to a thousand a request, and
// then their records. A missing object is no error. It returns the first
// error; the objects it could not delete keep their records.
func (s *S3) DeleteMany(ctx context.Context, keys []ds.Key) error {
	const op errors.Op = "blockstore.S3.DeleteMany"
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), maxDeletes)]
		keys = keys[len(chunk):]
		ids := make([]types.ObjectIdentifier, 0, len(chunk))
		byObject := make(map[string]ds.Key, len(chunk))
		for _, k := range chunk {
			obj, err := s.object(op, k)
			if err != nil {
				continue // such a key cannot exist
			}
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(obj)})
			byObject[obj] = k
		}
		if err := s.acquire(ctx); err != nil {
			return err
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.cfg.Bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		s.release()
		if err != nil {
			return s.fail(ctx, op, fmt.Sprintf("%d objects", len(ids)), err)
		}
		var first error
		for _, e := range out.Errors {
			delete(byObject, aws.ToString(e.Key))
			if first == nil {
				first = errors.Errorf(op, errors.Unavailable, "delete %s from %s: %s: %s", aws.ToString(e.Key), s.cfg, aws.ToString(e.Code), aws.ToString(e.Message))
			}
		}
		deleted := slices.Collect(maps.Values(byObject))
		if s.cache != nil {
			for _, k := range deleted {
				s.cache.Remove(k)
			}
		}
		if s.rec != nil {
			if err := s.rec.remove(deleted); err != nil {
				return err
			}
		}
		if first != nil {
			return first
		}
	}
	return nil
}
