package daemon

import (
	"context"
	"log/slog"

	bstore "github.com/ipfs/boxo/blockstore"

	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/logstore"
)

// migrations is the one list of the store's migrations, one per format
// version (store.FormatVersion), in order: each brings a store that an
// older hubd wrote one version forward. Start runs the ones a store lacks
// right after opening it, before any service reads or writes it. A
// migration is a function of the package that owns the keys it changes,
// over the parts it needs (built, not started).
func migrations(st *store.Store, dbs *db.Manager, blocks bstore.Blockstore, log *slog.Logger) []store.Migration {
	return []store.Migration{
		{To: store.FormatBlocksByCID, Run: func(context.Context) error {
			n, err := logstore.MoveBlocksByCID(st)
			if n > 0 {
				log.Info("keyed the thread blocks by CID", "blocks", n)
			}
			return err
		}},
		{To: store.FormatBucketRecords, Run: func(ctx context.Context) error {
			n, err := buckets.RecordBuckets(ctx, st, dbs, blocks, log)
			if n > 0 {
				log.Info("recorded the buckets of a store from before the hub kept its own records", "buckets", n)
			}
			return err
		}},
		{To: store.FormatBucketSchemas, Run: func(ctx context.Context) error {
			n, err := buckets.SchemaCollections(ctx, dbs, log)
			if n > 0 {
				log.Info("gave the buckets collections made before hubd set a schema theirs", "collections", n)
			}
			return err
		}},
		{To: store.FormatTrueSizes, Run: func(context.Context) error { return nil }},
	}
}
