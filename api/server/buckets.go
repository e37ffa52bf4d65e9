package server

import (
	"context"
	"io"
	"strconv"

	"google.golang.org/grpc/metadata"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/bucketsdpb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// bucketsRequirements gives the credentials each api.bucketsd.pb.APIService
// method needs: any authenticated caller. The buckets service decides the
// rest: a caller's own DBs, or another identity's of the same account as
// far as the bucket's path access roles allow.
var bucketsRequirements = map[string]auth.Requirement{
	"List": auth.Authenticated, "Create": auth.Authenticated, "Root": auth.Authenticated,
	"Links": auth.Authenticated, "ListPath": auth.Authenticated, "ListIpfsPath": auth.Authenticated,
	"PushPath": auth.Authenticated, "PushPaths": auth.Authenticated, "PullPath": auth.Authenticated,
	"PullIpfsPath": auth.Authenticated, "SetPath": auth.Authenticated, "MovePath": auth.Authenticated,
	"Remove": auth.Authenticated, "RemovePath": auth.Authenticated,
	"PushPathAccessRoles": auth.Authenticated, "PullPathAccessRoles": auth.Authenticated,
	// The archive calls answer Unimplemented to any authenticated caller.
	"DefaultArchiveConfig": auth.Authenticated, "SetDefaultArchiveConfig": auth.Authenticated,
	"Archive": auth.Authenticated, "Archives": auth.Authenticated, "ArchiveWatch": auth.Authenticated,
}

// pullChunkSize is the largest chunk PullPath sends: one 1 MiB leaf block
// per message, so a pull costs one message, not 32, per block (the
// original hub sent 32 KiB; clients accept any size up to gRPC's 4 MiB).
const pullChunkSize = 1 << 20

// bucketsService serves api.bucketsd.pb.APIService. The DB that holds the
// buckets is named by the x-textile-thread header, as the JS client sends
// it.
type bucketsService struct {
	pb.UnimplementedAPIServiceServer
	s *Server
}

// threadFrom returns the DB the x-textile-thread header names, or "" when
// there is none (the service says what to do).
func threadFrom(ctx context.Context) (threads.ID, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("x-textile-thread")
	if len(v) == 0 || v[0] == "" {
		return "", nil
	}
	id, err := threads.Decode(v[0])
	if err != nil {
		return "", errors.E(errors.Invalid, err)
	}
	return id, nil
}

// svc returns the bucket service bound to the caller and the DB the
// x-textile-thread header names.
func (b *bucketsService) svc(ctx context.Context) (hub.Buckets, error) {
	if b.s.buckets == nil {
		return nil, errors.E(errors.Unimplemented, "this hub does not serve buckets")
	}
	id, err := threadFrom(ctx)
	if err != nil {
		return nil, err
	}
	return b.s.buckets.Buckets(principal(ctx), id), nil
}

func rootToPB(bk hub.Bucket) *pb.Root {
	r := &pb.Root{Key: bk.Key, Name: bk.Name, Path: bk.Path, CreatedAt: bk.CreatedAt, UpdatedAt: bk.UpdatedAt,
		Thread: bk.Thread, Owner: string(bk.Owner), Version: int32(bk.Version), LinkKey: bk.KeyID,
		PathMetadata: map[string]*pb.Metadata{}}
	for p, m := range bk.Paths {
		pm := &pb.Metadata{UpdatedAt: m.UpdatedAt, Roles: rolesToPB(m.Roles)}
		r.PathMetadata[p] = pm
		if p == "" {
			r.Metadata = pm
		}
	}
	return r
}

func rolesToPB(roles map[string]hub.PathRole) map[string]pb.PathAccessRole {
	out := make(map[string]pb.PathAccessRole, len(roles))
	for k, role := range roles {
		out[k] = pb.PathAccessRole(role)
	}
	return out
}

func itemToPB(it hub.BucketItem) *pb.PathItem {
	out := &pb.PathItem{Cid: it.Cid, Name: it.Name, Path: it.Path, Size: it.Size, IsDir: it.IsDir, ItemsCount: int32(it.ItemsCount)}
	for _, sub := range it.Items {
		out.Items = append(out.Items, itemToPB(sub))
	}
	return out
}

func linksToPB(l hub.BucketLinks) *pb.LinksResponse {
	return &pb.LinksResponse{Url: l.URL, Www: l.WWW, Ipns: l.IPNS}
}

func (b *bucketsService) List(ctx context.Context, _ *pb.ListRequest) (*pb.ListResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	list, err := svc.List(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListResponse{}
	for _, bk := range list {
		out.Roots = append(out.Roots, rootToPB(bk))
	}
	return out, nil
}

func (b *bucketsService) Create(ctx context.Context, req *pb.CreateRequest) (*pb.CreateResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	if req.Unfreeze {
		return nil, errNoFilecoin
	}
	c, err := svc.Create(ctx, req.Name, hub.BucketOptions{Private: req.Private, BootstrapCID: req.BootstrapCid})
	if err != nil {
		return nil, err
	}
	return &pb.CreateResponse{Root: rootToPB(c.Root), Links: linksToPB(c.Links), Seed: c.Seed, SeedCid: c.SeedCID}, nil
}

func (b *bucketsService) Root(ctx context.Context, req *pb.RootRequest) (*pb.RootResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	bk, err := svc.Root(ctx, req.Key)
	if err != nil {
		return nil, err
	}
	return &pb.RootResponse{Root: rootToPB(bk)}, nil
}

func (b *bucketsService) Links(ctx context.Context, req *pb.LinksRequest) (*pb.LinksResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	l, err := svc.Links(ctx, req.Key, req.Path)
	if err != nil {
		return nil, err
	}
	return linksToPB(l), nil
}

func (b *bucketsService) ListPath(ctx context.Context, req *pb.ListPathRequest) (*pb.ListPathResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	it, bk, err := svc.ListPath(ctx, req.Key, req.Path)
	if err != nil {
		return nil, err
	}
	return &pb.ListPathResponse{Item: itemToPB(it), Root: rootToPB(bk)}, nil
}

func (b *bucketsService) ListIpfsPath(ctx context.Context, req *pb.ListIpfsPathRequest) (*pb.ListIpfsPathResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	it, err := svc.ListIPFSPath(ctx, req.Path)
	if err != nil {
		return nil, err
	}
	return &pb.ListIpfsPathResponse{Item: itemToPB(it)}, nil
}

// headerErr is the error of an upload call whose first receive failed:
// the client closed its side before the header, or stalled.
func headerErr(call string, err error) error {
	if err == io.EOF {
		return errors.Errorf("", errors.Invalid, "%s stream ended before its header", call)
	}
	return err
}

// chunkReader reads the data chunks of a client stream that began with a
// header as one byte stream. before, when set, runs before each receive
// with the bytes read so far (PushPath sends progress from it).
type chunkReader struct {
	call   string // for messages: PushPath, ImportCar
	recv   func() (chunk []byte, header bool, err error)
	before func(n int64) error
	buf    []byte
	n      int64
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.before != nil {
			if err := r.before(r.n); err != nil {
				return 0, err
			}
		}
		chunk, header, err := r.recv()
		if err != nil {
			return 0, err // io.EOF when the client closes its side: the end of the data
		}
		if header {
			return 0, errors.Errorf("", errors.Invalid, "%s takes one header, then chunks: a second header arrived", r.call)
		}
		r.buf = chunk
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.n += int64(n)
	return n, nil
}

// progressEvery is how often, in bytes, PushPath reports progress.
const progressEvery = 1 << 20

func (b *bucketsService) PushPath(stream pb.APIService_PushPathServer) error {
	ctx := stream.Context()
	svc, err := b.svc(ctx)
	if err != nil {
		return err
	}
	recv := idleLimited(ctx, "PushPath", b.s.limits.UploadIdleTimeout, stream.Recv)
	first, err := recv()
	if err != nil {
		return headerErr("PushPath", err)
	}
	h := first.GetHeader()
	if h == nil {
		return errors.E(errors.Invalid, "PushPath must start with a header {key, path, root}, then chunks")
	}
	next := int64(progressEvery)
	r := &chunkReader{call: "PushPath",
		recv: func() ([]byte, bool, error) {
			msg, err := recv()
			return msg.GetChunk(), msg.GetHeader() != nil, err
		},
		before: func(n int64) error {
			if n < next {
				return nil
			}
			next = n + progressEvery
			return stream.Send(&pb.PushPathResponse{Event: &pb.PushPathResponse_Event{Bytes: n}})
		}}
	res, err := svc.PushPath(ctx, h.Key, h.Path, r, h.Root)
	if err != nil {
		return err
	}
	return stream.Send(&pb.PushPathResponse{Event: &pb.PushPathResponse_Event{
		Name: res.Cid, Path: "/ipfs/" + res.Cid, Bytes: res.Size,
		Size: strconv.FormatInt(res.Size, 10), Root: rootToPB(res.Root)}})
}

// PushPaths receives a header {key, root}, then chunks {path, data} of
// any number of files, interleaved, which the bucket service stores (a
// chunk with no data ends its file). When the client closes its side,
// every file is linked into the bucket in one change, and the hub sends
// one response per file, each with the bucket's new root.
func (b *bucketsService) PushPaths(stream pb.APIService_PushPathsServer) error {
	ctx := stream.Context()
	svc, err := b.svc(ctx)
	if err != nil {
		return err
	}
	recv := idleLimited(ctx, "PushPaths", b.s.limits.UploadIdleTimeout, stream.Recv)
	first, err := recv()
	if err != nil {
		return headerErr("PushPaths", err)
	}
	h := first.GetHeader()
	if h == nil {
		return errors.E(errors.Invalid, "PushPaths must start with a header {key, root}, then chunks {path, data}")
	}
	files, bk, err := svc.PushPaths(ctx, h.Key, h.Root, func() (hub.Chunk, error) {
		msg, err := recv()
		if err != nil {
			return hub.Chunk{}, err // io.EOF when the client closes its side
		}
		c := msg.GetChunk()
		if c == nil {
			return hub.Chunk{}, errors.E(errors.Invalid, "a second header in a PushPaths stream; send one header, then chunks")
		}
		return hub.Chunk{Path: c.Path, Data: c.Data}, nil
	})
	if err != nil {
		return err
	}
	root := rootToPB(bk)
	for _, f := range files {
		if err := stream.Send(&pb.PushPathsResponse{Path: f.Path, Cid: f.Cid, Size: f.Size, Root: root}); err != nil {
			return err
		}
	}
	return nil
}

// chunkWriter sends what is written to it as stream chunks of at most
// pullChunkSize bytes.
type chunkWriter struct{ send func([]byte) error }

func (w chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := p[:min(len(p), pullChunkSize)]
		if err := w.send(c); err != nil {
			return n, err
		}
		n += len(c)
		p = p[len(c):]
	}
	return n, nil
}

func (b *bucketsService) PullPath(req *pb.PullPathRequest, stream pb.APIService_PullPathServer) error {
	ctx := stream.Context()
	svc, err := b.svc(ctx)
	if err != nil {
		return err
	}
	w := chunkWriter{send: func(c []byte) error { return stream.Send(&pb.PullPathResponse{Chunk: c}) }}
	_, err = svc.PullPath(ctx, req.Key, req.Path, w)
	return err
}

func (b *bucketsService) PullIpfsPath(req *pb.PullIpfsPathRequest, stream pb.APIService_PullIpfsPathServer) error {
	ctx := stream.Context()
	svc, err := b.svc(ctx)
	if err != nil {
		return err
	}
	w := chunkWriter{send: func(c []byte) error { return stream.Send(&pb.PullIpfsPathResponse{Chunk: c}) }}
	_, err = svc.PullIPFSPath(ctx, req.Path, w)
	return err
}

func (b *bucketsService) SetPath(ctx context.Context, req *pb.SetPathRequest) (*pb.SetPathResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.SetPathResponse{}, svc.SetPath(ctx, req.Key, req.Path, req.Cid)
}

func (b *bucketsService) MovePath(ctx context.Context, req *pb.MovePathRequest) (*pb.MovePathResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.MovePathResponse{}, svc.MovePath(ctx, req.Key, req.FromPath, req.ToPath)
}

func (b *bucketsService) RemovePath(ctx context.Context, req *pb.RemovePathRequest) (*pb.RemovePathResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	bk, err := svc.RemovePath(ctx, req.Key, req.Path, req.Root)
	if err != nil {
		return nil, err
	}
	return &pb.RemovePathResponse{Root: rootToPB(bk)}, nil
}

func (b *bucketsService) Remove(ctx context.Context, req *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.RemoveResponse{}, svc.Remove(ctx, req.Key)
}

func (b *bucketsService) PushPathAccessRoles(ctx context.Context, req *pb.PushPathAccessRolesRequest) (*pb.PushPathAccessRolesResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	roles := make(map[string]hub.PathRole, len(req.Roles))
	for k, v := range req.Roles {
		roles[k] = hub.PathRole(v)
	}
	if err := svc.SetPathRoles(ctx, req.Key, req.Path, roles); err != nil {
		return nil, err
	}
	return &pb.PushPathAccessRolesResponse{}, nil
}

func (b *bucketsService) PullPathAccessRoles(ctx context.Context, req *pb.PullPathAccessRolesRequest) (*pb.PullPathAccessRolesResponse, error) {
	svc, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	roles, err := svc.PathRoles(ctx, req.Key, req.Path)
	if err != nil {
		return nil, err
	}
	return &pb.PullPathAccessRolesResponse{Roles: rolesToPB(roles)}, nil
}

func (b *bucketsService) DefaultArchiveConfig(context.Context, *pb.DefaultArchiveConfigRequest) (*pb.DefaultArchiveConfigResponse, error) {
	return nil, errNoFilecoin
}

func (b *bucketsService) SetDefaultArchiveConfig(context.Context, *pb.SetDefaultArchiveConfigRequest) (*pb.SetDefaultArchiveConfigResponse, error) {
	return nil, errNoFilecoin
}

func (b *bucketsService) Archive(context.Context, *pb.ArchiveRequest) (*pb.ArchiveResponse, error) {
	return nil, errNoFilecoin
}

func (b *bucketsService) Archives(context.Context, *pb.ArchivesRequest) (*pb.ArchivesResponse, error) {
	return nil, errNoFilecoin
}

func (b *bucketsService) ArchiveWatch(*pb.ArchiveWatchRequest, pb.APIService_ArchiveWatchServer) error {
	return errNoFilecoin
}

var _ io.Writer = chunkWriter{}
