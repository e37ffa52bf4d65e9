package buckets

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// InstanceSchema is the JSON Schema of the buckets collection: a Bucket as
// this service writes it. The hub gives it to every buckets collection it
// makes, and to those it made before it did (SchemaCollections), for two
// reasons. Clients read it: @textile/threads-client's getCollectionInfo
// parses the schema as JSON and throws, outside its promise, on an empty
// one. And ThreadDB checks every write against it, so an instance written
// through the threads API that this service could not read back (a path
// that is not a string, roles that are not numbers, a missing field) is
// refused as InvalidArgument and the stored instance stays as it was.
//
// Fields the service does not know are allowed, as are the roles of a path
// being null (a path with a key and no roles). The hub's own record of
// the bucket (record.go) stays the truth for its root, whatever path an
// instance holds.
const InstanceSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Bucket",
  "description": "A bucket: its key, name, owner and root, and the roles and keys of its paths. Written by the hub's bucket API.",
  "type": "object",
  "required": ["_id", "name", "owner", "version", "path", "metadata", "created_at", "updated_at"],
  "properties": {
    "_id": {"type": "string", "description": "The bucket key: its IPNS name, a libp2p-key CIDv1 in base36."},
    "name": {"type": "string", "maxLength": 1024},
    "owner": {"type": "string", "description": "Public-key string of the identity that made the bucket."},
    "version": {"type": "integer", "minimum": 0},
    "key": {"type": "string", "description": "Private buckets only: the key of the bucket's root."},
    "path": {"type": "string", "pattern": "^/ipfs/[A-Za-z0-9]+$", "description": "The bucket's root: /ipfs/<CID>."},
    "metadata": {
      "type": "object",
      "description": "Per path from the bucket's root (\"\" is the root): the roles of identities there (None 0, Reader 1, Writer 2, Admin 3; \"*\" is every identity of the account) and, in private buckets, the path's key.",
      "additionalProperties": {
        "type": "object",
        "required": ["roles", "updated_at"],
        "properties": {
          "key": {"type": "string"},
          "roles": {
            "type": ["object", "null"],
            "additionalProperties": {"type": "integer", "enum": [0, 1, 2, 3]}
          },
          "updated_at": {"type": "integer", "description": "Unix nanoseconds."}
        }
      }
    },
    "created_at": {"type": "integer", "description": "Unix nanoseconds."},
    "updated_at": {"type": "integer", "description": "Unix nanoseconds."}
  }
}`

// collectionConfig is the buckets collection as this service makes it.
func collectionConfig() db.CollectionConfig {
	return db.CollectionConfig{Name: Collection, Schema: []byte(InstanceSchema)}
}

// SchemaCollections is the store's migration to
// store.FormatBucketSchemas: it gives InstanceSchema to every buckets
// collection without a schema, as hubs made them before they set one, and
// returns how many it changed. It runs before any service, over the DB
// manager. The rest of each collection's config (indexes, the owner's
// validator and filter, which are compiled but not run) is kept, and so
// is a schema the DB's owner set. Each change is written as the DB's
// owner, who made the collection, and commits alone, so a run stopped at
// any point leaves the next one only the collections still without a
// schema. A DB that cannot be changed is logged and skipped: it stops
// neither the others nor the hub.
func SchemaCollections(ctx context.Context, dbs *db.Manager, log *slog.Logger) (int, error) {
	const op errors.Op = "buckets.SchemaCollections"
	n := 0
	err := dbs.EachDB(ctx, func(id threads.ID) error {
		// Read as stored first, so that only the DBs to change are opened.
		cfg, err := dbs.StoredCollection(ctx, id, Collection)
		switch {
		case errors.Is(errors.NotExist, err):
			return nil
		case err != nil:
			return err
		case len(bytes.TrimSpace(cfg.Schema)) > 0:
			return nil
		}
		owner, err := dbs.Owner(ctx, id)
		if err != nil {
			return err
		}
		d, err := dbs.DB(ctx, owner, id)
		if err != nil {
			return err
		}
		cfg.Schema = []byte(InstanceSchema)
		if err := d.UpdateCollection(ctx, owner, cfg); err != nil {
			return err
		}
		n++
		return nil
	}, func(id threads.ID, err error) {
		log.Warn("a buckets collection could not be given its schema", "db", id, "err", err)
	})
	if err != nil {
		return n, errors.E(op, err)
	}
	return n, nil
}
