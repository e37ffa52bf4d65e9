package abuse

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	bucketspb "github.com/selfhub/hub/api/pb/bucketsdpb"
	hubbucketspb "github.com/selfhub/hub/api/pb/hubbucketspb"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/test/testhub"
)

// stallIdle is the attacked hubd's --upload-idle-timeout.
const stallIdle = 10 * time.Second

// trickleEvery is how often the attacker sends a byte on each upload while
// the collections are watched: far more often than stallIdle, so that the
// uploads stay open for as long as a busy machine takes to show a
// collection outwaiting them.
const trickleEvery = 500 * time.Millisecond

// TestStalledUpload is finding 13: an attacker opens a PushPath, a
// PushPaths and an ImportCar, sends a few KiB on each and then a byte now
// and then. Meanwhile another tenant removes a bucket holding a sizable
// file. Collection must not wait for the attacker: it stops waiting after
// --gc-hold-timeout and frees the other tenant's blocks while the uploads
// are still open. The attacker then sends nothing more: each upload is
// ended after --upload-idle-timeout with DeadlineExceeded, the attacker's
// bucket is unchanged, and the next collections wait for nothing.
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

	// The attack: every upload trickles after a few KiB, holding its
	// stream, until stopTrickles is closed.
	ctx, cancel := context.WithTimeout(ain, 5*time.Minute)
	defer cancel()
	ended := map[string]chan error{}
	stopTrickles := make(chan struct{})
	var trickles sync.WaitGroup
	for name, a := range stallAttacks(t, conn, key, before.Path) {
		st, err := a.open(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, m := range a.msgs {
			if err := st.SendMsg(m); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		trickles.Go(func() {
			tick := time.NewTicker(trickleEvery)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stopTrickles:
					return
				case <-tick.C:
				}
				if err := st.SendMsg(a.trickle(i)); err != nil {
					return // the stream ended; its receiver reports how
				}
			}
		})
		// Then nothing, with the client's side kept open, until the
		// stream ends.
		done := make(chan error, 1)
		ended[name] = done
		go func() {
			for {
				if err := st.RecvMsg(a.reply); err != nil {
					done <- err
					return
				}
			}
		}()
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
			t.Fatalf("60 s after the removal: blocks hold %d bytes of %d; a cycle outwaited all %d stalled uploads: %v",
				testhub.DirBytes(t, blocks), full, len(ended), outwaited)
		}
		if n, ok := gcOutwaited(h, 100*time.Millisecond); ok && n >= len(ended) {
			outwaited = true // every stalled upload held the collector, which went on
		}
	}
	for name, c := range ended {
		select {
		case err := <-c:
			t.Fatalf("%s ended while it was still sending: %v", name, err)
		default:
		}
	}

	// The attacker sends nothing more: each stalled upload is ended with a
	// clear status.
	close(stopTrickles)
	trickles.Wait()
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

// stallAttack is an upload that stalls: the stream open makes, the
// messages sent on it (a header and the first 4 KiB), the i-th message of
// one byte that keeps it going, and the type of its replies.
type stallAttack struct {
	open    func(context.Context) (grpc.ClientStream, error)
	msgs    []proto.Message
	trickle func(i int) proto.Message
	reply   proto.Message
}

// stallAttacks are a PushPath, a PushPaths (a file never ended) and an
// ImportCar (a CAR of one 64 KiB block: its header and part of the
// block) to the bucket key at root.
func stallAttacks(t *testing.T, conn *grpc.ClientConn, key, root string) map[string]stallAttack {
	t.Helper()
	bc, hc := bucketspb.NewAPIServiceClient(conn), hubbucketspb.NewAPIServiceClient(conn)
	data := make([]byte, 64<<10)
	rand.Read(data)
	sum, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := cid.NewCidV1(cid.Raw, sum)
	var carFile bytes.Buffer
	w, err := storage.NewWritable(&carFile, []cid.Cid{c}, car.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(context.Background(), c.KeyString(), data); err != nil {
		t.Fatal(err)
	}
	return map[string]stallAttack{
		"PushPath": {
			open: func(ctx context.Context) (grpc.ClientStream, error) { return bc.PushPath(ctx) },
			msgs: []proto.Message{
				&bucketspb.PushPathRequest{Payload: &bucketspb.PushPathRequest_Header_{Header: &bucketspb.PushPathRequest_Header{Key: key, Path: "stalled.bin", Root: root}}},
				&bucketspb.PushPathRequest{Payload: &bucketspb.PushPathRequest_Chunk{Chunk: data[:4<<10]}},
			},
			trickle: func(i int) proto.Message {
				return &bucketspb.PushPathRequest{Payload: &bucketspb.PushPathRequest_Chunk{Chunk: data[4<<10+i : 4<<10+i+1]}}
			},
			reply: new(bucketspb.PushPathResponse),
		},
		"PushPaths": {
			open: func(ctx context.Context) (grpc.ClientStream, error) { return bc.PushPaths(ctx) },
			msgs: []proto.Message{
				&bucketspb.PushPathsRequest{Payload: &bucketspb.PushPathsRequest_Header_{Header: &bucketspb.PushPathsRequest_Header{Key: key, Root: root}}},
				&bucketspb.PushPathsRequest{Payload: &bucketspb.PushPathsRequest_Chunk_{Chunk: &bucketspb.PushPathsRequest_Chunk{Path: "stalled.bin", Data: data[:4<<10]}}},
			},
			trickle: func(i int) proto.Message {
				return &bucketspb.PushPathsRequest{Payload: &bucketspb.PushPathsRequest_Chunk_{Chunk: &bucketspb.PushPathsRequest_Chunk{Path: "stalled.bin", Data: data[4<<10+i : 4<<10+i+1]}}}
			},
			reply: new(bucketspb.PushPathsResponse),
		},
		"ImportCar": {
			open: func(ctx context.Context) (grpc.ClientStream, error) { return hc.ImportCar(ctx) },
			msgs: []proto.Message{
				&hubbucketspb.ImportCarRequest{Payload: &hubbucketspb.ImportCarRequest_Header_{Header: &hubbucketspb.ImportCarRequest_Header{Key: key, Path: "stalled", Root: root}}},
				&hubbucketspb.ImportCarRequest{Payload: &hubbucketspb.ImportCarRequest_Chunk{Chunk: carFile.Bytes()[:4<<10]}},
			},
			trickle: func(i int) proto.Message {
				return &hubbucketspb.ImportCarRequest{Payload: &hubbucketspb.ImportCarRequest_Chunk{Chunk: carFile.Bytes()[4<<10+i : 4<<10+i+1]}}
			},
			reply: new(hubbucketspb.ImportCarResponse),
		},
	}
}
