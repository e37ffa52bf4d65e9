package test

import (
	"strings"
	"testing"

	hubpb "github.com/selfhub/hub/api/pb/hubbucketspb"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
)

// TestImportCarStream sends malformed ImportCar streams over the wire:
// each is refused with InvalidArgument and a message that says what to
// send, and the bucket stays as it was.
func TestImportCarStream(t *testing.T) {
	w := newBucketsWorld(t, "carwire")
	created, err := w.bc.Create(w.ctx, "wire", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := created.Root.Key
	header := func(carRoot string) *hubpb.ImportCarRequest {
		return &hubpb.ImportCarRequest{Payload: &hubpb.ImportCarRequest_Header_{Header: &hubpb.ImportCarRequest_Header{Key: key, Path: "x", CarRoot: carRoot}}}
	}
	chunk := &hubpb.ImportCarRequest{Payload: &hubpb.ImportCarRequest_Chunk{Chunk: []byte("data")}}
	tests := []struct {
		name string
		msgs []*hubpb.ImportCarRequest
		hint string
	}{
		{"no messages", nil, "ImportCar stream ended before its header"},
		{"chunk first", []*hubpb.ImportCarRequest{chunk}, "ImportCar must start with a header"},
		{"bad car_root", []*hubpb.ImportCarRequest{header("nope")}, `car_root "nope" is not a CID`},
		{"second header", []*hubpb.ImportCarRequest{header(""), header("")}, "ImportCar takes one header, then chunks"},
	}
	c := hubpb.NewAPIServiceClient(w.h.Conn)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := c.ImportCar(w.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.msgs {
				if err := stream.Send(m); err != nil {
					break // the hub has answered; CloseAndRecv reports it
				}
			}
			_, err = stream.CloseAndRecv()
			err = rpcerr.FromStatus("test", err)
			if !errors.Is(errors.Invalid, err) || !strings.Contains(errors.Message(err), tt.hint) {
				t.Fatalf("ImportCar: %v (kind %v); want Invalid saying %q", err, errors.KindOf(err), tt.hint)
			}
			r, err := w.bc.Root(w.ctx, key)
			if err != nil || r.Path != created.Root.Path {
				t.Fatalf("bucket at %s (%v) after a refused import; want %s", r.Path, err, created.Root.Path)
			}
		})
	}
}
