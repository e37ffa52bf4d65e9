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
// See the Service methods for what each operation refuses and with which
// kind. ListIPFSPath and
// PullIPFSPath read any DAG this hub stores to any authenticated caller, as
// on any IPFS node, so roles limit what an identity reaches through a
// bucket, not which CIDs it may read; for private buckets those calls
// return ciphertext and encrypted names only.
package buckets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mbase "github.com/multiformats/go-multibase"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	hubblocks "github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/internal/store"
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

// Item describes a file or directory in a bucket.
type Item struct {
	Cid        cid.Cid
	Name       string
	Path       string // from the bucket's root, without a leading slash
	Size       int64  // file size; for directories the DAG's cumulative size
	IsDir      bool
	Items      []Item // a directory's entries, one level deep
	ItemsCount int
}

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
	dag    ipld.DAGService // over blocks, importing with cfg.Profile
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
	dag := profiledDAG{hubblocks.NewDAGService(blocks), profile}
	return &Service{cfg: cfg, dbs: dbs, st: st, blocks: blocks, dag: dag, now: time.Now, locks: map[string]*bucketLock{}}
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

// ipnsKeyKey is where the private key behind a bucket's IPNS name is kept;
// publish.go signs the name's records with it.
func ipnsKeyKey(key string) []byte { return store.Key(store.BucketKeys, key) }

// NewKey makes a fresh Ed25519 key and returns it with its IPNS name: the
// peer ID as a CIDv1 with the libp2p-key codec, in base36.
func NewKey() (crypto.PrivKey, string, error) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, "", err
	}
	name, err := peer.ToCid(id).StringOfBase(mbase.Base36)
	if err != nil {
		return nil, "", err
	}
	return sk, name, nil
}

// CheckKey reports whether key has the form of a bucket key.
func CheckKey(key string) error {
	const op errors.Op = "buckets.CheckKey"
	if key == "" {
		return errors.E(op, errors.Invalid, "bucket key is empty; give the key that Create or List returned")
	}
	c, err := cid.Decode(key)
	if err != nil || c.Type() != cid.Libp2pKey {
		return errors.Errorf(op, errors.Invalid, "%q is not a bucket key (an IPNS name such as k51…); give the key that Create or List returned", errors.Clip(key))
	}
	return nil
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

// ensureCollection creates the buckets collection in d, with its schema,
// if d lacks one.
func (s *Service) ensureCollection(ctx context.Context, p hub.Principal, d *db.DB) error {
	if _, err := d.CollectionInfo(ctx, Collection); err == nil {
		return nil
	} else if !errors.Is(errors.NotExist, err) {
		return err
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if _, err := d.CollectionInfo(ctx, Collection); err == nil {
		return nil
	}
	err := d.NewCollection(ctx, p, collectionConfig())
	if errors.Is(errors.Exist, err) {
		return nil
	}
	return err
}

// Create makes a bucket named name in the DB thread, with a seed file at
// its root, on top of the directory bootstrap if that is defined (it must
// already be in this hub's blockstore). A private bucket gets a fresh
// bucket key, and a bootstrap directory is encrypted under it.
// It returns the bucket and the seed file's CID.
func (s *Service) Create(ctx context.Context, p hub.Principal, thread threads.ID, name string, private bool, bootstrap cid.Cid) (Bucket, cid.Cid, error) {
	const op errors.Op = "buckets.Create"
	switch {
	case strings.TrimSpace(name) == "":
		return Bucket{}, cid.Undef, errors.E(op, errors.Invalid, "bucket name is empty; give the bucket a name")
	case len(name) > MaxBucketNameLen:
		return Bucket{}, cid.Undef, errors.Errorf(op, errors.Invalid, "bucket name is %d bytes; the limit is %d", len(name), MaxBucketNameLen)
	}
	d, err := s.bucketsDB(ctx, p, thread)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	if err := s.ensureCollection(ctx, p, d); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	var root ipld.Node
	if bootstrap.Defined() {
		if root, err = s.stored(ctx, op, bootstrap); err != nil {
			return Bucket{}, cid.Undef, err
		}
		if !isDir(root) {
			return Bucket{}, cid.Undef, errors.Errorf(op, errors.Invalid, "CID %s is not a UnixFS directory; bootstrap a bucket from a directory", bootstrap)
		}
	} else if root, err = emptyDir(ctx, s.dag); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, errors.Internal, err)
	}
	var linkKey string
	if private {
		if linkKey, err = newPathKey(); err != nil {
			return Bucket{}, cid.Undef, errors.E(op, err)
		}
	}
	keys := keysOf(Bucket{LinkKey: linkKey})
	if keys != nil && bootstrap.Defined() {
		if root, err = transcrypt(ctx, s.dag, root, nil, nil, keys, nil); err != nil {
			return Bucket{}, cid.Undef, errors.E(op, err)
		}
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	sealed, err := keys.sealFile([]string{SeedName}, bytes.NewReader(seed))
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	seedNode, err := Import(ctx, s.dag, sealed)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	seedLink, err := keys.sealName(nil, SeedName)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	if root, err = put(ctx, s.dag, root, []string{seedLink}, seedNode); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	sk, key, err := NewKey()
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, errors.Internal, err)
	}
	raw, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, errors.Internal, err)
	}
	now := s.now().UnixNano()
	size, err := nodeSize(root)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	// Charged to the account, not the identity: an app's users share
	// their app's quota, so fresh identities do not bring fresh quotas.
	rec := record{Thread: thread.String(), Account: p.Account, Root: root.Cid().String(), Size: size, Private: private, Updated: now}
	bkt := Bucket{
		Key: key, Name: name, Owner: string(p.Owner()), Version: Version, LinkKey: linkKey,
		Path: "/ipfs/" + root.Cid().String(),
		Metadata: map[string]Metadata{
			"": {Roles: map[string]Role{string(p.Owner()): RoleAdmin}, UpdatedAt: now},
		},
		CreatedAt: now, UpdatedAt: now, Thread: thread, rec: rec,
	}
	reserved, err := s.reserve(ctx, op, rec.Account, size)
	if err != nil {
		return Bucket{}, cid.Undef, err
	}
	created := false
	defer func() { reserved(created) }()
	if err := s.flush(ctx, op); err != nil {
		return Bucket{}, cid.Undef, err
	}
	txn, err := d.WriteTxn(ctx, p, Collection)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	defer txn.Discard()
	doc, err := json.Marshal(bkt)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, errors.Internal, err)
	}
	if _, err := txn.Create(ctx, [][]byte{doc}); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	err = txn.Also(func(b *store.Batch) {
		b.PutRaw(ipnsKeyKey(key), raw)
		rec.put(key)(b)
	})
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	if err := txn.Commit(ctx); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	created = true
	return bkt, seedNode.Cid(), s.afterCommit(op, s.published(ctx, op, bkt))
}

// List returns the buckets in the DB thread.
func (s *Service) List(ctx context.Context, p hub.Principal, thread threads.ID) ([]Bucket, error) {
	const op errors.Op = "buckets.List"
	r, err := s.reachDB(ctx, p, thread)
	if err != nil {
		return nil, errors.E(op, err)
	}
	txn, err := r.d.ReadTxn(ctx, r.as, Collection)
	if errors.Is(errors.NotExist, err) {
		return nil, nil // no bucket was ever made here
	}
	if err != nil {
		return nil, errors.E(op, err)
	}
	defer txn.Discard()
	all, err := s.findBuckets(ctx, txn, thread)
	if err != nil {
		return nil, errors.E(op, err)
	}
	out := all[:0]
	for _, b := range all {
		if r.authorizeAny(op, b) == nil { // else another identity's bucket in which the caller has no role
			out = append(out, b)
		}
	}
	return out, nil
}

// Get returns the bucket with the given key (NotExist if there is none).
// A caller other than the owner needs a role somewhere in the bucket.
func (s *Service) Get(ctx context.Context, p hub.Principal, thread threads.ID, key string) (Bucket, error) {
	const op errors.Op = "buckets.Get"
	_, b, err := s.open(ctx, op, p, thread, key, nil, anyRoleNeeded)
	return b, err
}

func notFound(key string, err error) error {
	if errors.Is(errors.NotExist, err) {
		return errors.Errorf("", errors.NotExist, "bucket %s not found in this thread", errors.Clip(key))
	}
	return err
}

// decodeBucket reads the bucket key from txn, a transaction on DB
// thread's buckets collection, at the root the hub recorded (record.go).
func (s *Service) decodeBucket(op errors.Op, txn *db.Txn, key string, thread threads.ID) (Bucket, error) {
	rec, err := s.homeRecord(thread, key)
	if err != nil {
		return Bucket{}, errors.E(op, notFound(key, err))
	}
	raw, err := txn.FindByID(context.Background(), key)
	if err != nil {
		return Bucket{}, errors.E(op, notFound(key, err))
	}
	return s.asRecorded(op, raw, thread, rec)
}

// asRecorded decodes the instance raw of a bucket in DB thread and sets
// what the hub recorded over what the instance says.
func (s *Service) asRecorded(op errors.Op, raw []byte, thread threads.ID, rec record) (Bucket, error) {
	var b Bucket
	if err := json.Unmarshal(raw, &b); err != nil {
		return Bucket{}, errors.Errorf(op, errors.FailedPrecondition, "the instance of this bucket is not a bucket (it was changed through the threads API): %v", err)
	}
	b.Thread, b.rec, b.Path = thread, rec, "/ipfs/"+rec.Root
	if b.Metadata == nil { // written without it before the schema: write it back whole
		b.Metadata = map[string]Metadata{}
	}
	return b, nil
}

// homeRecord returns the record of bucket key if the bucket was made in
// DB thread, NotExist otherwise. An instance in another DB is not the
// bucket: anyone may write any instance into their own DB through the
// threads API, and such a copy must not reach the bucket's IPNS key or
// its record.
func (s *Service) homeRecord(thread threads.ID, key string) (record, error) {
	rec, err := s.recordOf(key)
	if err == nil && rec.Thread != thread.String() {
		err = errors.E(errors.NotExist)
	}
	return rec, err
}

// Links are the addresses at which a bucket can be read.
type Links struct {
	URL  string // <gateway>/thread/<db>/buckets/<key>[/<path>]
	WWW  string // <scheme>://<key>.<www domain>, empty without a domain
	IPNS string // <gateway>/ipns/<key>
	// Path is the cleaned path the links were asked for ("" for the root).
	Path string
	// Private says the bucket is private: the gateway serves these links
	// only with a link capability added (?token=), which reads only under
	// Path; so all three links name Path, not just URL.
	Private bool
}

// Links returns the bucket's links.
func (s *Service) Links(ctx context.Context, p hub.Principal, thread threads.ID, key, path string) (Links, error) {
	const op errors.Op = "buckets.Links"
	segs, err := CleanPath(path)
	if err != nil {
		return Links{}, errors.E(op, err)
	}
	b, err := s.Get(ctx, p, thread, key)
	if err != nil {
		return Links{}, errors.E(op, err)
	}
	gw := strings.TrimRight(s.cfg.GatewayURL, "/")
	l := Links{URL: fmt.Sprintf("%s/thread/%s/buckets/%s", gw, thread, key), IPNS: gw + "/ipns/" + key, Path: join(segs), Private: b.IsPrivate()}
	if s.cfg.WWWDomain != "" {
		scheme := "https"
		if strings.HasPrefix(gw, "http://") {
			scheme = "http"
		}
		l.WWW = fmt.Sprintf("%s://%s.%s", scheme, key, s.cfg.WWWDomain)
	}
	if len(segs) > 0 {
		l.URL += "/" + l.Path
		if l.Private {
			l.IPNS += "/" + l.Path
			if l.WWW != "" {
				l.WWW += "/" + l.Path
			}
		}
	}
	return l, nil
}

// ListPath describes the file or directory at path in the bucket, with a
// directory's entries one level deep.
func (s *Service) ListPath(ctx context.Context, p hub.Principal, thread threads.ID, key, path string) (Item, Bucket, error) {
	const op errors.Op = "buckets.ListPath"
	segs, err := CleanPath(path)
	if err != nil {
		return Item{}, Bucket{}, errors.E(op, err)
	}
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleReader)
	if err != nil {
		return Item{}, Bucket{}, err
	}
	root, err := b.Root()
	if err != nil {
		return Item{}, Bucket{}, errors.E(op, errors.Internal, err)
	}
	keys := keysOf(b)
	nd, err := s.find(ctx, keys, root, segs)
	if err != nil {
		return Item{}, Bucket{}, errors.E(op, err)
	}
	it, err := s.item(ctx, keys, nd, segs, true)
	if err != nil {
		return Item{}, Bucket{}, errors.E(op, err)
	}
	return it, b, nil
}

// ListIPFSPath is ListPath for any UnixFS path /ipfs/<cid>[/path] in this
// hub's blockstore.
func (s *Service) ListIPFSPath(ctx context.Context, ipfsPath string) (Item, error) {
	const op errors.Op = "buckets.ListIPFSPath"
	root, segs, err := s.parseIPFSPath(ipfsPath)
	if err != nil {
		return Item{}, errors.E(op, err)
	}
	nd, err := resolve(ctx, s.dag, root, segs)
	if err != nil {
		return Item{}, errors.E(op, err)
	}
	return s.item(ctx, nil, nd, segs, true)
}

func (s *Service) parseIPFSPath(p string) (cid.Cid, []string, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(p, "/"), "ipfs/")
	c, rest, _ := strings.Cut(t, "/")
	root, err := cid.Decode(c)
	if err != nil {
		return cid.Undef, nil, errors.Errorf("", errors.Invalid, "%q is not /ipfs/<cid>[/path]", errors.Clip(p))
	}
	segs, err := CleanPath(rest)
	if err != nil {
		return cid.Undef, nil, err
	}
	if _, err := s.dag.Get(context.Background(), root); ipld.IsNotFound(err) {
		return cid.Undef, nil, errors.Errorf("", errors.NotExist, "CID %s is not in this hub (fetching from the IPFS network comes in a later increment)", root)
	}
	return root, segs, nil
}

// item describes nd, at the path segs; keys opens the names and sizes of a
// private bucket (nil: they are shown as stored).
func (s *Service) item(ctx context.Context, keys *keyring, nd ipld.Node, segs []string, expand bool) (Item, error) {
	const op errors.Op = "buckets.item"
	it := Item{Cid: nd.Cid(), Path: join(segs)}
	if len(segs) > 0 {
		it.Name = segs[len(segs)-1]
	}
	if !isDir(nd) {
		size, err := fileSize(nd)
		if err != nil {
			return Item{}, err
		}
		if it.Size, err = keys.plainSize(size); err != nil {
			return Item{}, err
		}
		return it, nil
	}
	it.IsDir = true
	size, err := nd.Size()
	if err != nil {
		return Item{}, errors.E(errors.Internal, err)
	}
	it.Size = int64(size)
	d, err := loadDir(op, s.dag, nd, join(segs))
	if err != nil {
		return Item{}, err
	}
	err = d.ForEachLink(ctx, func(l *ipld.Link) error {
		it.ItemsCount++
		if !expand {
			return nil
		}
		name, err := keys.openName(segs, l.Name)
		if err != nil {
			return err
		}
		child, err := l.GetNode(ctx, s.dag)
		if err != nil {
			return err
		}
		entry, err := s.item(ctx, keys, child, sub(segs, name), false)
		if err != nil {
			return err
		}
		it.Items = append(it.Items, entry)
		return nil
	})
	if err != nil {
		return Item{}, errors.E(errors.KindOf(err), err)
	}
	return it, nil
}

// checkRoot refuses a change based on a root other than the bucket's
// current one; an empty root means the caller forces the change.
func checkRoot(op errors.Op, b Bucket, root string) error {
	if root == "" {
		return nil
	}
	want, err := parseRoot(root)
	if err != nil {
		return errors.E(op, err)
	}
	cur, err := b.Root()
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if !want.Equals(cur) {
		return errors.Errorf(op, errors.FailedPrecondition,
			"bucket %s is at root %s, not %s: pull the current state first (non-fast-forward changes are refused unless forced)", b.Key, b.Path, root)
	}
	return nil
}

// update is updateKeyed for a change that knows nothing of encryption: it
// refuses private buckets, whose contents such a change would corrupt.
func (s *Service) update(ctx context.Context, op errors.Op, p hub.Principal, thread threads.ID, key, root string,
	need Role, paths [][]string, change func(cur ipld.Node) (ipld.Node, error)) (Bucket, error) {
	return s.updateKeyed(ctx, op, p, thread, key, root, need, paths, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		if b.IsPrivate() {
			return nil, errors.Errorf(op, errors.Unimplemented, "%s is not offered for private buckets, whose contents the hub encrypts; push the files with PushPath or PushPaths", op)
		}
		return change(cur)
	})
}

// updateKeyed applies change to the bucket's current root under the
// bucket's lock, checking root (see checkRoot) against the stored state,
// and writes the new root. change gets the bucket as read under the lock,
// whose keys are current. All blocks change stores are synced before the
// instance is written.
func (s *Service) updateKeyed(ctx context.Context, op errors.Op, p hub.Principal, thread threads.ID, key, root string,
	need Role, paths [][]string, change func(b Bucket, cur ipld.Node) (ipld.Node, error)) (Bucket, error) {
	r, err := s.reachDB(ctx, p, thread)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if err := CheckKey(key); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	unlock := s.lock(thread, key)
	defer unlock()
	b, err := s.getBucket(ctx, op, r, thread, key)
	if err != nil {
		return Bucket{}, err
	}
	for _, segs := range paths {
		if err := r.authorize(op, b, segs, need); err != nil {
			return Bucket{}, err
		}
	}
	if err := checkRoot(op, b, root); err != nil {
		return Bucket{}, err
	}
	cur, err := b.Root()
	if err != nil {
		return Bucket{}, errors.E(op, errors.Internal, err)
	}
	curNode, err := s.dag.Get(ctx, cur)
	if err != nil {
		return Bucket{}, errors.E(op, errors.Internal, err)
	}
	next, err := change(b, curNode)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if err := s.flush(ctx, op); err != nil {
		return Bucket{}, err
	}
	txn, err := r.d.WriteTxn(ctx, r.as, Collection)
	if err != nil {
		return Bucket{}, errors.E(op, notFound(key, err))
	}
	defer txn.Discard()
	// The instance may have changed through the threads API since Get.
	if b, err = s.decodeBucket(op, txn, key, thread); err != nil {
		return Bucket{}, err
	}
	if !mustRoot(b).Equals(cur) {
		return Bucket{}, errors.Errorf(op, errors.FailedPrecondition, "bucket %s changed while this change was made; retry", key)
	}
	b.UpdatedAt = s.now().UnixNano()
	b, grown, err := b.movedTo(next, b.UpdatedAt)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	reserved, err := s.reserve(ctx, op, b.rec.Account, grown)
	if err != nil {
		return Bucket{}, err
	}
	b, err = s.saveBucket(ctx, op, txn, b)
	reserved(err == nil)
	if err != nil {
		return Bucket{}, err
	}
	return b, s.afterCommit(op, s.published(ctx, op, b))
}

// afterCommit reports err, a failure of the bookkeeping that follows a
// committed change (its IPNS record, the usage figure), to the log and
// returns nil: the change stands, and the caller must not be told
// otherwise and retry it. The record is signed again by the next change or
// the re-signing loop; the usage is recounted by the next collection.
func (s *Service) afterCommit(op errors.Op, err error) error {
	if err != nil && s.cfg.Log != nil {
		s.cfg.Log.Warn("bucket change committed, but what follows it failed", "op", op, "err", err)
	}
	return nil
}

// movedTo returns b at the root next, changed at the time updated, and by
// how many bytes next's DAG is larger than the recorded root's.
func (b Bucket) movedTo(next ipld.Node, updated int64) (Bucket, int64, error) {
	size, err := nodeSize(next)
	if err != nil {
		return Bucket{}, 0, err
	}
	grown := size - b.rec.Size
	b.Path = "/ipfs/" + next.Cid().String()
	b.rec.Root, b.rec.Size, b.rec.Updated = next.Cid().String(), size, updated
	return b, grown, nil
}

func mustRoot(b Bucket) cid.Cid {
	c, _ := b.Root()
	return c
}

// PushResult is what a push stored.
type PushResult struct {
	Cid    cid.Cid // the file's CID
	Size   int64   // bytes read
	Bucket Bucket  // the bucket at its new root
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// PushPath stores r, read to its end, as the file at path, replacing what
// was there. root is the root the caller last saw ("/ipfs/<cid>" or a CID);
// if the bucket is elsewhere the push is refused with FailedPrecondition,
// before and after the data is read. An empty root forces the push. The
// data streams into the blockstore; only then is the bucket's root moved.
func (s *Service) PushPath(ctx context.Context, p hub.Principal, thread threads.ID, key, path string, r io.Reader, root string) (PushResult, error) {
	const op errors.Op = "buckets.PushPath"
	segs, err := CleanPath(path)
	if err != nil {
		return PushResult{}, errors.E(op, err)
	}
	if len(segs) == 0 {
		return PushResult{}, errors.E(op, errors.Invalid, "path is empty; name the file to push, such as dir/file.txt")
	}
	// Fail fast, before reading what may be gigabytes.
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleWriter)
	if err != nil {
		return PushResult{}, err
	}
	if err := checkRoot(op, b, root); err != nil {
		return PushResult{}, err
	}
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	cr, err := s.meter(ctx, op, b.rec.Account, r)
	if err != nil {
		return PushResult{}, err
	}
	keys := keysOf(b)
	sealed, err := keys.sealFile(segs, cr)
	if err != nil {
		return PushResult{}, errors.E(op, err)
	}
	file, err := Import(ctx, s.dag, sealed)
	if err != nil {
		return PushResult{}, errors.E(op, err)
	}
	used := keys.keyID(segs)
	b, err = s.updateKeyed(ctx, op, p, thread, key, root, RoleWriter, [][]string{segs}, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		return s.link(ctx, b, cur, segs, used, file)
	})
	if err != nil {
		return PushResult{}, err
	}
	return PushResult{Cid: file.Cid(), Size: cr.n, Bucket: b}, nil
}

// PullPath writes the contents of the file at path to w.
func (s *Service) PullPath(ctx context.Context, p hub.Principal, thread threads.ID, key, path string, w io.Writer) error {
	const op errors.Op = "buckets.PullPath"
	segs, err := CleanPath(path)
	if err != nil {
		return errors.E(op, err)
	}
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleReader)
	if err != nil {
		return err
	}
	root, err := b.Root()
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	keys := keysOf(b)
	nd, err := s.find(ctx, keys, root, segs)
	if err != nil {
		return errors.E(op, err)
	}
	r, _, err := keys.openFile(ctx, s.dag, nd, segs)
	if err != nil {
		return errors.E(op, err)
	}
	if _, err := r.WriteTo(w); err != nil {
		return errors.E(op, errors.KindOf(err), err)
	}
	return nil
}

// PullIPFSPath writes the file at /ipfs/<cid>[/path] to w.
func (s *Service) PullIPFSPath(ctx context.Context, ipfsPath string, w io.Writer) error {
	const op errors.Op = "buckets.PullIPFSPath"
	root, segs, err := s.parseIPFSPath(ipfsPath)
	if err != nil {
		return errors.E(op, err)
	}
	nd, err := resolve(ctx, s.dag, root, segs)
	if err != nil {
		return errors.E(op, err)
	}
	return Export(ctx, s.dag, nd, w)
}

// stored returns the node c after checking that this hub holds every
// block of the DAG under it, so a bucket never links a partial DAG; where
// its link sizes are wrong, the copy with true sizes (verifyDAG). (Reading them also keeps them from a garbage
// collection running now.)
func (s *Service) stored(ctx context.Context, op errors.Op, c cid.Cid) (ipld.Node, error) {
	nd, err := s.verifyDAG(ctx, c, nil)
	var m missingBlock
	switch {
	case stderrors.As(err, &m) && m.c.Equals(c):
		return nil, errors.Errorf(op, errors.NotExist, "CID %s is not in this hub; push its contents or import a CAR first", c)
	case stderrors.As(err, &m):
		return nil, errors.Errorf(op, errors.NotExist, "the DAG under %s is incomplete in this hub (block %s is missing); import all of it first, such as with a CAR", c, m.c)
	case err != nil:
		return nil, errors.E(op, err)
	}
	return nd, nil
}

// SetPath links the existing DAG c (which must be in this hub) at path;
// an empty path replaces the whole root with c, which must be a directory.
func (s *Service) SetPath(ctx context.Context, p hub.Principal, thread threads.ID, key, path string, c cid.Cid) (Bucket, error) {
	const op errors.Op = "buckets.SetPath"
	segs, err := CleanPath(path)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	nd, err := s.stored(ctx, op, c)
	if err != nil {
		return Bucket{}, err
	}
	if len(segs) == 0 && !isDir(nd) {
		return Bucket{}, errors.Errorf(op, errors.Invalid, "CID %s is a file; a bucket's root must be a directory", c)
	}
	return s.updateKeyed(ctx, op, p, thread, key, "", RoleWriter, [][]string{segs}, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		keys := keysOf(b)
		nd := nd
		if keys != nil { // c is plaintext: encrypt it for its place
			var err error
			if nd, err = transcrypt(ctx, s.dag, nd, nil, nil, keys, segs); err != nil {
				return nil, err
			}
		}
		if len(segs) == 0 {
			return nd, nil
		}
		return s.link(ctx, b, cur, segs, keys.keyID(segs), nd)
	})
}

// MovePath moves the file or directory at from to to, replacing what was
// at to. Moving the root, or a directory into itself, is Invalid.
func (s *Service) MovePath(ctx context.Context, p hub.Principal, thread threads.ID, key, from, to string) (Bucket, error) {
	const op errors.Op = "buckets.MovePath"
	fsegs, err := CleanPath(from)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	tsegs, err := CleanPath(to)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	switch {
	case len(fsegs) == 0 || len(tsegs) == 0:
		return Bucket{}, errors.E(op, errors.Invalid, "cannot move the bucket's root or onto it; name a file or directory inside the bucket")
	case join(fsegs) == join(tsegs):
		return Bucket{}, errors.E(op, errors.Invalid, "source and destination are the same path")
	case strings.HasPrefix(join(tsegs)+"/", join(fsegs)+"/"):
		return Bucket{}, errors.Errorf(op, errors.Invalid, "cannot move %q into itself", "/"+join(fsegs))
	}
	return s.updateKeyed(ctx, op, p, thread, key, "", RoleWriter, [][]string{fsegs, tsegs}, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		keys := keysOf(b)
		nd, err := s.find(ctx, keys, cur.Cid(), fsegs)
		if err != nil {
			return nil, err
		}
		from, err := keys.sealPath(fsegs)
		if err != nil {
			return nil, err
		}
		next, err := remove(ctx, s.dag, cur, from)
		if err != nil {
			return nil, err
		}
		if keys != nil {
			// Names are bound to their directories, and another path
			// key may govern the destination: seal again what must be.
			if nd, err = transcrypt(ctx, s.dag, nd, keys, fsegs, keys, tsegs); err != nil {
				return nil, err
			}
		}
		return s.link(ctx, b, next, tsegs, keys.keyID(tsegs), nd)
	})
}

// RemovePath removes the file or directory at path, fast-forward only
// against root as PushPath.
func (s *Service) RemovePath(ctx context.Context, p hub.Principal, thread threads.ID, key, path, root string) (Bucket, error) {
	const op errors.Op = "buckets.RemovePath"
	segs, err := CleanPath(path)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if len(segs) == 0 {
		return Bucket{}, errors.E(op, errors.Invalid, "cannot remove the bucket's root; remove the bucket instead")
	}
	return s.updateKeyed(ctx, op, p, thread, key, root, RoleWriter, [][]string{segs}, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		keys := keysOf(b)
		links, err := keys.sealPath(segs)
		if err != nil {
			return nil, err
		}
		next, err := remove(ctx, s.dag, cur, links)
		return next, keys.plainErr(segs, err)
	})
}

// Remove deletes the bucket. Its blocks are deleted by the next garbage
// collection, unless something else still links them. The DB's owner may
// also remove a bucket whose instance it deleted, or made unreadable,
// through the threads API, which leaves the hub's record and its charge
// (record.go). A removal that committed returns nil whatever follows it
// fails (afterCommit); removing it again is NotExist.
func (s *Service) Remove(ctx context.Context, p hub.Principal, thread threads.ID, key string) error {
	const op errors.Op = "buckets.Remove"
	if err := CheckKey(key); err != nil {
		return errors.E(op, err)
	}
	r, err := s.reachDB(ctx, p, thread)
	if err != nil {
		return errors.E(op, err)
	}
	unlock := s.lock(thread, key)
	defer unlock()
	txn, err := r.d.WriteTxn(ctx, r.as, Collection)
	if err != nil {
		return errors.E(op, notFound(key, err))
	}
	defer txn.Discard()
	b, err := s.decodeBucket(op, txn, key, thread)
	switch {
	case err == nil:
		if err := r.authorize(op, b, nil, RoleAdmin); err != nil {
			return err
		}
		if err := txn.Delete(ctx, []string{key}); err != nil {
			return errors.E(op, err)
		}
	case errors.Is(errors.FailedPrecondition, err) && r.owner:
		// The owner rewrote the instance through the threads API into
		// something that is not a bucket (with the collection's schema
		// dropped): it may still remove the bucket, which the record
		// describes, instead of being charged for it for ever.
		if b.rec, err = s.homeRecord(thread, key); err != nil {
			return errors.E(op, notFound(key, err))
		}
		if err := txn.Delete(ctx, []string{key}); err != nil {
			return errors.E(op, err)
		}
	case errors.Is(errors.NotExist, err) && r.owner:
		if b.rec, err = s.homeRecord(thread, key); err != nil {
			return errors.E(op, notFound(key, err))
		}
	default:
		return err
	}
	err = txn.Also(func(kb *store.Batch) {
		kb.Delete(recordKey(key))
		kb.Delete(ipnsKeyKey(key))
	})
	if err != nil {
		return errors.E(op, err)
	}
	reserved, err := s.reserve(ctx, op, b.rec.Account, -b.rec.Size)
	if err != nil {
		return err
	}
	err = txn.Commit(ctx)
	reserved(err == nil)
	if err != nil {
		return errors.E(op, err)
	}
	return s.afterCommit(op, s.unpublished(ctx, op, key))
}

// fileSize returns the size of the UnixFS file at nd.
func fileSize(nd ipld.Node) (int64, error) {
	pn, ok := nd.(*merkledag.ProtoNode)
	if !ok {
		return int64(len(nd.RawData())), nil // a raw leaf
	}
	fs, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return 0, errors.E(errors.Internal, err)
	}
	return int64(fs.FileSize()), nil
}

// saveBucket writes b as its bucket instance, and b.rec as its record,
// and commits txn. The blocks b's root links must be durable already
// (flush, before the write transaction opens: a sync inside it would stall
// the DB's writers).
func (s *Service) saveBucket(ctx context.Context, op errors.Op, txn *db.Txn, b Bucket) (Bucket, error) {
	doc, err := json.Marshal(b)
	if err != nil {
		return Bucket{}, errors.E(op, errors.Internal, err)
	}
	if err := txn.Save(ctx, [][]byte{doc}); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if err := txn.Also(b.rec.put(b.Key)); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if err := txn.Commit(ctx); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	return b, nil
}
