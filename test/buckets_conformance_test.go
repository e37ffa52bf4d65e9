package test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/selfhub/hub/buckets/bucketstest"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/internal/testhub"
)

// TestBucketsConformance runs the buckets conformance suite against the Go
// client and a real hubd, each subtest as a new developer with a DB of
// their own. The service runs it in buckets/conformance_test.go.
func TestBucketsConformance(t *testing.T) {
	h := testhub.Start(t, nil)
	n := 0
	bucketstest.Run(t, func(t *testing.T) bucketstest.Buckets {
		n++
		w := newBucketsUser(t, h, fmt.Sprintf("conform%d", n))
		md, _ := metadata.FromOutgoingContext(w.ctx)
		return clientBuckets{md: md, bc: w.bc}
	})
}

// clientBuckets is the Go client as bucketstest.Buckets: every call
// carries md, a developer's credentials and thread.
type clientBuckets struct {
	md metadata.MD
	bc *bucketsclient.Client
}

func (c clientBuckets) ctx(ctx context.Context) context.Context {
	return metadata.NewOutgoingContext(ctx, c.md)
}

func rootOfClient(r bucketsclient.Root) bucketstest.Root {
	return bucketstest.Root{Key: r.Key, Name: r.Name, Path: r.Path}
}

func itemOfClient(it bucketsclient.Item) bucketstest.Item {
	out := bucketstest.Item{Name: it.Name, Cid: it.Cid, Size: it.Size, IsDir: it.IsDir}
	for _, e := range it.Items {
		out.Items = append(out.Items, itemOfClient(e))
	}
	return out
}

func (c clientBuckets) Create(ctx context.Context, name string, private bool) (bucketstest.Root, error) {
	r, err := c.bc.Create(c.ctx(ctx), name, bucketsclient.CreateOptions{Private: private})
	return rootOfClient(r.Root), err
}

func (c clientBuckets) Root(ctx context.Context, key string) (bucketstest.Root, error) {
	r, err := c.bc.Root(c.ctx(ctx), key)
	return rootOfClient(r), err
}

func (c clientBuckets) PushPath(ctx context.Context, key, path string, r io.Reader, root string) (bucketstest.Pushed, error) {
	p, err := c.bc.PushPath(c.ctx(ctx), key, path, r, root)
	return bucketstest.Pushed{Cid: p.Cid, Size: p.Size, Root: rootOfClient(p.Root)}, err
}

func (c clientBuckets) PushPaths(ctx context.Context, key, root string, files []bucketstest.File) ([]bucketstest.Pushed, bucketstest.Root, error) {
	in := make([]bucketsclient.File, len(files))
	for i, f := range files {
		in[i] = bucketsclient.File{Path: f.Path, Data: f.Data}
	}
	stored, r, err := c.bc.PushPaths(c.ctx(ctx), key, root, in)
	var out []bucketstest.Pushed
	for _, f := range stored {
		out = append(out, bucketstest.Pushed{Path: f.Path, Cid: f.Cid, Size: f.Size})
	}
	return out, rootOfClient(r), err
}

func (c clientBuckets) PullPath(ctx context.Context, key, path string, w io.Writer) error {
	_, err := c.bc.PullPath(c.ctx(ctx), key, path, w)
	return err
}

func (c clientBuckets) ListPath(ctx context.Context, key, path string) (bucketstest.Item, error) {
	it, _, err := c.bc.ListPath(c.ctx(ctx), key, path)
	return itemOfClient(it), err
}

func (c clientBuckets) SetPath(ctx context.Context, key, path, cid string) error {
	return c.bc.SetPath(c.ctx(ctx), key, path, cid)
}

func (c clientBuckets) MovePath(ctx context.Context, key, from, to string) error {
	return c.bc.MovePath(c.ctx(ctx), key, from, to)
}

func (c clientBuckets) RemovePath(ctx context.Context, key, path, root string) (bucketstest.Root, error) {
	r, err := c.bc.RemovePath(c.ctx(ctx), key, path, root)
	return rootOfClient(r), err
}

func (c clientBuckets) Remove(ctx context.Context, key string) error {
	return c.bc.Remove(c.ctx(ctx), key)
}
