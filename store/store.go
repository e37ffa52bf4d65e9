// Package store is Hub's embedded key-value store: a thin layer over pebble
// that gives every write a synced batch (durable before it is acknowledged)
// and reads by key and by prefix. Records are stored as JSON values under
// keys that callers build from a prefix and parts.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/selfhub/hub/errors"
)

// Store is an open pebble database. It is safe for concurrent use.
type Store struct {
	db *pebble.DB

	// mu is held shared by WhileOpen's callers and exclusively by Close,
	// so that background work never touches a closed pebble (which
	// panics). closed is guarded by mu.
	mu     sync.RWMutex
	closed bool
}

// Reader reads records: the live store, or a Snapshot of it.
type Reader interface {
	Get(key []byte, v any) error
	GetRaw(key []byte) ([]byte, error)
	Has(key []byte) (bool, error)
	Scan(prefix []byte, fn func(key, val []byte) error) error
	ScanRange(lower, upper []byte, fn func(key, val []byte) error) error
	ScanRangeReverse(lower, upper []byte, fn func(key, val []byte) error) error
}

// pebbleReader is what both *pebble.DB and *pebble.Snapshot offer.
type pebbleReader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// bloomBitsPerKey sizes the tables' Bloom filters: 10 bits a key give about
// 1% false positives.
const bloomBitsPerKey = 10

// blockCacheSize is the memory pebble keeps uncompressed blocks in. Its
// default, 8 MiB, does not hold the index and filter blocks of a few
// hundred thousand instances, and every lookup then reads and decompresses
// them from the files again.
const blockCacheSize = 64 << 20

// Open opens (creating it if needed) the store in dir. Pebble's errors go
// to log; its informational chatter is dropped. A store whose format
// version is newer than this build's (format.go) is refused with a
// FailedPrecondition error; an older one opens, and its owner runs
// Migrate before anything else uses it.
func Open(dir string, log *slog.Logger) (*Store, error) { return openFS(dir, log, vfs.Default) }

// OpenMem opens an empty store held in memory and lost on Close, for tests
// that run the layers above the store without touching the disk.
func OpenMem(log *slog.Logger) (*Store, error) { return openFS("/", log, vfs.NewMem()) }

// openFS is Open with pebble's files in fs: the disk, or memory for OpenMem.
func openFS(dir string, log *slog.Logger, fs vfs.FS) (*Store, error) {
	const op errors.Op = "store.Open"
	cache := pebble.NewCache(blockCacheSize)
	defer cache.Unref() // the DB holds its own reference
	opts := &pebble.Options{Logger: pebbleLogger{log}, Cache: cache, FS: fs}
	// Bloom filters on every level, L0 included: most writes first look up
	// a key that is not there (a new instance's _id, an index entry), and
	// without a filter each such miss reads an index and a data block of
	// every table that could hold it.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(bloomBitsPerKey)
	}
	db, err := pebble.Open(filepath.Clean(dir), opts)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	s := &Store{db: db}
	if err := s.checkFormat(dir); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close flushes and closes the store. It waits for WhileOpen calls in
// progress.
func (s *Store) Close() error {
	const op errors.Op = "store.Close"
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.E(op, errors.FailedPrecondition, "store is already closed")
	}
	s.closed = true
	return s.db.Close()
}

// WhileOpen runs fn unless the store is closed, and keeps Close from
// closing it until fn returns. It is for work that runs in the background,
// behind the calls that started it, and may outlive them: on a closed
// store it returns a FailedPrecondition error without calling fn.
func (s *Store) WhileOpen(fn func() error) error {
	const op errors.Op = "store.WhileOpen"
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errors.E(op, errors.FailedPrecondition, "store is closed")
	}
	return fn()
}

// WALBytes is how many bytes the store has written to its write-ahead log
// since it was opened: what its syncs carried. Benchmarks report it per
// write, a measure of the disk work that is steadier than their timings.
func (s *Store) WALBytes() uint64 { return s.db.Metrics().WAL.BytesWritten }

// Key joins parts into a key with '/' between them. Parts must not contain
// '/' themselves when the key is to be scanned by prefix.
func Key(parts ...string) []byte {
	var b bytes.Buffer
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(p)
	}
	return b.Bytes()
}

// BinaryKey returns ns followed by uvarint(len(part)) and part, with room
// for extra more bytes: the start of a binary key. Binary parts are shorter
// than their text forms (a sync costs more the more bytes it carries), and
// the length keeps the keys of one part from starting with another part.
func BinaryKey(ns string, part []byte, extra int) []byte {
	out := make([]byte, 0, len(ns)+binary.MaxVarintLen64+len(part)+extra)
	out = append(out, ns...)
	out = binary.AppendUvarint(out, uint64(len(part)))
	return append(out, part...)
}

// Get decodes the JSON record at key into v. It returns a NotExist error when
// there is none.
func (s *Store) Get(key []byte, v any) error { return get(s.db, key, v) }

func get(r pebbleReader, key []byte, v any) error {
	const op errors.Op = "store.Get"
	val, closer, err := r.Get(key)
	if err == pebble.ErrNotFound {
		return errors.E(op, errors.NotExist, missing(bytes.Clone(key)))
	}
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	defer closer.Close()
	if err := json.Unmarshal(val, v); err != nil {
		return errors.E(op, errors.Internal, fmt.Errorf("decode %q: %w", key, err))
	}
	return nil
}

// missing is the cause of a NotExist error from Get or GetRaw: the key,
// quoted only when the message is read. Many lookups expect a miss (a new
// instance's _id), and formatting the message each time was a quarter of
// their cost.
type missing []byte

func (k missing) Error() string { return fmt.Sprintf("no record %q", []byte(k)) }

// GetRaw returns a copy of the raw value at key, or a NotExist error.
func (s *Store) GetRaw(key []byte) ([]byte, error) { return getRaw(s.db, key) }

func getRaw(r pebbleReader, key []byte) ([]byte, error) {
	const op errors.Op = "store.GetRaw"
	val, closer, err := r.Get(key)
	if err == pebble.ErrNotFound {
		return nil, errors.E(op, errors.NotExist, missing(bytes.Clone(key)))
	}
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	defer closer.Close()
	return bytes.Clone(val), nil
}

// Has reports whether a record exists at key.
func (s *Store) Has(key []byte) (bool, error) { return has(s.db, key) }

func has(r pebbleReader, key []byte) (bool, error) {
	const op errors.Op = "store.Has"
	_, closer, err := r.Get(key)
	if err == pebble.ErrNotFound {
		return false, nil
	}
	if err != nil {
		return false, errors.E(op, errors.Internal, err)
	}
	closer.Close()
	return true, nil
}

// Scan calls fn with the key and raw value of every record whose key starts
// with prefix, in key order, until fn returns an error. The slices are only
// valid during the call.
func (s *Store) Scan(prefix []byte, fn func(key, val []byte) error) error {
	return scan(s.db, prefix, prefixEnd(prefix), fn)
}

// ScanRange is Scan over the keys k with lower <= k < upper; a nil upper
// means no upper bound.
func (s *Store) ScanRange(lower, upper []byte, fn func(key, val []byte) error) error {
	return scan(s.db, lower, upper, fn)
}

// AnyInRange reports whether some key k has lower <= k < upper, reading no
// value.
func (s *Store) AnyInRange(lower, upper []byte) (bool, error) {
	const op errors.Op = "store.AnyInRange"
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return false, errors.E(op, errors.Internal, err)
	}
	defer it.Close()
	found := it.First()
	if err := it.Error(); err != nil {
		return false, errors.E(op, errors.Internal, err)
	}
	return found, nil
}

// ScanRangeReverse is ScanRange in descending key order.
func (s *Store) ScanRangeReverse(lower, upper []byte, fn func(key, val []byte) error) error {
	return scanDir(s.db, lower, upper, true, fn)
}

func scan(r pebbleReader, lower, upper []byte, fn func(key, val []byte) error) error {
	return scanDir(r, lower, upper, false, fn)
}

func scanDir(r pebbleReader, lower, upper []byte, reverse bool, fn func(key, val []byte) error) error {
	const op errors.Op = "store.Scan"
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	defer it.Close()
	first, next := it.First, it.Next
	if reverse {
		first, next = it.Last, it.Prev
	}
	for first(); it.Valid(); next() {
		val, err := it.ValueAndErr()
		if err != nil {
			return errors.E(op, errors.Internal, err)
		}
		if err := fn(it.Key(), val); err != nil {
			return err
		}
	}
	return it.Error()
}

// ScanJSON is Scan that decodes each value into a fresh T.
func ScanJSON[T any](s Reader, prefix []byte, fn func(key []byte, v *T) error) error {
	const op errors.Op = "store.ScanJSON"
	return s.Scan(prefix, func(key, val []byte) error {
		v := new(T)
		if err := json.Unmarshal(val, v); err != nil {
			return errors.E(op, errors.Internal, fmt.Errorf("decode %q: %w", key, err))
		}
		return fn(key, v)
	})
}

// Snapshot is a consistent, read-only view of the store as it was when the
// snapshot was taken. Close it when done.
type Snapshot struct {
	snap *pebble.Snapshot
}

// Snapshot takes a snapshot of the store.
func (s *Store) Snapshot() *Snapshot { return &Snapshot{snap: s.db.NewSnapshot()} }

// Close releases the snapshot.
func (s *Snapshot) Close() error { return s.snap.Close() }

// Get is Store.Get in the snapshot.
func (s *Snapshot) Get(key []byte, v any) error { return get(s.snap, key, v) }

// GetRaw is Store.GetRaw in the snapshot.
func (s *Snapshot) GetRaw(key []byte) ([]byte, error) { return getRaw(s.snap, key) }

// Has is Store.Has in the snapshot.
func (s *Snapshot) Has(key []byte) (bool, error) { return has(s.snap, key) }

// Scan is Store.Scan in the snapshot.
func (s *Snapshot) Scan(prefix []byte, fn func(key, val []byte) error) error {
	return scan(s.snap, prefix, prefixEnd(prefix), fn)
}

// ScanRange is Store.ScanRange in the snapshot.
func (s *Snapshot) ScanRange(lower, upper []byte, fn func(key, val []byte) error) error {
	return scan(s.snap, lower, upper, fn)
}

// ScanRangeReverse is Store.ScanRangeReverse in the snapshot.
func (s *Snapshot) ScanRangeReverse(lower, upper []byte, fn func(key, val []byte) error) error {
	return scanDir(s.snap, lower, upper, true, fn)
}

// PrefixEnd returns the smallest key greater than every key with prefix,
// the exclusive upper bound of a prefix scan (nil when there is none).
func PrefixEnd(prefix []byte) []byte { return prefixEnd(prefix) }

// Batch collects writes that are applied atomically and durably by Commit
// (or Apply).
type Batch struct {
	db  *pebble.DB
	b   *pebble.Batch
	err error
}

// NewBatch starts a batch of writes.
func (s *Store) NewBatch() *Batch { return &Batch{db: s.db, b: s.db.NewBatch()} }

// Put stores v as JSON at key.
func (b *Batch) Put(key []byte, v any) {
	if b.err != nil {
		return
	}
	val, err := json.Marshal(v)
	if err != nil {
		b.err = err
		return
	}
	b.err = b.b.Set(key, val, nil)
}

// PutRaw stores val as is at key. The batch takes its own copy.
func (b *Batch) PutRaw(key, val []byte) {
	if b.err == nil {
		b.err = b.b.Set(key, val, nil)
	}
}

// Delete removes the record at key.
func (b *Batch) Delete(key []byte) {
	if b.err == nil {
		b.err = b.b.Delete(key, nil)
	}
}

// DeleteRange removes every record with lower <= key < upper, including
// records put earlier in the same batch.
func (b *Batch) DeleteRange(lower, upper []byte) {
	if b.err == nil {
		b.err = b.b.DeleteRange(lower, upper, nil)
	}
}

// DeletePrefix removes every record whose key starts with prefix, including
// records put earlier in the same batch.
func (b *Batch) DeletePrefix(prefix []byte) { b.DeleteRange(prefix, prefixEnd(prefix)) }

// Apply applies the batch and makes it visible to readers at once, but
// returns before it is synced: the returned function waits until it is on
// disk (and must be called). Commits that overlap share their syncs (group
// commit), so a writer can release its locks before waiting. Nothing that
// depends on the batch being durable, such as acknowledging it, may happen
// before the wait returns.
func (b *Batch) Apply() (durable func() error, err error) {
	const op errors.Op = "store.Apply"
	if b.err != nil {
		b.b.Close()
		return nil, errors.E(op, errors.Internal, b.err)
	}
	if err := b.db.ApplyNoSyncWait(b.b, pebble.Sync); err != nil {
		b.b.Close()
		return nil, errors.E(op, errors.Internal, err)
	}
	return func() error {
		defer b.b.Close()
		if err := b.b.SyncWait(); err != nil {
			return errors.E(op, errors.Internal, err)
		}
		return nil
	}, nil
}

// ApplyNoSync applies the batch, visible at once, without syncing it: it
// becomes durable with the next synced commit (commits reach the disk in
// order). It is only for writes that can be made again after a crash,
// from state that was itself committed durably.
func (b *Batch) ApplyNoSync() error {
	const op errors.Op = "store.ApplyNoSync"
	defer b.b.Close()
	if b.err != nil {
		return errors.E(op, errors.Internal, b.err)
	}
	if err := b.b.Commit(pebble.NoSync); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return nil
}

// Commit applies the batch and syncs it to disk before returning, so a
// committed batch survives a crash and a failed one leaves nothing behind.
func (b *Batch) Commit() error {
	const op errors.Op = "store.Commit"
	defer b.b.Close()
	if b.err != nil {
		return errors.E(op, errors.Internal, b.err)
	}
	if err := b.b.Commit(pebble.Sync); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return nil
}

// prefixEnd returns the smallest key greater than every key with prefix.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// pebbleLogger adapts slog to pebble's logger, keeping only errors.
type pebbleLogger struct{ log *slog.Logger }

func (pebbleLogger) Infof(string, ...any) {}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble", "msg", fmt.Sprintf(format, args...))
}
func (pebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// Sync makes every batch applied so far durable, those applied with
// ApplyNoSync included (commits reach the disk in order): for a caller
// about to hand on, to another peer, state that was applied unsynced.
func (s *Store) Sync() error {
	const op errors.Op = "store.Sync"
	return s.WhileOpen(func() error {
		if err := s.db.LogData(nil, pebble.Sync); err != nil {
			return errors.E(op, errors.Internal, err)
		}
		return nil
	})
}
