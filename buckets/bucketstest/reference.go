package bucketstest

import (
	"bytes"
	"testing"

	bucketsclient "github.com/selfhub/hub/client/buckets"
)

// ReferenceCID is the CID data gets under the unixfs-v1-2025 profile,
// computed on the client side (bucketsclient.FileCID, boxo's importer with
// boxo's profile constants), not by the buckets package: an independent
// check that a hub imports files as kubo would, and that the CLI's local
// CIDs agree with the hub's.
func ReferenceCID(t testing.TB, data []byte) string {
	t.Helper()
	c, err := bucketsclient.FileCID(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
