package hub

import (
	"context"
	"io"
	"strconv"
)

// Buckets is the bucket service of one DB as one caller sees it: the hub's
// buckets service bound to a principal and a DB (BucketServer), or the Go
// client, bound by its context's credentials and thread. Every
// implementation runs the conformance suite buckets/bucketstest.
//
// Keys are bucket keys (IPNS names); paths are relative to the bucket's
// root ("" is the root) and are cleaned, refused with Invalid when they
// climb out or hold empty segments. A root ("/ipfs/<cid>" or the bare CID)
// names the version of the bucket a change is based on: a change against
// any other current root is refused with FailedPrecondition, naming the
// current one (fast-forward only); an empty root forces the change.
//
// Errors carry the kinds of package errors, whether they were made in
// process or mapped back from a gRPC status: Invalid for malformed input,
// NotExist for an unknown bucket, path or DB (another account's included),
// Permission when the caller's path roles do not allow the call,
// FailedPrecondition for a stale root, Exhausted past the account's quota,
// Unauthenticated without credentials.
type Buckets interface {
	// List returns the buckets of the DB the caller may see: its own, and
	// those where it holds a role.
	List(ctx context.Context) ([]Bucket, error)
	// Create makes a bucket named name, with a random seed file at its
	// root (or the directory opts.BootstrapCID, already in the hub), and
	// returns it with its links and seed.
	Create(ctx context.Context, name string, opts BucketOptions) (CreatedBucket, error)
	// Root returns the bucket with key at its current root; the caller
	// needs a role somewhere in it.
	Root(ctx context.Context, key string) (Bucket, error)
	// Links returns the addresses at which path of the bucket is read. A
	// private bucket's links carry a read-only capability for that path,
	// never the caller's own credentials.
	Links(ctx context.Context, key, path string) (BucketLinks, error)
	// ListPath describes the file or directory at path, with a
	// directory's entries one level deep, and the bucket it was read from.
	ListPath(ctx context.Context, key, path string) (BucketItem, Bucket, error)
	// ListIPFSPath describes the file or directory at an IPFS path
	// (/ipfs/<cid>[/path]) the hub stores, whatever bucket holds it.
	ListIPFSPath(ctx context.Context, path string) (BucketItem, error)
	// PushPath stores r, read to its end, as the file at path, against
	// root. A reader that fails stores nothing.
	PushPath(ctx context.Context, key, path string, r io.Reader, root string) (Pushed, error)
	// PushPaths stores the files whose chunks next yields, in any order
	// and interleaved, and moves the bucket's root once for all of them,
	// against root. next returns io.EOF after the last chunk; any other
	// error, a chunk after its file ended, or a file not ended stores
	// nothing. It returns each stored file (Pushed.Root unset) and the
	// bucket at its new root.
	PushPaths(ctx context.Context, key, root string, next func() (Chunk, error)) ([]Pushed, Bucket, error)
	// PullPath writes the contents of the file at path to w and returns
	// the bytes written.
	PullPath(ctx context.Context, key, path string, w io.Writer) (int64, error)
	// PullIPFSPath writes the file at an IPFS path the hub stores to w.
	PullIPFSPath(ctx context.Context, path string, w io.Writer) (int64, error)
	// SetPath links the DAG cid, already in the hub, at path; an empty
	// path replaces the whole root, which must then be a directory.
	SetPath(ctx context.Context, key, path, cid string) error
	// MovePath moves the file or directory at from to to, replacing a
	// file there.
	MovePath(ctx context.Context, key, from, to string) error
	// RemovePath removes the file or directory at path, against root.
	RemovePath(ctx context.Context, key, path, root string) (Bucket, error)
	// Remove deletes the bucket; the caller needs Admin on its root.
	Remove(ctx context.Context, key string) error
	// PathRoles returns the roles given on path itself.
	PathRoles(ctx context.Context, key, path string) (map[string]PathRole, error)
	// SetPathRoles merges roles into those given on path (PathNone
	// removes an identity's role); the caller needs Admin on path.
	SetPathRoles(ctx context.Context, key, path string, roles map[string]PathRole) error
	// ImportCAR reads a CAR (v1 or v2) from r, checks every block against
	// its CID, and links its root, a complete UnixFS DAG, at path, under
	// the root's own CID whatever sizes its links record (the quota counts
	// what its blocks hold). A CAR that fails a check (Invalid,
	// FailedPrecondition) changes nothing; private buckets refuse imports.
	ImportCAR(ctx context.Context, key, path string, r io.Reader, opts CAROptions) (ImportedCAR, error)
}

// PathOpener is the ability of a Buckets in the hub's process to open a
// file for reading at any offset, found by type assertion (the Go client
// has no such call: a stream over gRPC reads from the start).
type PathOpener interface {
	// OpenPath describes the file or directory at path, as ListPath does
	// without a directory's entries, and opens a file: the reader seeks
	// without reading what lies before the offset, and the item, the
	// bucket (at the root read) and the reader come from one root. The
	// reader is nil for a directory.
	OpenPath(ctx context.Context, key, path string) (BucketItem, Bucket, io.ReadSeeker, error)
}

// PathsRemover is the ability of a Buckets in the hub's process to remove
// several paths in one change of a bucket, found by type assertion.
type PathsRemover interface {
	// RemovePaths removes the files or directories at paths in one
	// change, against root: all of them, or none when one names nothing
	// (NotExist) or the caller may not change it.
	RemovePaths(ctx context.Context, key string, paths []string, root string) (Bucket, error)
}

// BucketServer is the bucket service as a hub hosts it, for every caller:
// Buckets binds it to the principal a call acts as and the DB it names.
type BucketServer interface {
	Buckets(p Principal, db ThreadID) Buckets
}

// PathRole is an identity's role on a bucket path; a path's role is the
// highest along its ancestors. The values are the wire values.
type PathRole int

// Path roles.
const (
	PathNone PathRole = iota
	PathReader
	PathWriter
	PathAdmin
)

func (r PathRole) String() string {
	switch r {
	case PathNone:
		return "None"
	case PathReader:
		return "Reader"
	case PathWriter:
		return "Writer"
	case PathAdmin:
		return "Admin"
	}
	return "PathRole(" + strconv.Itoa(int(r)) + ")"
}

// Bucket is a bucket at one of its roots.
type Bucket struct {
	Key     string // the bucket key, an IPNS name
	Name    string
	Path    string // /ipfs/<root cid>
	Thread  string // the DB that holds the bucket, in its string form
	Owner   PubKey
	Version int
	// KeyID fingerprints a private bucket's key, and changes when the key
	// does; empty for a public bucket. The key never leaves the hub.
	KeyID string
	// Paths is what the bucket records about its paths ("" is the root).
	Paths     map[string]PathInfo
	CreatedAt int64 // Unix ns
	UpdatedAt int64 // Unix ns
}

// PathInfo is what a bucket records about one path.
type PathInfo struct {
	Roles     map[string]PathRole // by identity public-key string, or "*" for every identity of the account
	UpdatedAt int64               // Unix ns
}

// BucketOptions are Create's options.
type BucketOptions struct {
	Private      bool   // the hub encrypts contents and names, with keys that never leave it
	BootstrapCID string // a UnixFS directory already in the hub, as the first root
}

// CreatedBucket is what Create returns.
type CreatedBucket struct {
	Root    Bucket
	Links   BucketLinks
	Seed    []byte // the contents of the seed file at the root
	SeedCID string
}

// BucketLinks are the addresses at which a bucket (or a path in it) is read.
type BucketLinks struct {
	URL  string // <gateway>/thread/<db>/buckets/<key>[/<path>]
	WWW  string // <scheme>://<key>.<www domain>; empty when the hub serves no websites
	IPNS string // <gateway>/ipns/<key>
}

// BucketItem is a file or directory in a bucket or under an IPFS path.
type BucketItem struct {
	Cid        string
	Name       string // plaintext, also in private buckets
	Path       string // /ipfs/<root>/<path>
	Size       int64  // a file's plaintext bytes; a directory's DAG size
	IsDir      bool
	Items      []BucketItem // a directory's entries, one level deep
	ItemsCount int
}

// Pushed is one file a push stored.
type Pushed struct {
	Path string // as stored, without a leading slash; PushPaths only
	Cid  string
	Size int64  // plaintext bytes
	Root Bucket // the bucket at its new root; PushPath only
}

// Chunk is part of one file of a PushPaths: Data is appended to the file
// at Path, and a chunk with no Data ends that file. Data is the
// producer's until its next chunk is asked for, so PushPaths uses it before
// asking.
type Chunk struct {
	Path string
	Data []byte
}

// CAROptions are ImportCAR's options.
type CAROptions struct {
	Root    string // the bucket root the change is based on; empty forces
	CARRoot string // which of the CAR's roots to link; empty: its only one
	// Progress, if not nil, is called with the bytes of CAR read so far.
	Progress func(int64)
}

// ImportedCAR is what ImportCAR stored.
type ImportedCAR struct {
	Cid    string // the DAG linked at the path
	Blocks int64  // blocks the CAR held
	Bytes  int64  // bytes of CAR read
	Root   Bucket // the bucket at its new root
}
