package server

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// encoded is a reply already in its wire form, sent as it is: listeners of
// one DB share the encoding of each change (see db.Event.Encode), so that
// a change sent to many listeners is encoded once.
type encoded []byte

// codec is the server's codec: protobuf, except that an encoded reply is
// sent as it is.
type codec struct{ encoding.CodecV2 }

func newCodec() codec { return codec{encoding.GetCodecV2(proto.Name)} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(encoded); ok {
		// Shared bytes: a SliceBuffer is never freed into a pool.
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// bufferPool is the server's pool of message buffers: a tier at every
// power of two from 256 bytes to 4 MiB. gRPC's default pool has tiers of
// 256 B, 4, 16 and 32 KiB and 1 MiB only, so a 50 KB reply took a 1 MiB
// buffer, held for as long as the reply waited on a client that does not
// read: a Listen stream that never read cost hubd about a megabyte.
func bufferPool() (mem.BufferPool, error) {
	return mem.NewBinaryTieredBufferPool(8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22)
}
