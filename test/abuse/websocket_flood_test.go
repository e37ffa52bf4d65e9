package abuse

import (
	"encoding/binary"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	bucketspb "github.com/selfhub/hub/api/pb/bucketsdpb"
	"github.com/selfhub/hub/api/pb/threadspb"
)

// TestWebsocketFlood: an app user opens a gRPC-Web websocket
// ReadTransaction, asks for 3.6 MiB of instances per request, reads no
// reply, and sends 512 MiB of such requests as fast as it can. The
// handler soon waits to send its replies, and so consumes nothing more;
// gRPC's HTTP transport, left alone, would read the flood into memory.
// hubd reads no more than --web-window ahead of the handler (TCP pushes
// back on the client), its memory stays bounded, it closes the websocket
// after --web-idle-timeout since the client reads nothing, the stored
// instances are unchanged, and another tenant is served meanwhile,
// including a websocket upload five windows long.
func TestWebsocketFlood(t *testing.T) {
	const (
		flood    = 512 << 20
		instance = 900 << 10
		pad      = 3 << 20 // an unknown field in each request, which stays below --max-message-size
	)
	h := startHub(t, "--web-idle-timeout", "5s")
	attacker, other := newTenant(t, h, "mallory"), newTenant(t, h, "alice")
	id := attacker.notesDB(t)
	doc := json.RawMessage(`{"text":"` + strings.Repeat("x", instance) + `"}`)
	if _, err := attacker.Threads.Create(attacker.User, id, "notes", doc, doc, doc, doc); err != nil {
		t.Fatal(err)
	}
	before, _ := h.rss(t)

	c := dialWebsocketTo(t, h.Addrs.Web, threadspb.API_ReadTransaction_FullMethodName)
	if c == nil {
		t.FailNow()
	}
	defer c.Close()
	start := webMessage(t, &threadspb.ReadTransactionRequest{Option: &threadspb.ReadTransactionRequest_StartTransactionRequest{
		StartTransactionRequest: &threadspb.StartTransactionRequest{DbID: id.Bytes(), CollectionName: "notes"}}})
	find := webMessage(t, &threadspb.ReadTransactionRequest{Option: &threadspb.ReadTransactionRequest_FindRequest{
		FindRequest: &threadspb.FindRequest{DbID: id.Bytes(), CollectionName: "notes", QueryJSON: []byte("{}")}}})
	find = protowire.AppendBytes(protowire.AppendTag(find, 1000, protowire.BytesType), make([]byte, pad))
	binary.BigEndian.PutUint32(find[2:6], uint32(len(find)-6))
	for _, m := range [][]byte{webHeaders(attacker.User), start} {
		if err := writeFrame(c, m); err != nil {
			t.Fatal(err)
		}
	}

	type result struct {
		pushed int
		err    error
	}
	flooded := make(chan result, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
		pushed := 0
		for pushed < flood {
			if err := writeFrame(c, find); err != nil {
				flooded <- result{pushed, err}
				return
			}
			pushed += len(find)
		}
		flooded <- result{pushed, nil}
	}()
	other.mustBeServed(t)
	webUpload(t, h, other, 40<<20)
	r := <-flooded
	if r.err == nil {
		t.Fatalf("hubd read all %d MiB of requests while the handler consumed none; want it to stop reading after --web-window", r.pushed>>20)
	}
	if ne, ok := r.err.(net.Error); ok && ne.Timeout() {
		t.Fatal("hubd neither read the flood nor closed the websocket in two minutes; want it closed after --web-idle-timeout")
	}

	h.alive(t)
	now, peak := h.rss(t)
	t.Logf("hubd's RSS %d MiB before, %d MiB after a websocket flood (peak %d MiB); the attacker wrote %d MiB (into hubd's window and socket buffers) before hubd closed it: %v",
		before>>20, now>>20, peak>>20, r.pushed>>20, r.err)
	if grew := peak - before; grew > 256<<20 {
		t.Fatalf("hubd's peak RSS grew by %d MiB; want it bounded by --web-window", grew>>20)
	}
	got, err := attacker.Threads.Find(attacker.User, id, "notes", nil)
	if err != nil || len(got) != 4 {
		t.Fatalf("after the flood the collection holds %d instances (%v); want the 4 stored", len(got), err)
	}
	other.mustBeServed(t)
}

// webUpload pushes size bytes to a new bucket of tn's with a PushPath over
// a gRPC-Web websocket, reading hubd's replies as they come, as the
// @textile clients do, and checks that the file is stored whole.
func webUpload(t *testing.T, h *target, tn *tenant, size int) {
	t.Helper()
	in, key := bucketIn(t, tn, "upload")
	c := dialWebsocketTo(t, h.Addrs.Web, bucketspb.APIService_PushPath_FullMethodName)
	if c == nil {
		t.FailNow()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	header := webMessage(t, &bucketspb.PushPathRequest{Payload: &bucketspb.PushPathRequest_Header_{
		Header: &bucketspb.PushPathRequest_Header{Key: key, Path: "big.bin"}}})
	chunk := webMessage(t, &bucketspb.PushPathRequest{Payload: &bucketspb.PushPathRequest_Chunk{Chunk: make([]byte, 1<<20)}})
	sent := make(chan error, 1)
	go func() {
		for _, m := range [][]byte{webHeaders(in), header} {
			if err := writeFrame(c, m); err != nil {
				sent <- err
				return
			}
		}
		for range size >> 20 {
			if err := writeFrame(c, chunk); err != nil {
				sent <- err
				return
			}
		}
		sent <- writeFrame(c, []byte{1}) // the end of what the client sends
	}()
	if trailer := readUntil(t, c, "grpc-status"); !strings.Contains(trailer, "grpc-status: 0") {
		t.Fatalf("a websocket PushPath of %d MiB ended with %q; want grpc-status 0", size>>20, trailer)
	}
	if err := <-sent; err != nil {
		t.Fatalf("a websocket PushPath of %d MiB: %v", size>>20, err)
	}
	var pulled countingWriter
	if _, err := tn.Buckets.PullPath(in, key, "big.bin", &pulled); err != nil || int(pulled) != size {
		t.Fatalf("pulled %d bytes of a %d-byte websocket push (%v); want them all", pulled, size, err)
	}
}

// countingWriter counts what is written to it.
type countingWriter int

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}
