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

// Root describes a bucket and its current root.
type Root struct {
	Key       string // the bucket key, an IPNS name
	Name      string
	Path      string // /ipfs/<root cid>
	Thread    string
	Owner     string
	Version   int
	CreatedAt int64 // Unix ns
	UpdatedAt int64 // Unix ns
}

// Links are a bucket's addresses.
type Links struct {
	URL, WWW, IPNS string
}

// Item is a file or directory in a bucket.
type Item struct {
	Cid        string
	Name       string
	Path       string // /ipfs/<root>/<path>
	Size       int64
	IsDir      bool
	Items      []Item
	ItemsCount int
}

func rootFromPB(r *pb.Root) Root {
	if r == nil {
		return Root{}
	}
	return Root{Key: r.Key, Name: r.Name, Path: r.Path, Thread: r.Thread, Owner: r.Owner, Version: int(r.Version),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
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

// CreateOptions are Create's options.
type CreateOptions struct {
	Private      bool   // encrypt the contents (the hub holds the keys)
	BootstrapCID string // a UnixFS directory already in the hub
}

// Created is what Create returns.
type Created struct {
	Root    Root
	Links   Links
	Seed    []byte // the contents of the seed file at the bucket's root
	SeedCID string
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
	r, err := c.c.List(ctx, &pb.ListRequest{})
	if err != nil {
		return nil, rpcerr.FromStatus("bucketsclient.List", err)
	}
	out := make([]Root, len(r.Roots))
	for i, root := range r.Roots {
		out[i] = rootFromPB(root)
	}
	return out, nil
}

// Root returns the bucket with key.
func (c *Client) Root(ctx context.Context, key string) (Root, error) {
	r, err := c.c.Root(ctx, &pb.RootRequest{Key: key})
	if err != nil {
		return Root{}, rpcerr.FromStatus("bucketsclient.Root", err)
	}
	return rootFromPB(r.Root), nil
}

// Links returns the bucket's links, for path within it.
func (c *Client) Links(ctx context.Context, key, path string) (Links, error) {
	r, err := c.c.Links(ctx, &pb.LinksRequest{Key: key, Path: path})
	if err != nil {
		return Links{}, rpcerr.FromStatus("bucketsclient.Links", err)
	}
	return Links{URL: r.Url, WWW: r.Www, IPNS: r.Ipns}, nil
}

// ListPath describes the file or directory at path, with a directory's
// entries one level deep.
func (c *Client) ListPath(ctx context.Context, key, path string) (Item, Root, error) {
	r, err := c.c.ListPath(ctx, &pb.ListPathRequest{Key: key, Path: path})
	if err != nil {
		return Item{}, Root{}, rpcerr.FromStatus("bucketsclient.ListPath", err)
	}
	return itemFromPB(r.Item), rootFromPB(r.Root), nil
}

// Pushed is what PushPath stored.
type Pushed struct {
	Cid  string // the file's CID
	Size int64
	Root Root // the bucket at its new root
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
	_, err := c.c.SetPath(ctx, &pb.SetPathRequest{Key: key, Path: path, Cid: cid})
	return rpcerr.FromStatus("bucketsclient.SetPath", err)
}

// MovePath moves the file or directory at from to to.
func (c *Client) MovePath(ctx context.Context, key, from, to string) error {
	_, err := c.c.MovePath(ctx, &pb.MovePathRequest{Key: key, FromPath: from, ToPath: to})
	return rpcerr.FromStatus("bucketsclient.MovePath", err)
}

// RemovePath removes the file or directory at path, fast-forward only
// against root as PushPath.
func (c *Client) RemovePath(ctx context.Context, key, path, root string) (Root, error) {
	r, err := c.c.RemovePath(ctx, &pb.RemovePathRequest{Key: key, Path: path, Root: root})
	if err != nil {
		return Root{}, rpcerr.FromStatus("bucketsclient.RemovePath", err)
	}
	return rootFromPB(r.Root), nil
}

// Remove deletes the bucket.
func (c *Client) Remove(ctx context.Context, key string) error {
	_, err := c.c.Remove(ctx, &pb.RemoveRequest{Key: key})
	return rpcerr.FromStatus("bucketsclient.Remove", err)
}

// File is one file for PushPaths.
type File struct {
	Path string
	Data io.Reader
}

// PushedFile is what PushPaths stored for one file.
type PushedFile struct {
	Path string
	Cid  string
	Size int64
}

// PushPaths streams files, one after another, in one call; the hub links
// them all into the bucket in one change, fast-forward only against root
// as PushPath (empty forces). It returns what was stored for each file and
// the bucket at its new root.
func (c *Client) PushPaths(ctx context.Context, key, root string, files []File) ([]PushedFile, Root, error) {
	const op errors.Op = "bucketsclient.PushPaths"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.c.PushPaths(ctx)
	if err != nil {
		return nil, Root{}, rpcerr.FromStatus(op, err)
	}
	type result struct {
		files []PushedFile
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
			res.files = append(res.files, PushedFile{Path: m.Path, Cid: m.Cid, Size: m.Size})
			res.root = rootFromPB(m.Root)
		}
	}()
	sendErr := func() error {
		if err := stream.Send(&pb.PushPathsRequest{Payload: &pb.PushPathsRequest_Header_{Header: &pb.PushPathsRequest_Header{Key: key, Root: root}}}); err != nil {
			return err
		}
		buf := make([]byte, ChunkSize)
		for _, f := range files {
			for {
				n, err := io.ReadFull(f.Data, buf)
				if n > 0 {
					if err := stream.Send(&pb.PushPathsRequest{Payload: &pb.PushPathsRequest_Chunk_{Chunk: &pb.PushPathsRequest_Chunk{Path: f.Path, Data: buf[:n]}}}); err != nil {
						return err
					}
				}
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					break
				}
				if err != nil {
					cancel() // our reader failed: the hub drops the push
					return errors.E(op, errors.Canceled, err)
				}
			}
			// A chunk with no data ends the file.
			if err := stream.Send(&pb.PushPathsRequest{Payload: &pb.PushPathsRequest_Chunk_{Chunk: &pb.PushPathsRequest_Chunk{Path: f.Path}}}); err != nil {
				return err
			}
		}
		return stream.CloseSend()
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

// Roles are path access roles by identity public-key string or "*":
// 0 None, 1 Reader, 2 Writer, 3 Admin.
type Roles map[string]int

// PushPathAccessRoles merges roles into those given on path (None removes
// an identity's role). The caller needs Admin on path.
func (c *Client) PushPathAccessRoles(ctx context.Context, key, path string, roles Roles) error {
	req := &pb.PushPathAccessRolesRequest{Key: key, Path: path, Roles: map[string]pb.PathAccessRole{}}
	for k, v := range roles {
		req.Roles[k] = pb.PathAccessRole(v)
	}
	_, err := c.c.PushPathAccessRoles(ctx, req)
	return rpcerr.FromStatus("bucketsclient.PushPathAccessRoles", err)
}

// PullPathAccessRoles returns the roles given on path itself.
func (c *Client) PullPathAccessRoles(ctx context.Context, key, path string) (Roles, error) {
	r, err := c.c.PullPathAccessRoles(ctx, &pb.PullPathAccessRolesRequest{Key: key, Path: path})
	if err != nil {
		return nil, rpcerr.FromStatus("bucketsclient.PullPathAccessRoles", err)
	}
	out := Roles{}
	for k, v := range r.Roles {
		out[k] = int(v)
	}
	return out, nil
}

// ListIPFSPath describes the file or directory at an IPFS path
// (/ipfs/<cid>[/path]) this hub stores, with a directory's entries one
// level deep. Listing under a bucket's root CID reads one fixed version
// of the bucket, whatever pushes happen meanwhile.
func (c *Client) ListIPFSPath(ctx context.Context, path string) (Item, error) {
	r, err := c.c.ListIpfsPath(ctx, &pb.ListIpfsPathRequest{Path: path})
	if err != nil {
		return Item{}, rpcerr.FromStatus("bucketsclient.ListIPFSPath", err)
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
