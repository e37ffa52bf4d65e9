package buckets

import (
	"context"
	"io"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/buckets/bucketstest"
	"github.com/selfhub/hub/errors"
)

// TestConformance runs the buckets conformance suite against the service
// over hubd's on-disk stores and over in-memory ones. The gRPC client runs
// it in test/buckets_conformance_test.go.
func TestConformance(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		bucketstest.Run(t, func(t *testing.T) bucketstest.Buckets { return serviceBuckets{newFixture(t)} })
	})
	t.Run("mem", func(t *testing.T) {
		bucketstest.Run(t, func(t *testing.T) bucketstest.Buckets { return serviceBuckets{newMemFixture(t)} })
	})
}

// serviceBuckets is the service as bucketstest.Buckets, for the fixture's
// principal and thread.
type serviceBuckets struct{ f fixture }

func rootOf(b Bucket) bucketstest.Root {
	return bucketstest.Root{Key: b.Key, Name: b.Name, Path: b.Path}
}

func itemOf(it Item) bucketstest.Item {
	out := bucketstest.Item{Name: it.Name, Cid: it.Cid.String(), Size: it.Size, IsDir: it.IsDir}
	for _, e := range it.Items {
		out.Items = append(out.Items, itemOf(e))
	}
	return out
}

func (s serviceBuckets) Create(ctx context.Context, name string, private bool) (bucketstest.Root, error) {
	b, _, err := s.f.svc.Create(ctx, s.f.p, s.f.thread, name, private, cid.Undef)
	return rootOf(b), err
}

func (s serviceBuckets) Root(ctx context.Context, key string) (bucketstest.Root, error) {
	b, err := s.f.svc.Get(ctx, s.f.p, s.f.thread, key)
	return rootOf(b), err
}

func (s serviceBuckets) PushPath(ctx context.Context, key, path string, r io.Reader, root string) (bucketstest.Pushed, error) {
	res, err := s.f.svc.PushPath(ctx, s.f.p, s.f.thread, key, path, r, root)
	if err != nil {
		return bucketstest.Pushed{}, err
	}
	return bucketstest.Pushed{Cid: res.Cid.String(), Size: res.Size, Root: rootOf(res.Bucket)}, nil
}

func (s serviceBuckets) PushPaths(ctx context.Context, key, root string, files []bucketstest.File) ([]bucketstest.Pushed, bucketstest.Root, error) {
	bt, err := s.f.svc.NewBatch(ctx, s.f.p, s.f.thread, key, root)
	if err != nil {
		return nil, bucketstest.Root{}, err
	}
	defer bt.Discard()
	for _, f := range files {
		if _, err := bt.Add(ctx, f.Path, f.Data); err != nil {
			return nil, bucketstest.Root{}, err
		}
	}
	stored, b, err := bt.Commit(ctx)
	if err != nil {
		return nil, bucketstest.Root{}, err
	}
	var out []bucketstest.Pushed
	for _, f := range stored {
		out = append(out, bucketstest.Pushed{Path: f.Path, Cid: f.Cid.String(), Size: f.Size})
	}
	return out, rootOf(b), nil
}

func (s serviceBuckets) PullPath(ctx context.Context, key, path string, w io.Writer) error {
	return s.f.svc.PullPath(ctx, s.f.p, s.f.thread, key, path, w)
}

func (s serviceBuckets) ListPath(ctx context.Context, key, path string) (bucketstest.Item, error) {
	it, _, err := s.f.svc.ListPath(ctx, s.f.p, s.f.thread, key, path)
	if err != nil {
		return bucketstest.Item{}, err
	}
	return itemOf(it), nil
}

func (s serviceBuckets) SetPath(ctx context.Context, key, path, c string) error {
	parsed, err := cid.Decode(c)
	if err != nil {
		return errors.Errorf("", errors.Invalid, "CID %q: %v", c, err)
	}
	_, err = s.f.svc.SetPath(ctx, s.f.p, s.f.thread, key, path, parsed)
	return err
}

func (s serviceBuckets) MovePath(ctx context.Context, key, from, to string) error {
	_, err := s.f.svc.MovePath(ctx, s.f.p, s.f.thread, key, from, to)
	return err
}

func (s serviceBuckets) RemovePath(ctx context.Context, key, path, root string) (bucketstest.Root, error) {
	b, err := s.f.svc.RemovePath(ctx, s.f.p, s.f.thread, key, path, root)
	return rootOf(b), err
}

func (s serviceBuckets) Remove(ctx context.Context, key string) error {
	return s.f.svc.Remove(ctx, s.f.p, s.f.thread, key)
}
