package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"nhooyr.io/websocket"

	pb "github.com/selfhub/hub/api/pb/bucketsdpb"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/test/testhub"
)

// TestBucketUploadIdleTimeout stalls a PushPath after its first chunk,
// over gRPC and over gRPC-Web websockets (what the JavaScript clients
// speak): hubd ends it after --upload-idle-timeout with DeadlineExceeded
// saying it stalled, and the bucket keeps its root. In process, so -race
// watches the stream's last receive, which outlives the handler.
func TestBucketUploadIdleTimeout(t *testing.T) {
	const idle = time.Second
	h := testhub.Start(t, func(c *daemon.Config) { c.UploadIdleTimeout = idle })
	w := newBucketsUser(t, h, "stall")
	b, err := w.bc.Create(w.ctx, "b", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	header := &pb.PushPathRequest{Payload: &pb.PushPathRequest_Header_{Header: &pb.PushPathRequest_Header{Key: b.Root.Key, Path: "stalled.bin", Root: b.Root.Path}}}
	chunk := &pb.PushPathRequest{Payload: &pb.PushPathRequest_Chunk{Chunk: make([]byte, 4<<10)}}
	stalls := map[string]func(context.Context) (codes.Code, string, error){
		"gRPC": func(ctx context.Context) (codes.Code, string, error) {
			s, err := pb.NewAPIServiceClient(h.Conn).PushPath(ctx)
			if err != nil {
				return 0, "", err
			}
			for _, m := range []*pb.PushPathRequest{header, chunk} {
				if err := s.Send(m); err != nil {
					return 0, "", err
				}
			}
			for {
				if _, err := s.Recv(); err != nil {
					return status.Code(err), status.Convert(err).Message(), nil
				}
			}
		},
		"websocket": func(ctx context.Context) (codes.Code, string, error) {
			return webSocketStall(ctx, h.Addrs.Web, "/"+pb.APIService_ServiceDesc.ServiceName+"/PushPath", header, chunk)
		},
	}
	for name, stall := range stalls {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(w.ctx, 60*time.Second)
			defer cancel()
			code, msg, err := stall(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if code != codes.DeadlineExceeded || !strings.Contains(msg, "stalled") || !strings.Contains(msg, "nothing was committed") {
				t.Fatalf("a PushPath stalled for %s ended with %s %q; want DeadlineExceeded saying it stalled and nothing was committed", idle, code, msg)
			}
			root, err := w.bc.Root(w.ctx, b.Root.Key)
			if err != nil {
				t.Fatal(err)
			}
			if root.Path != b.Root.Path {
				t.Fatalf("a stalled push moved the bucket from %s to %s", b.Root.Path, root.Path)
			}
		})
	}
}

// webSocketStall makes the call method over gRPC-Web websockets the way
// the @textile clients do, with the credentials ctx carries: it sends
// msgs, then nothing, keeping its side open, and returns the status the
// call ends with.
func webSocketStall(ctx context.Context, addr, method string, msgs ...proto.Message) (codes.Code, string, error) {
	c, _, err := websocket.Dial(ctx, "ws://"+addr+method, &websocket.DialOptions{Subprotocols: []string{"grpc-websockets"}})
	if err != nil {
		return 0, "", err
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	// The first message carries the request headers.
	md, _ := metadata.FromOutgoingContext(ctx)
	var hdr strings.Builder
	hdr.WriteString("content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n")
	for k, vs := range md {
		for _, v := range vs {
			fmt.Fprintf(&hdr, "%s: %s\r\n", k, v)
		}
	}
	if err := c.Write(ctx, websocket.MessageBinary, []byte(hdr.String())); err != nil {
		return 0, "", err
	}
	// Each message after it: a 0 byte, then a gRPC frame.
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			return 0, "", err
		}
		frame := make([]byte, 6, 6+len(b))
		binary.BigEndian.PutUint32(frame[2:], uint32(len(b)))
		if err := c.Write(ctx, websocket.MessageBinary, append(frame, b...)); err != nil {
			return 0, "", err
		}
	}
	// The answer is a byte stream of gRPC-Web frames, over as many
	// websocket messages as it takes; the status is in a trailer frame
	// (flag 0x80).
	var stream bytes.Buffer
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return 0, "", fmt.Errorf("the websocket ended with no status: %w", err)
		}
		stream.Write(b)
		for stream.Len() >= 5 {
			n := int(binary.BigEndian.Uint32(stream.Bytes()[1:5]))
			if stream.Len() < 5+n {
				break
			}
			flag := stream.Bytes()[0]
			body := string(stream.Next(5 + n)[5:])
			if flag&0x80 == 0 || !strings.Contains(body, "grpc-status:") {
				continue
			}
			var code int
			var msg string
			for _, line := range strings.Split(body, "\r\n") {
				k, v, _ := strings.Cut(line, ":")
				switch strings.ToLower(strings.TrimSpace(k)) {
				case "grpc-status":
					fmt.Sscan(v, &code)
				case "grpc-message":
					msg = strings.TrimSpace(v)
				}
			}
			return codes.Code(code), msg, nil // printable ASCII, so not percent-encoded
		}
	}
}
