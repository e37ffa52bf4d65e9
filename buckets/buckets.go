// Package buckets is Hub's bucket service: S3-like storage whose contents
// are UnixFS DAGs in the hub's blockstore, and whose state (name, owner,
// root) is an instance in the "buckets" collection of a ThreadDB DB, so
// buckets replicate like any thread. Beside each instance the hub keeps a
// record of its own (record.go), which no tenant can write: the truth for
// the bucket's root, size and the account it is charged to. Hub-wide work
// (garbage collection, usage, quotas, IPNS re-signing, the gateway) reads
// only those records and never runs a tenant's read filter or validator.
//
// A bucket's root changes only by swapping the instance's path from one
// complete DAG to another: every block of the new DAG is stored (and synced)
// before the instance is written, so a crash at any point leaves the bucket
// at its previous root with nothing half-visible. Changes to one bucket are
// serialized; changes that name a root (pushes, removes) are fast-forward
// only.
//
// Path access roles (access.go) let other identities of the same account
// read and write parts of a bucket; the owner is Admin everywhere. The role
// key "*" is every identity of that account, never another account's; the
// gateway's private reads (GatewayPrivate) pass the same check as the API,
// so a role means the same at both. A Batch (batch.go) pushes many files
// in one change of the root.
//
// Private buckets (private.go) hold only ciphertext: the hub encrypts file
// contents and entry names with keys that never leave it. Garbage
// collection (gc.go) deletes the blocks no root reaches; quotas and usage
// are in usage.go; CAR imports in car.go; IPNS publishing in publish.go.
// The operations: Create and Remove in lifecycle.go, List and Get in
// get.go, the file operations (push, pull, set, move, remove) in files.go,
// listings in items.go, links in links.go; root.go says how a root moves.
// See the Service methods for what each operation refuses and with which
// kind. ListIPFSPath and
// PullIPFSPath read any DAG this hub stores to any authenticated caller, as
// on any IPFS node, so roles limit what an identity reaches through a
// bucket, not which CIDs it may read; for private buckets those calls
// return ciphertext and encrypted names only.
package buckets

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	hubblocks "github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// Names on the wire and in ThreadDB.
const (
	// Collection is the ThreadDB collection that holds bucket instances.
	Collection = "buckets"
	// SeedName is the file every new bucket gets at its root: random bytes
	// that make each bucket's root unique (as the original did).
	SeedName = ".textileseed"
	// Version is the bucket instance version this hub writes.
	Version = 1
	// MaxBucketNameLen is the longest bucket name, in bytes.
	MaxBucketNameLen = 1024
	// DefaultQuota is the bucket storage quota of one account that hubd
	// applies unless told otherwise: enough for real apps, finite so that
	// no tenant fills the disk by default.
	DefaultQuota = 10 << 30
)

// Role is a role on a path (hub.PathRole); the values are the wire values.
type Role = hub.PathRole

// Roles.
const (
	RoleNone   = hub.PathNone
	RoleReader = hub.PathReader
	RoleWriter = hub.PathWriter
	RoleAdmin  = hub.PathAdmin
)

// Metadata is what a bucket records about one path.
type Metadata struct {
	Key       string          `json:"key,omitempty"`
	Roles     map[string]Role `json:"roles"`
	UpdatedAt int64           `json:"updated_at"`
}

// Bucket is a bucket instance, as stored in the buckets collection. The
// JSON names are the ones the original hub used, so JS clients that read
// the collection directly see what they expect.
type Bucket struct {
	Key       string              `json:"_id"` // IPNS name: libp2p-key CIDv1 in base36
	Name      string              `json:"name"`
	Owner     string              `json:"owner"`
	Version   int                 `json:"version"`
	LinkKey   string              `json:"key,omitempty"` // private buckets only
	Path      string              `json:"path"`          // /ipfs/<root>
	Metadata  map[string]Metadata `json:"metadata"`
	CreatedAt int64               `json:"created_at"` // Unix ns
	UpdatedAt int64               `json:"updated_at"` // Unix ns
	// Thread is the DB that holds the bucket; not stored in the instance.
	Thread threads.ID `json:"-"`
	// rec is the hub's record of the bucket (record.go), whose root Path
	// repeats.
	rec record
}

// Root returns the CID of the bucket's root directory.
func (b Bucket) Root() (cid.Cid, error) { return parseRoot(b.Path) }

// Config configures the service.
type Config struct {
	// GatewayURL is the base URL of the hub's HTTP gateway, for links.
	GatewayURL string
	// WWWDomain is the domain under which bucket websites are served
	// (<key>.<domain>); empty for none.
	WWWDomain string
	// Quota is the most bytes the buckets charged to one account may hold
	// (see usage.go); 0 for no limit.
	Quota int64
	// Profile is the UnixFS import profile (ParseProfile); the zero value
	// means DefaultProfile.
	Profile uio.UnixFSProfile
	// DirCacheSize is the most bytes of decoded directory nodes the
	// service keeps (dircache.go); 0 means DefaultDirCacheSize, < 0 none.
	DirCacheSize int64
	// Log receives what fails after a change committed (see afterCommit);
	// nil for none.
	Log *slog.Logger
	// Publisher is told of every change of a bucket's root (publish.go);
	// nil for none.
	Publisher Publisher
	// GCHoldTimeout is how long a collection cycle waits for operations
	// that began before it (gc.go); 0 means DefaultGCHoldTimeout.
	GCHoldTimeout time.Duration
	// IssueLink signs the read-only capability that the links of a
	// private bucket carry (auth.Service.IssueLink), for the path of the
	// bucket key in the DB thread, acting for p; nil adds none, so the
	// gateway refuses such links.
	IssueLink func(ctx context.Context, p hub.Principal, thread, key, path string) (string, error)
}

// Service is the bucket service. It is safe for concurrent use.
type Service struct {
	cfg    Config
	dbs    *db.Manager
	st     *store.Store
	blocks *hubblocks.GC   // the hub's blockstore, with its collector (gc.go)
	dag    ipld.DAGService // over dirs, importing with cfg.Profile
	dirs   *dirCache       // decoded directories over blocks (dircache.go)
	sizes  *sizeTable      // true sizes of DAGs whose links record others (truesize.go)
	usage  usage
	now    func() time.Time

	// mu guards locks.
	mu    sync.Mutex
	locks map[string]*bucketLock // by thread/key
	// setupMu serializes creating the buckets collection in a DB.
	setupMu sync.Mutex
}

type bucketLock struct {
	mu   sync.Mutex
	refs int // guarded by Service.mu
}

// New returns the service. Bucket contents go to blocks, which the
// service garbage-collects (gc.go); IPNS keys to st.
func New(cfg Config, dbs *db.Manager, st *store.Store, blocks *hubblocks.GC) *Service {
	profile := cfg.Profile
	if profile == (uio.UnixFSProfile{}) {
		profile, _ = ParseProfile(DefaultProfile)
	}
	size := cfg.DirCacheSize
	if size == 0 {
		size = DefaultDirCacheSize
	}
	dirs := newDirCache(hubblocks.NewDAGService(blocks), blocks.Has, size)
	return &Service{cfg: cfg, dbs: dbs, st: st, blocks: blocks, dag: profiledDAG{dirs, profile}, dirs: dirs, sizes: &sizeTable{st: st}, now: time.Now, locks: map[string]*bucketLock{}}
}

// flush makes every block stored so far durable.
func (s *Service) flush(ctx context.Context, op errors.Op) error {
	if err := s.blocks.Flush(ctx); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return nil
}

// lock serializes changes to one bucket; call the returned function to
// unlock.
func (s *Service) lock(thread threads.ID, key string) func() {
	k := thread.String() + "/" + key
	s.mu.Lock()
	l := s.locks[k]
	if l == nil {
		l = &bucketLock{}
		s.locks[k] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, k)
		}
		s.mu.Unlock()
	}
}

// parseRoot parses "/ipfs/<cid>" or a bare CID.
func parseRoot(p string) (cid.Cid, error) {
	const op errors.Op = "buckets.parseRoot"
	c, err := cid.Decode(strings.TrimPrefix(p, "/ipfs/"))
	if err != nil {
		return cid.Undef, errors.Errorf(op, errors.Invalid, "root %q is not /ipfs/<cid> or a CID", errors.Clip(p))
	}
	return c, nil
}

// bucketsDB returns the caller's DB with the given ID.
func (s *Service) bucketsDB(ctx context.Context, p hub.Principal, thread threads.ID) (*db.DB, error) {
	if thread == "" {
		return nil, errors.E(errors.Invalid, "no thread: name the DB that holds the buckets in the x-textile-thread header")
	}
	return s.dbs.DB(ctx, p, thread)
}
