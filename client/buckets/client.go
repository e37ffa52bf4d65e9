// Package bucketsclient is the Go client of Hub's bucket service
// (api.bucketsd.pb.APIService). Pushes and pulls stream: memory use does not
// grow with the size of the data.
//
// Every call acts on the buckets of the DB named by the context
// (client.WithThread), as whoever the context's credentials name. Errors
// carry the hub's kinds (errors.Is(errors.FailedPrecondition, err) for a
// push against a stale root).
package bucketsclient

import (
	"context"
	"io"
	"strconv"

	"google.golang.org/grpc"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/bucketsdpb"
	hubpb "github.com/selfhub/hub/api/pb/hubbucketspb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
)

// ChunkSize is the size of the chunks PushPath sends.
const ChunkSize = 256 << 10

// Client calls the bucket service, and Hub's extensions of it
// (api.hubbuckets.pb: CAR import).
type Client struct {
	c pb.APIServiceClient
	h hubpb.APIServiceClient
}

// New returns a Client over conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{c: pb.NewAPIServiceClient(conn), h: hubpb.NewAPIServiceClient(conn)}
}

var _ hub.Buckets = (*Client)(nil)

// The contract's types, under the names this package has always used.
type (
	Root          = hub.Bucket
	Links         = hub.BucketLinks
	Item          = hub.BucketItem
	CreateOptions = hub.BucketOptions
	Created       = hub.CreatedBucket
	Pushed        = hub.Pushed
)

func rootFromPB(r *pb.Root) Root {
	if r == nil {
		return Root{}
	}
	out := Root{Key: r.Key, Name: r.Name, Path: r.Path, Thread: r.Thread, Owner: hub.PubKey(r.Owner), Version: int(r.Version),
		KeyID: r.LinkKey, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if len(r.PathMetadata) > 0 {
		out.Paths = make(map[string]hub.PathInfo, len(r.PathMetadata))
		for p, m := range r.PathMetadata {
			out.Paths[p] = hub.PathInfo{Roles: rolesFromPB(m.Roles), UpdatedAt: m.UpdatedAt}
		}
	}
	return out
}

func rolesFromPB(in map[string]pb.PathAccessRole) map[string]hub.PathRole {
	out := make(map[string]hub.PathRole, len(in))
	for k, v := range in {
		out[k] = hub.PathRole(v)
	}
	return out
}

func itemFromPB(p *pb.PathItem) Item {
	if p == nil {
		return Item{}
	}
	it := Item{Cid: p.Cid, Name: p.Name, Path: p.Path, Size: p.Size, IsDir: p.IsDir, ItemsCount: int(p.ItemsCount)}
	for _, sub := range p.Items {
		it.Items = append(it.Items, itemFromPB(sub))
	}
	return it
}

// Create makes a bucket named name.
func (c *Client) Create(ctx context.Context, name string, opts CreateOptions) (Created, error) {
	const op errors.Op = "bucketsclient.Create"
	r, err := c.c.Create(ctx, &pb.CreateRequest{Name: name, Private: opts.Private, BootstrapCid: opts.BootstrapCID})
	if err != nil {
		return Created{}, rpcerr.FromStatus(op, err)
	}
	out := Created{Root: rootFromPB(r.Root), Seed: r.Seed, SeedCID: r.SeedCid}
	if r.Links != nil {
		out.Links = Links{URL: r.Links.Url, WWW: r.Links.Www, IPNS: r.Links.Ipns}
	}
	return out, nil
}

// List returns the buckets in the context's DB.
func (c *Client) List(ctx context.Context) ([]Root, error) {
	const op errors.Op = "bucketsclient.List"
	r, err := c.c.List(ctx, &pb.ListRequest{})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	out := make([]Root, len(r.Roots))
	for i, root := range r.Roots {
		out[i] = rootFromPB(root)
	}
	return out, nil
}

// Root returns the bucket with key.
func (c *Client) Root(ctx context.Context, key string) (Root, error) {
	const op errors.Op = "bucketsclient.Root"
	r, err := c.c.Root(ctx, &pb.RootRequest{Key: key})
	if err != nil {
		return Root{}, rpcerr.FromStatus(op, err)
	}
	return rootFromPB(r.Root), nil
}

// Links returns the bucket's links, for path within it.
func (c *Client) Links(ctx context.Context, key, path string) (Links, error) {
	const op errors.Op = "bucketsclient.Links"
	r, err := c.c.Links(ctx, &pb.LinksRequest{Key: key, Path: path})
	if err != nil {
		return Links{}, rpcerr.FromStatus(op, err)
	}
	return Links{URL: r.Url, WWW: r.Www, IPNS: r.Ipns}, nil
}

// ListPath describes the file or directory at path, with a directory's
// entries one level deep.
func (c *Client) ListPath(ctx context.Context, key, path string) (Item, Root, error) {
	const op errors.Op = "bucketsclient.ListPath"
	r, err := c.c.ListPath(ctx, &pb.ListPathRequest{Key: key, Path: path})
	if err != nil {
		return Item{}, Root{}, rpcerr.FromStatus(op, err)
	}
	return itemFromPB(r.Item), rootFromPB(r.Root), nil
}

// PushPath streams r, to its end, to the file at path. root is the bucket
// root the caller last saw (Root.Path); the hub refuses the push with
// FailedPrecondition if the bucket has moved on. An empty root forces the
// push.
func (c *Client) PushPath(ctx context.Context, key, path string, r io.Reader, root string) (Pushed, error) {
	return c.PushPathProgress(ctx, key, path, r, root, nil)
}

// PushPathProgress is PushPath that calls progress, if not nil, with the
// bytes the hub has received so far (about every MiB).
func (c *Client) PushPathProgress(ctx context.Context, key, path string, r io.Reader, root string, progress func(int64)) (Pushed, error) {
	const op errors.Op = "bucketsclient.PushPath"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.c.PushPath(ctx)
	if err != nil {
		return Pushed{}, rpcerr.FromStatus(op, err)
	}
	type result struct {
		ev  *pb.PushPathResponse_Event
		err error
	}
	done := make(chan result, 1)
	go func() { // read events while sending, so neither side blocks the other
		for {
			m, err := stream.Recv()
			if err != nil {
				done <- result{err: err}
				return
			}
			ev := m.GetEvent()
			if ev.GetPath() != "" {
				done <- result{ev: ev}
				return
			}
			if progress != nil && ev != nil {
				progress(ev.Bytes)
			}
		}
	}()
	sendErr := func() error {
		if err := stream.Send(&pb.PushPathRequest{Payload: &pb.PushPathRequest_Header_{Header: &pb.PushPathRequest_Header{Key: key, Path: path, Root: root}}}); err != nil {
			return err
		}
		buf := make([]byte, ChunkSize)
		for {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				if err := stream.Send(&pb.PushPathRequest{Payload: &pb.PushPathRequest_Chunk{Chunk: buf[:n]}}); err != nil {
					return err
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return stream.CloseSend()
			}
			if err != nil {
				// Our reader failed: cancel, so the hub drops the push.
				cancel()
				return errors.E(op, errors.Canceled, err)
			}
		}
	}()
	if k := errors.KindOf(sendErr); k == errors.Canceled {
		<-done
		return Pushed{}, sendErr
	}
	// A send error (io.EOF) means the hub ended the call: its status is
	// what Recv returns.
	res := <-done
	if res.err != nil {
		if res.err == io.EOF {
			return Pushed{}, errors.E(op, errors.Internal, "the hub closed the push without a result")
		}
		return Pushed{}, rpcerr.FromStatus(op, res.err)
	}
	size, _ := strconv.ParseInt(res.ev.Size, 10, 64)
	cid := res.ev.Path
	if len(cid) > len("/ipfs/") && cid[:6] == "/ipfs/" {
		cid = cid[6:]
	}
	return Pushed{Cid: cid, Size: size, Root: rootFromPB(res.ev.Root)}, nil
}

// PullPath streams the file at path to w and returns the bytes written.
func (c *Client) PullPath(ctx context.Context, key, path string, w io.Writer) (int64, error) {
	const op errors.Op = "bucketsclient.PullPath"
	stream, err := c.c.PullPath(ctx, &pb.PullPathRequest{Key: key, Path: path})
	if err != nil {
		return 0, rpcerr.FromStatus(op, err)
	}
	return drain(op, stream.Recv, w)
}

// drain writes the chunks recv returns to w until the stream ends, and
// returns the bytes written.
func drain[M interface{ GetChunk() []byte }](op errors.Op, recv func() (M, error), w io.Writer) (int64, error) {
	var n int64
	for {
		m, err := recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, rpcerr.FromStatus(op, err)
		}
		k, err := w.Write(m.GetChunk())
		n += int64(k)
		if err != nil {
			return n, errors.E(op, err)
		}
	}
}

// SetPath links the existing DAG cid at path (an empty path replaces the
// whole root).
func (c *Client) SetPath(ctx context.Context, key, path, cid string) error {
	const op errors.Op = "bucketsclient.SetPath"
	_, err := c.c.SetPath(ctx, &pb.SetPathRequest{Key: key, Path: path, Cid: cid})
	return rpcerr.FromStatus(op, err)
}

// MovePath moves the file or directory at from to to.
func (c *Client) MovePath(ctx context.Context, key, from, to string) error {
	const op errors.Op = "bucketsclient.MovePath"
	_, err := c.c.MovePath(ctx, &pb.MovePathRequest{Key: key, FromPath: from, ToPath: to})
	return rpcerr.FromStatus(op, err)
}

// RemovePath removes the file or directory at path, fast-forward only
// against root as PushPath.
func (c *Client) RemovePath(ctx context.Context, key, path, root string) (Root, error) {
	const op errors.Op = "bucketsclient.RemovePath"
	r, err := c.c.RemovePath(ctx, &pb.RemovePathRequest{Key: key, Path: path, Root: root})
	if err != nil {
		return Root{}, rpcerr.FromStatus(op, err)
	}
	return rootFromPB(r.Root), nil
}

// Remove deletes the bucket.
func (c *Client) Remove(ctx context.Context, key string) error {
	const op errors.Op = "bucketsclient.Remove"
	_, err := c.c.Remove(ctx, &pb.RemoveRequest{Key: key})
	return rpcerr.FromStatus(op, err)
}

// File is one file for PushFiles.
type File struct {
	Path string
	Data io.Reader
}

// FileChunks yields the files, one after another, as PushPaths' chunks of
// at most ChunkSize bytes, each file ended by a chunk with no data. A
// reader's error ends the chunks with it, Canceled.
func FileChunks(files []File) func() (hub.Chunk, error) {
	const op errors.Op = "bucketsclient.FileChunks"
	buf := make([]byte, ChunkSize)
	i, ended := 0, false
	return func() (hub.Chunk, error) {
		if i == len(files) {
			return hub.Chunk{}, io.EOF
		}
		f := files[i]
		if ended { // the last chunk of f was sent: end it
			i, ended = i+1, false
			return hub.Chunk{Path: f.Path}, nil
		}
		n, err := io.ReadFull(f.Data, buf)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			ended = true
		} else if err != nil {
			return hub.Chunk{}, errors.E(op, errors.Canceled, err)
		}
		if n == 0 {
			i, ended = i+1, false
			return hub.Chunk{Path: f.Path}, nil
		}
		return hub.Chunk{Path: f.Path, Data: buf[:n]}, nil
	}
}

// PushFiles is PushPaths of whole files, sent one after another.
func (c *Client) PushFiles(ctx context.Context, key, root string, files []File) ([]Pushed, Root, error) {
	return c.PushPaths(ctx, key, root, FileChunks(files))
}

// PushPaths streams the chunks next yields (see hub.Buckets) in one call;
// the hub links every file into the bucket in one change, fast-forward
// only against root as PushPath (empty forces). It returns what was
// stored for each file and the bucket at its new root. An error from next
// cancels the call, and the hub stores nothing.
func (c *Client) PushPaths(ctx context.Context, key, root string, next func() (hub.Chunk, error)) ([]Pushed, Root, error) {
	const op errors.Op = "bucketsclient.PushPaths"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.c.PushPaths(ctx)
	if err != nil {
		return nil, Root{}, rpcerr.FromStatus(op, err)
	}
	type result struct {
		files []Pushed
		root  Root
		err   error
	}
	done := make(chan result, 1)
	go func() { // read while sending, so neither side blocks the other
		var res result
		for {
			m, err := stream.Recv()
			if err == io.EOF {
				done <- res
				return
			}
			if err != nil {
				done <- result{err: err}
				return
			}
			res.files = append(res.files, Pushed{Path: m.Path, Cid: m.Cid, Size: m.Size})
			res.root = rootFromPB(m.Root)
		}
	}()
	sendErr := func() error {
		if err := stream.Send(&pb.PushPathsRequest{Payload: &pb.PushPathsRequest_Header_{Header: &pb.PushPathsRequest_Header{Key: key, Root: root}}}); err != nil {
			return err
		}
		for {
			ch, err := next()
			if err == io.EOF {
				return stream.CloseSend()
			}
			if err != nil {
				cancel() // our source failed: the hub drops the push
				return errors.E(op, errors.Canceled, err)
			}
			if err := stream.Send(&pb.PushPathsRequest{Payload: &pb.PushPathsRequest_Chunk_{Chunk: &pb.PushPathsRequest_Chunk{Path: ch.Path, Data: ch.Data}}}); err != nil {
				return err
			}
		}
	}()
	if errors.KindOf(sendErr) == errors.Canceled {
		<-done
		return nil, Root{}, sendErr
	}
	res := <-done
	if res.err != nil {
		return nil, Root{}, rpcerr.FromStatus(op, res.err)
	}
	return res.files, res.root, nil
}

// SetPathRoles merges roles into those given on path (hub.PathNone
// removes an identity's role). The caller needs Admin on path.
func (c *Client) SetPathRoles(ctx context.Context, key, path string, roles map[string]hub.PathRole) error {
	const op errors.Op = "bucketsclient.SetPathRoles"
	req := &pb.PushPathAccessRolesRequest{Key: key, Path: path, Roles: map[string]pb.PathAccessRole{}}
	for k, v := range roles {
		req.Roles[k] = pb.PathAccessRole(v)
	}
	_, err := c.c.PushPathAccessRoles(ctx, req)
	return rpcerr.FromStatus(op, err)
}

// PathRoles returns the roles given on path itself.
func (c *Client) PathRoles(ctx context.Context, key, path string) (map[string]hub.PathRole, error) {
	const op errors.Op = "bucketsclient.PathRoles"
	r, err := c.c.PullPathAccessRoles(ctx, &pb.PullPathAccessRolesRequest{Key: key, Path: path})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	return rolesFromPB(r.Roles), nil
}

// ListIPFSPath describes the file or directory at an IPFS path
// (/ipfs/<cid>[/path]) this hub stores, with a directory's entries one
// level deep. Listing under a bucket's root CID reads one fixed version
// of the bucket, whatever pushes happen meanwhile.
func (c *Client) ListIPFSPath(ctx context.Context, path string) (Item, error) {
	const op errors.Op = "bucketsclient.ListIPFSPath"
	r, err := c.c.ListIpfsPath(ctx, &pb.ListIpfsPathRequest{Path: path})
	if err != nil {
		return Item{}, rpcerr.FromStatus(op, err)
	}
	return itemFromPB(r.Item), nil
}

// PullIPFSPath streams the file at an IPFS path (/ipfs/<cid>[/path]) to w
// and returns the bytes written.
func (c *Client) PullIPFSPath(ctx context.Context, path string, w io.Writer) (int64, error) {
	const op errors.Op = "bucketsclient.PullIPFSPath"
	stream, err := c.c.PullIpfsPath(ctx, &pb.PullIpfsPathRequest{Path: path})
	if err != nil {
		return 0, rpcerr.FromStatus(op, err)
	}
	return drain(op, stream.Recv, w)
}
