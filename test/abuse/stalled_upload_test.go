package abuse

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	bucketspb "github.com/selfhub/hub/api/pb/bucketsdpb"
	hubbucketspb "github.com/selfhub/hub/api/pb/hubbucketspb"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/internal/testhub"
)

// stallIdle is the attacked hubd's --upload-idle-timeout: long enough
// that collections run, and are seen to stop waiting for the stalled
// uploads, while the uploads are still open.
const stallIdle = 10 * time.Second

// TestStalledUpload is finding 13: an attacker opens a PushPath, a
// PushPaths and an ImportCar, sends a few KiB on each and stops. Meanwhile
// another tenant removes a bucket holding a sizable file. Collection must
// not wait for the attacker: it stops waiting after --gc-hold-timeout and
// frees the other tenant's blocks while the uploads are still open. Each
// upload is then ended after --upload-idle-timeout with DeadlineExceeded,
// the attacker's bucket is unchanged, and the next collections wait for
// nothing.
func TestStalledUpload(t *testing.T) {
	h := startHub(t, "--upload-idle-timeout", stallIdle.String(), "--gc-hold-timeout", "500ms", "--gc-interval", "300ms")
	attacker, victim := newTenant(t, h, "mallory"), newTenant(t, h, "victor")
	conn := testhub.Dial(t, h.Addrs.API)

	// The attacker's bucket, with one file, and the victim's, with 8 MiB.
	ain, key := bucketIn(t, attacker, "target")
	if _, err := attacker.Buckets.PushPath(ain, key, "kept.txt", strings.NewReader("kept"), ""); err != nil {
		t.Fatal(err)
	}
	before, err := attacker.Buckets.Root(ain, key)
	if err != nil {
		t.Fatal(err)
	}
	vin, vkey := bucketIn(t, victim, "big")
	big := make([]byte, 8<<20)
	rand.Read(big)
	if _, err := victim.Buckets.PushPath(vin, vkey, "big.bin", bytes.NewReader(big), ""); err != nil {
		t.Fatal(err)
	}

	// The attack: every upload stalls after a few KiB, holding its stream.
	ctx, cancel := context.WithTimeout(ain, 2*time.Minute)
	defer cancel()
	ended := map[string]chan error{}
	for name, stall := range map[string]func(context.Context, *grpc.ClientConn, string, string) (func() error, error){
		"PushPath": stallPushPath, "PushPaths": stallPushPaths, "ImportCar": stallImportCar,
	} {
		wait, err := stall(ctx, conn, key, before.Path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ended[name] = make(chan error, 1)
		go func() { ended[name] <- wait() }()
	}

	// The victim's removed data is collected while the uploads stall: a
	// cycle reports it stopped waiting for them, and the blocks go.
	blocks := filepath.Join(h.Repo, "blocks")
	full := testhub.DirBytes(t, blocks)
	if err := victim.Buckets.Remove(vin, vkey); err != nil {
		t.Fatal(err)
	}
	outwaited := false
	deadline := time.Now().Add(60 * time.Second)
	for !outwaited || testhub.DirBytes(t, blocks) > full-int64(len(big))*3/4 {
		if time.Now().After(deadline) {
			t.Fatalf("60 s after the removal: blocks hold %d bytes of %d; a cycle outwaited the stalled uploads: %v",
				testhub.DirBytes(t, blocks), full, outwaited)
		}
		if n, ok := gcOutwaited(h, 100*time.Millisecond); ok && n > 0 {
			outwaited = true
		}
	}
	for name, c := range ended {
		select {
		case err := <-c:
			t.Logf("%s ended before the victim's blocks were freed (a slow machine?): %v", name, err)
			c <- err
		default:
		}
	}

	// Each stalled upload is ended with a clear status.
	for name, c := range ended {
		err := <-c
		if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(status.Convert(err).Message(), "stalled") {
			t.Errorf("%s stalled for longer than %s ended with %v; want DeadlineExceeded saying it stalled", name, stallIdle, err)
		}
	}
	after, err := attacker.Buckets.Root(ain, key)
	if err != nil {
		t.Fatal(err)
	}
	if after.Path != before.Path {
		t.Fatalf("the attacker's bucket moved from %s to %s after stalled uploads", before.Path, after.Path)
	}

	// With the uploads ended, a cycle waits for nothing.
	deadline = time.Now().Add(60 * time.Second)
	for {
		if n, ok := gcOutwaited(h, time.Second); ok && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("60 s after the stalled uploads ended, collections still stop waiting for uploads")
		}
	}
	h.alive(t)
	victim.mustBeServed(t)
	attacker.mustBeServed(t)
}

// bucketIn makes a DB and a bucket called name for the tenant's user and
// returns the context that names the DB, and the bucket's key.
func bucketIn(t *testing.T, tn *tenant, name string) (context.Context, string) {
	t.Helper()
	id, err := tn.Threads.NewDB(tn.User, "", threadsclient.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := client.WithThread(tn.User, id.String())
	made, err := tn.Buckets.Create(in, name, bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return in, made.Root.Key
}

// gcOutwaited waits up to wait for hubd's next garbage collection record
// and returns how many uploads that cycle stopped waiting for.
func gcOutwaited(h *target, wait time.Duration) (int, bool) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case rec := <-h.Logs:
			if rec["msg"] != "garbage collection" {
				continue
			}
			n, _ := rec["uploads_outwaited"].(float64)
			return int(n), true
		case <-t.C:
			return 0, false
		}
	}
}

// stallPushPath starts a PushPath of a file to key, sends its first 4 KiB
// and no more. The returned wait gives the status the stream ended with.
func stallPushPath(ctx context.Context, conn *grpc.ClientConn, key, root string) (func() error, error) {
	s, err := bucketspb.NewAPIServiceClient(conn).PushPath(ctx)
	if err != nil {
		return nil, err
	}
	hdr := &bucketspb.PushPathRequest{Payload: &bucketspb.PushPathRequest_Header_{Header: &bucketspb.PushPathRequest_Header{Key: key, Path: "stalled.bin", Root: root}}}
	if err := s.Send(hdr); err != nil {
		return nil, err
	}
	if err := s.Send(&bucketspb.PushPathRequest{Payload: &bucketspb.PushPathRequest_Chunk{Chunk: make([]byte, 4<<10)}}); err != nil {
		return nil, err
	}
	return func() error {
		for {
			if _, err := s.Recv(); err != nil {
				return err
			}
		}
	}, nil
}

// stallPushPaths is stallPushPath for PushPaths: a file's first 4 KiB,
// never ended.
func stallPushPaths(ctx context.Context, conn *grpc.ClientConn, key, root string) (func() error, error) {
	s, err := bucketspb.NewAPIServiceClient(conn).PushPaths(ctx)
	if err != nil {
		return nil, err
	}
	hdr := &bucketspb.PushPathsRequest{Payload: &bucketspb.PushPathsRequest_Header_{Header: &bucketspb.PushPathsRequest_Header{Key: key, Root: root}}}
	if err := s.Send(hdr); err != nil {
		return nil, err
	}
	chunk := &bucketspb.PushPathsRequest_Chunk{Path: "stalled.bin", Data: make([]byte, 4<<10)}
	if err := s.Send(&bucketspb.PushPathsRequest{Payload: &bucketspb.PushPathsRequest_Chunk_{Chunk: chunk}}); err != nil {
		return nil, err
	}
	return func() error {
		for {
			if _, err := s.Recv(); err != nil {
				return err
			}
		}
	}, nil
}

// stallImportCar is stallPushPath for ImportCar: the first 4 KiB of a
// CAR of one 64 KiB block (its header and part of the block).
func stallImportCar(ctx context.Context, conn *grpc.ClientConn, key, root string) (func() error, error) {
	data := make([]byte, 64<<10)
	rand.Read(data)
	sum, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		return nil, err
	}
	c := cid.NewCidV1(cid.Raw, sum)
	var buf bytes.Buffer
	w, err := storage.NewWritable(&buf, []cid.Cid{c}, car.WriteAsCarV1(true))
	if err != nil {
		return nil, err
	}
	if err := w.Put(ctx, c.KeyString(), data); err != nil {
		return nil, err
	}
	s, err := hubbucketspb.NewAPIServiceClient(conn).ImportCar(ctx)
	if err != nil {
		return nil, err
	}
	hdr := &hubbucketspb.ImportCarRequest{Payload: &hubbucketspb.ImportCarRequest_Header_{Header: &hubbucketspb.ImportCarRequest_Header{Key: key, Path: "stalled", Root: root}}}
	if err := s.Send(hdr); err != nil {
		return nil, err
	}
	if err := s.Send(&hubbucketspb.ImportCarRequest{Payload: &hubbucketspb.ImportCarRequest_Chunk{Chunk: buf.Bytes()[:4<<10]}}); err != nil {
		return nil, err
	}
	// Without CloseSend: the client keeps its side open and sends nothing.
	return func() error { return s.RecvMsg(new(hubbucketspb.ImportCarResponse)) }, nil
}
