// Package bucketstest is the conformance suite for buckets: Run checks that
// an implementation of Buckets behaves as the hub's buckets must, so the
// service over its on-disk stores, the service over in-memory stores and the
// gRPC client are held to one specification instead of tests written once
// for each.
//
// The package imports nothing of the buckets package: the buckets package's
// own tests run this suite, and Go forbids the import cycle that would make.
package bucketstest

import (
	"context"
	"io"
)

// Buckets is what one caller does with the buckets of one thread. Errors
// carry kinds of github.com/selfhub/hub/errors, whether they were made in
// process or mapped back from a gRPC status.
type Buckets interface {
	// Create makes a bucket named name, encrypted by the hub if private.
	Create(ctx context.Context, name string, private bool) (Root, error)
	// Root returns the bucket with key.
	Root(ctx context.Context, key string) (Root, error)
	// PushPath stores r, read to its end, as the file at path. root is
	// the root the caller last saw (Root.Path); a bucket elsewhere refuses
	// the push with FailedPrecondition. An empty root forces the push.
	PushPath(ctx context.Context, key, path string, r io.Reader, root string) (Pushed, error)
	// PushPaths stores files and moves the bucket's root once for all of
	// them, fast-forward only against root as PushPath; on any error none
	// of them is stored.
	PushPaths(ctx context.Context, key, root string, files []File) ([]Pushed, Root, error)
	// PullPath writes the contents of the file at path to w.
	PullPath(ctx context.Context, key, path string, w io.Writer) error
	// ListPath describes the file or directory at path, with a
	// directory's entries one level deep.
	ListPath(ctx context.Context, key, path string) (Item, error)
	// SetPath links the DAG cid, already in the hub, at path; an empty
	// path replaces the whole root.
	SetPath(ctx context.Context, key, path, cid string) error
	// MovePath moves the file or directory at from to to.
	MovePath(ctx context.Context, key, from, to string) error
	// RemovePath removes the file or directory at path, fast-forward only
	// against root as PushPath.
	RemovePath(ctx context.Context, key, path, root string) (Root, error)
	// Remove deletes the bucket.
	Remove(ctx context.Context, key string) error
}

// Root is a bucket at one of its roots.
type Root struct {
	Key  string // the bucket key, an IPNS name
	Name string
	Path string // /ipfs/<root cid>
}

// Pushed is one file a push stored.
type Pushed struct {
	Path string // as stored, without a leading slash; set by PushPaths only
	Cid  string
	Size int64 // plaintext bytes
	Root Root  // the bucket after PushPath; PushPaths returns it once instead
}

// File is one file for PushPaths.
type File struct {
	Path string
	Data io.Reader
}

// Item is a file or directory in a bucket.
type Item struct {
	Name  string // plaintext, also in private buckets
	Cid   string
	Size  int64 // a file's plaintext bytes; a directory's DAG size
	IsDir bool
	Items []Item // a directory's entries
}
