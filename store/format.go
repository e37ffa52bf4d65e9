package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"time"

	"github.com/selfhub/hub/errors"
)

// FormatVersion is the version of the layout of a store's keys: which
// prefixes (prefixes.go) hold what. A hub that changes the layout adds a
// version and the migration that brings a store of the version before it
// forward; hubd runs the migrations a store lacks when it opens it, before
// any service reads or writes (Migrate), as pebble runs its format major
// version upgrades. Versions only grow: a store a newer hub has moved
// past what this one knows is refused (Open), never misread.
type FormatVersion uint64

// The versions, oldest first. Each one's comment says what a store of
// that version holds that the one before did not.
const (
	// FormatUnversioned is a store that records no version: one written
	// before versions were kept, or a new, empty one.
	FormatUnversioned FormatVersion = iota
	// FormatBlocksByCID keys every thread block by its CID first
	// (ThreadBlocks), none by its thread first (LegacyThreadBlocks):
	// logstore.MoveBlocksByCID.
	FormatBlocksByCID
	// FormatBucketRecords gives every bucket the hub's own record
	// (BucketRecords) and leaves no LegacyBucketDBs key:
	// buckets.RecordBuckets.
	FormatBucketRecords
	// FormatBucketSchemas gives every buckets collection without a schema
	// the schema of bucket instances: buckets.SchemaCollections.
	FormatBucketSchemas
	// FormatTrueSizes keeps, under BucketSizes, the real DAG size of
	// bucket nodes whose links under-report it; a hub of this version
	// charges quota from that table, so an older one, which would trust
	// the recorded sizes again, must not open the store. Stores of earlier
	// versions hold no such nodes: nothing moves.
	FormatTrueSizes

	// FormatNewest is the version this build writes and the newest it
	// opens.
	FormatNewest = FormatTrueSizes
)

// String names a version as the log and errors show it.
func (v FormatVersion) String() string {
	switch v {
	case FormatUnversioned:
		return "0 (unversioned)"
	case FormatBlocksByCID:
		return "1 (blocks by CID)"
	case FormatBucketRecords:
		return "2 (bucket records)"
	case FormatBucketSchemas:
		return "3 (bucket schemas)"
	case FormatTrueSizes:
		return "4 (true sizes)"
	}
	return fmt.Sprintf("%d (unknown)", uint64(v))
}

// formatKey holds the store's FormatVersion as 8 bytes, big-endian.
var formatKey = Key(Meta, "format")

// Format returns the store's version.
func (s *Store) Format() (FormatVersion, error) {
	const op errors.Op = "store.Format"
	raw, err := s.GetRaw(formatKey)
	switch {
	case errors.Is(errors.NotExist, err):
		return FormatUnversioned, nil
	case err != nil:
		return 0, err
	case len(raw) != 8:
		return 0, errors.Errorf(op, errors.Internal, "the format version is %d bytes; want 8", len(raw))
	}
	return FormatVersion(binary.BigEndian.Uint64(raw)), nil
}

// checkFormat refuses a store whose version is newer than this build's.
func (s *Store) checkFormat(dir string) error {
	const op errors.Op = "store.Open"
	v, err := s.Format()
	if err != nil {
		return err
	}
	if v > FormatNewest {
		return errors.Errorf(op, errors.FailedPrecondition,
			"the store in %s has format version %s, newer than this build knows (up to %s): a newer hubd wrote it; run that hubd or a newer one",
			dir, v, FormatNewest)
	}
	return nil
}

// A Migration brings a store from version To-1 to version To. Run must
// be safe to run again after it was stopped at any point (a crash, an
// error): it commits its work in batches that each leave the store
// readable by the next run, since the version moves to To only after Run
// returns. It runs before any service uses the store, alone.
type Migration struct {
	To  FormatVersion
	Run func(ctx context.Context) error
}

// Migrate runs, in order, the migrations to every version the store has
// not reached, moving its version after each. migrations must hold one
// migration per version from FormatUnversioned+1 to FormatNewest, in
// order: the one list of them is explicit, and one missing is a bug that
// is refused before anything runs. A new store, one that holds no key at
// all, has nothing to migrate: it starts at FormatNewest and runs none.
func (s *Store) Migrate(ctx context.Context, migrations []Migration, log *slog.Logger) error {
	const op errors.Op = "store.Migrate"
	if len(migrations) != int(FormatNewest) {
		return errors.Errorf(op, errors.Internal, "%d migrations for %d versions", len(migrations), FormatNewest)
	}
	for i, m := range migrations {
		if m.To != FormatVersion(i+1) || m.Run == nil {
			return errors.Errorf(op, errors.Internal, "migration %d is to version %s; want %s, with a Run", i, m.To, FormatVersion(i+1))
		}
	}
	from, err := s.Format()
	if err != nil {
		return errors.E(op, err)
	}
	if from == FormatUnversioned {
		used, err := s.AnyInRange(nil, nil)
		if err != nil {
			return errors.E(op, err)
		}
		if !used {
			if err := s.setFormat(FormatNewest); err != nil {
				return errors.E(op, err)
			}
			log.Debug("new store", "format", FormatNewest.String())
			return nil
		}
	}
	for _, m := range migrations[min(int(from), len(migrations)):] {
		start := time.Now()
		if err := m.Run(ctx); err != nil {
			return errors.E(op, fmt.Errorf("to format version %s: %w", m.To, err))
		}
		if err := s.setFormat(m.To); err != nil {
			return errors.E(op, err)
		}
		log.Info("store migrated", "to", m.To.String(), "took", time.Since(start))
	}
	return nil
}

// setFormat records v as the store's version, synced.
func (s *Store) setFormat(v FormatVersion) error {
	b := s.NewBatch()
	b.PutRaw(formatKey, binary.BigEndian.AppendUint64(nil, uint64(v)))
	return b.Commit()
}
