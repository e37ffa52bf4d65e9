package server

import (
	"context"
	"io"
	"net/url"
	"runtime"
	"strconv"
	"sync"

	"github.com/ipfs/go-cid"
	"google.golang.org/grpc/metadata"

	pb "github.com/selfhub/hub/api/pb/bucketsdpb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/buckets"
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

func (b *bucketsService) svc(ctx context.Context) (*buckets.Service, threads.ID, error) {
	if b.s.buckets == nil {
		return nil, "", errors.E(errors.Unimplemented, "this hub does not serve buckets")
	}
	id, err := threadFrom(ctx)
	return b.s.buckets, id, err
}

func rootToPB(bk buckets.Bucket) *pb.Root {
	r := &pb.Root{Key: bk.Key, Name: bk.Name, Path: bk.Path, CreatedAt: bk.CreatedAt, UpdatedAt: bk.UpdatedAt,
		Thread: bk.Thread.String(), Owner: bk.Owner, Version: int32(bk.Version),
		PathMetadata: map[string]*pb.Metadata{}}
	// Keys of private buckets never leave the hub: a fingerprint says the
	// bucket is private (and changes when its key rotates).
	if bk.IsPrivate() {
		r.LinkKey = buckets.KeyID(bk.LinkKey)
	}
	for p, m := range bk.Metadata {
		pm := &pb.Metadata{UpdatedAt: m.UpdatedAt, Roles: map[string]pb.PathAccessRole{}}
		for k, role := range m.Roles {
			pm.Roles[k] = pb.PathAccessRole(role)
		}
		r.PathMetadata[p] = pm
		if p == "" {
			r.Metadata = pm
		}
	}
	return r
}

// itemToPB converts an item; base is the /ipfs/<root> path it lies under.
func itemToPB(base string, it buckets.Item) *pb.PathItem {
	p := base
	if it.Path != "" {
		p += "/" + it.Path
	}
	out := &pb.PathItem{Cid: it.Cid.String(), Name: it.Name, Path: p, Size: it.Size, IsDir: it.IsDir, ItemsCount: int32(it.ItemsCount)}
	for _, sub := range it.Items {
		out.Items = append(out.Items, itemToPB(base, sub))
	}
	return out
}

func (b *bucketsService) linksPB(ctx context.Context, svc *buckets.Service, id threads.ID, key, path string) (*pb.LinksResponse, error) {
	p := principal(ctx)
	l, err := svc.Links(ctx, p, id, key, path)
	if err != nil {
		return nil, err
	}
	if l.Private {
		// A read-only capability for the path, acting for the caller: the
		// caller's own token never goes into a URL.
		link, err := b.s.auth.IssueLink(ctx, p, id.String(), key, l.Path)
		if err != nil {
			return nil, err
		}
		q := "?token=" + url.QueryEscape(link)
		l.URL, l.IPNS = l.URL+q, l.IPNS+q
		if l.WWW != "" {
			l.WWW += q
		}
	}
	return &pb.LinksResponse{Url: l.URL, Www: l.WWW, Ipns: l.IPNS}, nil
}

func (b *bucketsService) List(ctx context.Context, _ *pb.ListRequest) (*pb.ListResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	list, err := svc.List(ctx, principal(ctx), id)
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
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	boot := cid.Undef
	if req.BootstrapCid != "" {
		if boot, err = cid.Decode(req.BootstrapCid); err != nil {
			return nil, errors.Errorf("", errors.Invalid, "bootstrap CID %q: %v", req.BootstrapCid, err)
		}
	}
	if req.Unfreeze {
		return nil, errNoFilecoin
	}
	bk, seed, err := svc.Create(ctx, principal(ctx), id, req.Name, req.Private, boot)
	if err != nil {
		return nil, err
	}
	links, err := b.linksPB(ctx, svc, id, bk.Key, "")
	if err != nil {
		return nil, err
	}
	var seedBytes []byte
	{
		var w bytesWriter
		if err := svc.PullPath(ctx, principal(ctx), id, bk.Key, buckets.SeedName, &w); err != nil {
			return nil, err
		}
		seedBytes = w.b
	}
	return &pb.CreateResponse{Root: rootToPB(bk), Links: links, Seed: seedBytes, SeedCid: seed.String()}, nil
}

type bytesWriter struct{ b []byte }

func (w *bytesWriter) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

func (b *bucketsService) Root(ctx context.Context, req *pb.RootRequest) (*pb.RootResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	bk, err := svc.Get(ctx, principal(ctx), id, req.Key)
	if err != nil {
		return nil, err
	}
	return &pb.RootResponse{Root: rootToPB(bk)}, nil
}

func (b *bucketsService) Links(ctx context.Context, req *pb.LinksRequest) (*pb.LinksResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	return b.linksPB(ctx, svc, id, req.Key, req.Path)
}

func (b *bucketsService) ListPath(ctx context.Context, req *pb.ListPathRequest) (*pb.ListPathResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	it, bk, err := svc.ListPath(ctx, principal(ctx), id, req.Key, req.Path)
	if err != nil {
		return nil, err
	}
	return &pb.ListPathResponse{Item: itemToPB(bk.Path, it), Root: rootToPB(bk)}, nil
}

func (b *bucketsService) ListIpfsPath(ctx context.Context, req *pb.ListIpfsPathRequest) (*pb.ListIpfsPathResponse, error) {
	svc, _, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	it, err := svc.ListIPFSPath(ctx, req.Path)
	if err != nil {
		return nil, err
	}
	out := itemToPB("", it)
	out.Path = req.Path
	return &pb.ListIpfsPathResponse{Item: out}, nil
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

// maxOpenFiles is how many files of one PushPaths stream may be started and
// not yet ended: each holds an import and its buffers. Clients send files
// one after another (the JS client) or a few interleaved.
const maxOpenFiles = 64

// progressEvery is how often, in bytes, PushPath reports progress.
const progressEvery = 1 << 20

func (b *bucketsService) PushPath(stream pb.APIService_PushPathServer) error {
	ctx := stream.Context()
	svc, id, err := b.svc(ctx)
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
	res, err := svc.PushPath(ctx, principal(ctx), id, h.Key, h.Path, r, h.Root)
	if err != nil {
		return err
	}
	return stream.Send(&pb.PushPathResponse{Event: &pb.PushPathResponse_Event{
		Name: res.Cid.String(), Path: "/ipfs/" + res.Cid.String(), Bytes: res.Size,
		Size: strconv.FormatInt(res.Size, 10), Root: rootToPB(res.Bucket)}})
}

// PushPaths receives a header {key, root}, then chunks {path, data} of
// any number of files, interleaved; a chunk with no data ends its file.
// Each file streams into the blockstore through its own pipe as its chunks
// arrive, so memory does not grow with the files' sizes. When the client
// closes its side, every file is linked into the bucket in one change
// (fast-forward against root), and the hub sends one response per file,
// each with the bucket's new root.
func (b *bucketsService) PushPaths(stream pb.APIService_PushPathsServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	svc, id, err := b.svc(ctx)
	if err != nil {
		return err
	}
	// The stream's context, not ctx: ctx ends when an import fails, and
	// the import's error is the one to report.
	recv := idleLimited(stream.Context(), "PushPaths", b.s.limits.UploadIdleTimeout, stream.Recv)
	first, err := recv()
	if err != nil {
		return headerErr("PushPaths", err)
	}
	h := first.GetHeader()
	if h == nil {
		return errors.E(errors.Invalid, "PushPaths must start with a header {key, root}, then chunks {path, data}")
	}
	batch, err := svc.NewBatch(ctx, principal(ctx), id, h.Key, h.Root)
	if err != nil {
		return err
	}
	defer batch.Discard()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		addErr error                         // guarded by mu: the first failed Add
		pipes  = map[string]*io.PipeWriter{} // by path; nil once the file ended
		states = map[string]*importState{}   // by path, until the file ended
		// Bounds the files importing after their end, so a fast client
		// cannot start thousands of imports at once.
		finishing = newImports(2 * runtime.GOMAXPROCS(0))
	)
	fail := func(err error) {
		mu.Lock()
		if addErr == nil {
			addErr = err
		}
		mu.Unlock()
		cancel()
	}
	abort := func(err error) error {
		for _, w := range pipes {
			if w != nil {
				w.CloseWithError(err)
			}
		}
		cancel()
		wg.Wait()
		return err
	}
	for {
		msg, err := recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return abort(err)
		}
		c := msg.GetChunk()
		if c == nil {
			return abort(errors.E(errors.Invalid, "a second header in a PushPaths stream; send one header, then chunks"))
		}
		w, ok := pipes[c.Path]
		if !ok && len(states) >= maxOpenFiles {
			return abort(errors.Errorf("", errors.Exhausted, "more than %d files of this PushPaths are open at once; end a file (a chunk with no data) before starting more", maxOpenFiles))
		}
		if !ok {
			var r *io.PipeReader
			r, w = io.Pipe()
			pipes[c.Path] = w
			path, f := c.Path, &importState{}
			states[path] = f
			wg.Go(func() {
				defer finishing.exit(f)
				if _, err := batch.Add(ctx, path, r); err != nil {
					r.CloseWithError(err)
					fail(err)
				}
			})
		}
		if w == nil {
			return abort(errors.Errorf("", errors.Invalid, "chunk for %q after its end; a chunk with no data ends a file", c.Path))
		}
		if len(c.Data) == 0 {
			w.Close()
			pipes[c.Path] = nil
			finishing.end(ctx, states[c.Path])
			delete(states, c.Path)
			continue
		}
		if _, err := w.Write(c.Data); err != nil {
			// The import failed: err is its error, passed through the pipe
			// (addErr may not be set yet).
			mu.Lock()
			if addErr != nil {
				err = addErr
			}
			mu.Unlock()
			return abort(err)
		}
	}
	for path, w := range pipes {
		if w != nil {
			// The stream ended mid-file: refuse rather than store a
			// truncated file.
			return abort(errors.Errorf("", errors.Invalid, "the stream ended before the file %q did; end each file with a chunk that has no data", path))
		}
	}
	wg.Wait()
	if addErr != nil {
		return addErr
	}
	files, bk, err := batch.Commit(ctx)
	if err != nil {
		return err
	}
	root := rootToPB(bk)
	for _, f := range files {
		if err := stream.Send(&pb.PushPathsResponse{Path: f.Path, Cid: f.Cid.String(), Size: f.Size, Root: root}); err != nil {
			return err
		}
	}
	return nil
}

// imports counts the files of a PushPaths stream that are still being
// imported after their last chunk arrived, and makes the stream's reader
// wait at a file's end while there are max of them. Files still receiving
// chunks are not counted: their imports wait for the reader, so counting
// them could deadlock a client that interleaves many files.
type imports struct {
	max int
	// mu guards finishing and every importState.
	mu        sync.Mutex
	cond      *sync.Cond
	finishing int
}

// importState is one file's import: whether its last chunk arrived and
// whether its import has returned.
type importState struct{ ended, exited bool }

func newImports(max int) *imports {
	im := &imports{max: max}
	im.cond = sync.NewCond(&im.mu)
	return im
}

// end records that f's last chunk arrived and waits until fewer than max
// ended files are importing (or ctx ends).
func (im *imports) end(ctx context.Context, f *importState) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if !f.exited {
		f.ended = true
		im.finishing++
	}
	stop := context.AfterFunc(ctx, func() {
		im.mu.Lock()
		im.cond.Broadcast()
		im.mu.Unlock()
	})
	defer stop()
	for im.finishing >= im.max && ctx.Err() == nil {
		im.cond.Wait()
	}
}

// exit records that f's import returned.
func (im *imports) exit(f *importState) {
	im.mu.Lock()
	f.exited = true
	if f.ended {
		im.finishing--
		im.cond.Broadcast()
	}
	im.mu.Unlock()
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
	svc, id, err := b.svc(ctx)
	if err != nil {
		return err
	}
	w := chunkWriter{send: func(c []byte) error { return stream.Send(&pb.PullPathResponse{Chunk: c}) }}
	return svc.PullPath(ctx, principal(ctx), id, req.Key, req.Path, w)
}

func (b *bucketsService) PullIpfsPath(req *pb.PullIpfsPathRequest, stream pb.APIService_PullIpfsPathServer) error {
	svc, _, err := b.svc(stream.Context())
	if err != nil {
		return err
	}
	w := chunkWriter{send: func(c []byte) error { return stream.Send(&pb.PullIpfsPathResponse{Chunk: c}) }}
	return svc.PullIPFSPath(stream.Context(), req.Path, w)
}

func (b *bucketsService) SetPath(ctx context.Context, req *pb.SetPathRequest) (*pb.SetPathResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	c, err := cid.Decode(req.Cid)
	if err != nil {
		return nil, errors.Errorf("", errors.Invalid, "CID %q: %v", req.Cid, err)
	}
	_, err = svc.SetPath(ctx, principal(ctx), id, req.Key, req.Path, c)
	return &pb.SetPathResponse{}, err
}

func (b *bucketsService) MovePath(ctx context.Context, req *pb.MovePathRequest) (*pb.MovePathResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	_, err = svc.MovePath(ctx, principal(ctx), id, req.Key, req.FromPath, req.ToPath)
	return &pb.MovePathResponse{}, err
}

func (b *bucketsService) RemovePath(ctx context.Context, req *pb.RemovePathRequest) (*pb.RemovePathResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	bk, err := svc.RemovePath(ctx, principal(ctx), id, req.Key, req.Path, req.Root)
	if err != nil {
		return nil, err
	}
	return &pb.RemovePathResponse{Root: rootToPB(bk)}, nil
}

func (b *bucketsService) Remove(ctx context.Context, req *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.RemoveResponse{}, svc.Remove(ctx, principal(ctx), id, req.Key)
}

func (b *bucketsService) PushPathAccessRoles(ctx context.Context, req *pb.PushPathAccessRolesRequest) (*pb.PushPathAccessRolesResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	roles := make(map[string]buckets.Role, len(req.Roles))
	for k, v := range req.Roles {
		roles[k] = buckets.Role(v)
	}
	if _, err := svc.SetPathRoles(ctx, principal(ctx), id, req.Key, req.Path, roles); err != nil {
		return nil, err
	}
	return &pb.PushPathAccessRolesResponse{}, nil
}

func (b *bucketsService) PullPathAccessRoles(ctx context.Context, req *pb.PullPathAccessRolesRequest) (*pb.PullPathAccessRolesResponse, error) {
	svc, id, err := b.svc(ctx)
	if err != nil {
		return nil, err
	}
	roles, err := svc.PathRoles(ctx, principal(ctx), id, req.Key, req.Path)
	if err != nil {
		return nil, err
	}
	out := &pb.PullPathAccessRolesResponse{Roles: map[string]pb.PathAccessRole{}}
	for k, v := range roles {
		out.Roles[k] = pb.PathAccessRole(v)
	}
	return out, nil
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
