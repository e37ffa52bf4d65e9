// Package bucketstest is the conformance suite of hub.Buckets: Run checks
// that an implementation behaves as the hub's buckets must, so the service
// over its on-disk stores, the service over in-memory stores and the gRPC
// client are held to one specification instead of tests written once for
// each.
//
// The package imports nothing of the buckets package: the buckets package's
// own tests run this suite, and Go forbids the import cycle that would make.
package bucketstest

import (
	"github.com/selfhub/hub"
	bucketsclient "github.com/selfhub/hub/client/buckets"
)

// file is one file for PushPaths, given as a reader.
type file = bucketsclient.File

// chunks yields files, one after another, as PushPaths' chunks.
func chunks(files ...file) func() (hub.Chunk, error) { return bucketsclient.FileChunks(files) }
