package bucketsclient

import (
	"context"
	"io"

	"github.com/selfhub/hub"
	hubpb "github.com/selfhub/hub/api/pb/hubbucketspb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
)

// The contract's types of ImportCAR. Options.Progress is called with
// the bytes sent so far after each chunk.
type (
	CAROptions  = hub.CAROptions
	ImportedCAR = hub.ImportedCAR
)

// ImportCAR streams the CAR (v1 or v2) read from r to the hub, which
// verifies and stores its blocks and links its root DAG, which must be
// complete UnixFS, at path (empty: replace the bucket's root with it, a
// directory). It is a Hub extension; the Textile hub had no such call. A
// CAR that fails a check leaves the bucket unchanged.
func (c *Client) ImportCAR(ctx context.Context, key, path string, r io.Reader, opts CAROptions) (ImportedCAR, error) {
	const op errors.Op = "bucketsclient.ImportCAR"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.h.ImportCar(ctx)
	if err != nil {
		return ImportedCAR{}, rpcerr.FromStatus(op, err)
	}
	hdr := &hubpb.ImportCarRequest_Header{Key: key, Path: path, Root: opts.Root, CarRoot: opts.CARRoot}
	sendErr := func() error {
		if err := stream.Send(&hubpb.ImportCarRequest{Payload: &hubpb.ImportCarRequest_Header_{Header: hdr}}); err != nil {
			return err
		}
		buf := make([]byte, ChunkSize)
		var sent int64
		for {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				if err := stream.Send(&hubpb.ImportCarRequest{Payload: &hubpb.ImportCarRequest_Chunk{Chunk: buf[:n]}}); err != nil {
					return err
				}
				sent += int64(n)
				if opts.Progress != nil {
					opts.Progress(sent)
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			if err != nil {
				cancel() // our reader failed: the hub drops the import
				return errors.E(op, errors.Canceled, err)
			}
		}
	}()
	if errors.KindOf(sendErr) == errors.Canceled {
		return ImportedCAR{}, sendErr
	}
	// A send error (io.EOF) means the hub ended the call early: its
	// status is what CloseAndRecv returns.
	res, err := stream.CloseAndRecv()
	if err != nil {
		return ImportedCAR{}, rpcerr.FromStatus(op, err)
	}
	return ImportedCAR{Cid: res.Cid, Blocks: res.Blocks, Bytes: res.Bytes, Root: rootFromPB(res.Root)}, nil
}
