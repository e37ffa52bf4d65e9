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

// TestSchemalessCollectionInfo: a collection made without a schema (the Go
// client and the raw API allow it) is described with the schema every
// instance matches, "{}", in GetCollectionInfo and ListCollections, so
// @textile/threads-client's JSON.parse of it cannot throw.
func TestSchemalessCollectionInfo(t *testing.T) {
	w := newBucketsWorld(t, "plain")
	db, err := threads.Decode(threadOf(t, w.ctx))
	if err != nil {
		t.Fatal(err)
	}
	tc := threadsclient.New(w.h.Conn)
	if err := tc.NewCollection(w.keyCtx, db, threadsclient.CollectionConfig{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	info, err := tc.GetCollectionInfo(w.keyCtx, db, "notes")
	if err != nil {
		t.Fatal(err)
	}
	if string(info.Schema) != "{}" {
		t.Fatalf("GetCollectionInfo schema of a schema-less collection = %q; want {}", info.Schema)
	}
	all, err := tc.ListCollections(w.keyCtx, db)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range all {
		if c.Name == "notes" {
			found = true
			if string(c.Schema) != "{}" {
				t.Fatalf("ListCollections schema of a schema-less collection = %q; want {}", c.Schema)
			}
		}
	}
	if !found {
		t.Fatalf("ListCollections %v lacks notes", all)
	}
}
