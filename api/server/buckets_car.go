package server

import (
	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/hubbucketspb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
)

// hubBucketsRequirements gives the credentials each
// api.hubbuckets.pb.APIService method needs: any authenticated caller; the
// bucket service checks roles.
var hubBucketsRequirements = map[string]auth.Requirement{
	"ImportCar": auth.Authenticated,
}

// hubBucketsService serves api.hubbuckets.pb.APIService, Hub's extensions
// of the bucket service. The bucket's DB is named by x-textile-thread.
type hubBucketsService struct {
	pb.UnimplementedAPIServiceServer
	b *bucketsService
}

func (h *hubBucketsService) ImportCar(stream pb.APIService_ImportCarServer) error {
	ctx := stream.Context()
	svc, err := h.b.svc(ctx)
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
	r := &chunkReader{call: "ImportCar", recv: func() ([]byte, bool, error) {
		msg, err := recv()
		return msg.GetChunk(), msg.GetHeader() != nil, err
	}}
	res, err := svc.ImportCAR(ctx, hd.Key, hd.Path, r, hub.CAROptions{Root: hd.Root, CARRoot: hd.CarRoot})
	if err != nil {
		return err
	}
	return stream.SendAndClose(&pb.ImportCarResponse{Cid: res.Cid, Blocks: res.Blocks, Bytes: res.Bytes, Root: rootToPB(res.Root)})
}
