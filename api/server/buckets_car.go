package server

import (
	"github.com/ipfs/go-cid"

	pb "github.com/selfhub/hub/api/pb/hubbucketspb"
	"github.com/selfhub/hub/errors"
)

// hubBucketsService serves api.hubbuckets.pb.APIService, Hub's extensions
// of the bucket service. The bucket's DB is named by x-textile-thread. Its
// methods are absent from the requirements table, so every call needs an
// authenticated principal; the bucket service checks roles.
type hubBucketsService struct {
	pb.UnimplementedAPIServiceServer
	b *bucketsService
}

func (h *hubBucketsService) ImportCar(stream pb.APIService_ImportCarServer) error {
	ctx := stream.Context()
	svc, id, err := h.b.svc(ctx)
	if err != nil {
		return err
	}
	recv := idleLimited(ctx, "ImportCar", h.b.s.limits.UploadIdleTimeout, stream.Recv)
	first, err := recv()
	if err != nil {
		return headerErr("ImportCar", err)
	}
	hd := first.GetHeader()
	if hd == nil {
		return errors.E(errors.Invalid, "ImportCar must start with a header {key, path, root, car_root}, then chunks")
	}
	carRoot := cid.Undef
	if hd.CarRoot != "" {
		if carRoot, err = cid.Decode(hd.CarRoot); err != nil {
			return errors.Errorf("", errors.Invalid, "car_root %q is not a CID: %v", errors.Clip(hd.CarRoot), err)
		}
	}
	r := &chunkReader{call: "ImportCar", recv: func() ([]byte, bool, error) {
		msg, err := recv()
		return msg.GetChunk(), msg.GetHeader() != nil, err
	}}
	res, err := svc.ImportCAR(ctx, principal(ctx), id, hd.Key, hd.Path, hd.Root, carRoot, r)
	if err != nil {
		return err
	}
	return stream.SendAndClose(&pb.ImportCarResponse{Cid: res.Cid.String(), Blocks: res.Blocks, Bytes: r.n, Root: rootToPB(res.Bucket)})
}
