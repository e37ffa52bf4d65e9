package test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	threadspb "github.com/selfhub/hub/api/pb/threadspb"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/threads"
)

// TestBucketInstanceSchema: over the wire, the buckets collection hubd
// makes carries a JSON Schema (what @textile/threads-client's
// getCollectionInfo parses), and a malformed bucket instance saved through
// the threads API is refused with InvalidArgument, leaving the stored
// instance and the bucket as they were.
func TestBucketInstanceSchema(t *testing.T) {
	w := newBucketsWorld(t, "schemer")
	created, err := w.bc.Create(w.ctx, "b", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := created.Root.Key
	db, err := threads.Decode(threadOf(t, w.ctx))
	if err != nil {
		t.Fatal(err)
	}
	tc := threadsclient.New(w.h.Conn)
	info, err := tc.GetCollectionInfo(w.keyCtx, db, "buckets")
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Type       string         `json:"type"`
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(info.Schema, &schema); err != nil || schema.Type != "object" || schema.Properties["path"] == nil {
		t.Fatalf("buckets collection schema %q (%v); want a JSON Schema of bucket instances", info.Schema, err)
	}

	before, err := tc.FindByID(w.keyCtx, db, "buckets", key)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(before, &doc); err != nil {
		t.Fatal(err)
	}
	doc["path"], doc["metadata"] = 42, "everyone is admin"
	bad, _ := json.Marshal(doc)
	api := threadspb.NewAPIClient(w.h.Conn)
	_, err = api.Save(w.keyCtx, &threadspb.SaveRequest{DbID: db.Bytes(), CollectionName: "buckets", Instances: [][]byte{bad}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "schema") {
		t.Fatalf("saving a malformed bucket through the threads API: %v; want InvalidArgument naming the schema", err)
	}
	after, err := tc.FindByID(w.keyCtx, db, "buckets", key)
	if err != nil || !bytes.Equal(after, before) {
		t.Fatalf("stored instance after the refusal:\n%s (%v)\nwant\n%s", after, err, before)
	}
	if _, err := w.bc.PushPath(w.ctx, key, "f.txt", bytes.NewReader([]byte("f")), ""); err != nil {
		t.Fatalf("push after the refusal: %v", err)
	}
}
