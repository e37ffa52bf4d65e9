package buckets

import (
	"bytes"
	"context"
	"io"
	"net/url"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

var (
	_ hub.BucketServer = (*Service)(nil)
	_ hub.PathOpener   = bound{}
	_ hub.PathsRemover = bound{}
)

// Buckets returns the service bound to the principal p and the DB db: the
// hub.Buckets that the API serves to p. It converts between the service's
// types and the contract's, and adds to a private bucket's links the
// read-only capability Config.IssueLink signs.
func (s *Service) Buckets(p hub.Principal, db hub.ThreadID) hub.Buckets {
	return bound{s: s, p: p, thread: db}
}

// bound is the service as one caller sees the buckets of one DB.
type bound struct {
	s      *Service
	p      hub.Principal
	thread threads.ID
}

// contract returns b as the contract's Bucket.
func (b Bucket) contract() hub.Bucket {
	out := hub.Bucket{Key: b.Key, Name: b.Name, Path: b.Path, Thread: b.Thread.String(), Owner: hub.PubKey(b.Owner),
		Version: b.Version, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt, Paths: map[string]hub.PathInfo{}}
	if b.IsPrivate() {
		out.KeyID = KeyID(b.LinkKey)
	}
	for p, m := range b.Metadata {
		out.Paths[p] = hub.PathInfo{Roles: m.Roles, UpdatedAt: m.UpdatedAt}
	}
	return out
}

// itemOf returns it as the contract's item; base is the IPFS path it lies
// under (/ipfs/<root>, or "" for ListIPFSPath).
func itemOf(base string, it Item) hub.BucketItem {
	p := base
	if it.Path != "" {
		p += "/" + it.Path
	}
	out := hub.BucketItem{Cid: it.Cid.String(), Name: it.Name, Path: p, Size: it.Size, IsDir: it.IsDir, ItemsCount: it.ItemsCount}
	for _, sub := range it.Items {
		out.Items = append(out.Items, itemOf(base, sub))
	}
	return out
}

// parseCID parses a CID the caller sent; what names it says which.
func parseCID(op errors.Op, what, c string) (cid.Cid, error) {
	parsed, err := cid.Decode(c)
	if err != nil {
		return cid.Undef, errors.Errorf(op, errors.Invalid, "%s %q is not a CID: %v", what, errors.Clip(c), err)
	}
	return parsed, nil
}

func (b bound) List(ctx context.Context) ([]hub.Bucket, error) {
	list, err := b.s.List(ctx, b.p, b.thread)
	if err != nil {
		return nil, err
	}
	out := make([]hub.Bucket, len(list))
	for i, bk := range list {
		out[i] = bk.contract()
	}
	return out, nil
}

func (b bound) Create(ctx context.Context, name string, opts hub.BucketOptions) (hub.CreatedBucket, error) {
	const op errors.Op = "buckets.Create"
	boot := cid.Undef
	if opts.BootstrapCID != "" {
		var err error
		if boot, err = parseCID(op, "bootstrap CID", opts.BootstrapCID); err != nil {
			return hub.CreatedBucket{}, err
		}
	}
	bk, seed, err := b.s.Create(ctx, b.p, b.thread, name, opts.Private, boot)
	if err != nil {
		return hub.CreatedBucket{}, err
	}
	links, err := b.Links(ctx, bk.Key, "")
	if err != nil {
		return hub.CreatedBucket{}, err
	}
	var buf bytes.Buffer
	if err := b.s.PullPath(ctx, b.p, b.thread, bk.Key, SeedName, &buf); err != nil {
		return hub.CreatedBucket{}, err
	}
	return hub.CreatedBucket{Root: bk.contract(), Links: links, Seed: buf.Bytes(), SeedCID: seed.String()}, nil
}

func (b bound) Root(ctx context.Context, key string) (hub.Bucket, error) {
	bk, err := b.s.Get(ctx, b.p, b.thread, key)
	return bk.contract(), err
}

func (b bound) Links(ctx context.Context, key, path string) (hub.BucketLinks, error) {
	l, err := b.s.Links(ctx, b.p, b.thread, key, path)
	if err != nil {
		return hub.BucketLinks{}, err
	}
	out := hub.BucketLinks{URL: l.URL, WWW: l.WWW, IPNS: l.IPNS}
	if l.Private && b.s.cfg.IssueLink != nil {
		// A read-only capability for the path, acting for the caller: the
		// caller's own token never goes into a URL.
		link, err := b.s.cfg.IssueLink(ctx, b.p, b.thread.String(), key, l.Path)
		if err != nil {
			return hub.BucketLinks{}, err
		}
		q := "?token=" + url.QueryEscape(link)
		out.URL, out.IPNS = out.URL+q, out.IPNS+q
		if out.WWW != "" {
			out.WWW += q
		}
	}
	return out, nil
}

func (b bound) ListPath(ctx context.Context, key, path string) (hub.BucketItem, hub.Bucket, error) {
	it, bk, err := b.s.ListPath(ctx, b.p, b.thread, key, path)
	if err != nil {
		return hub.BucketItem{}, hub.Bucket{}, err
	}
	return itemOf(bk.Path, it), bk.contract(), nil
}

func (b bound) OpenPath(ctx context.Context, key, path string) (hub.BucketItem, hub.Bucket, io.ReadSeeker, error) {
	it, bk, r, err := b.s.OpenPath(ctx, b.p, b.thread, key, path)
	if err != nil {
		return hub.BucketItem{}, hub.Bucket{}, nil, err
	}
	return itemOf(bk.Path, it), bk.contract(), r, nil
}

func (b bound) ListIPFSPath(ctx context.Context, path string) (hub.BucketItem, error) {
	it, err := b.s.ListIPFSPath(ctx, path)
	if err != nil {
		return hub.BucketItem{}, err
	}
	out := itemOf("", it)
	out.Path = path
	return out, nil
}

func (b bound) PushPath(ctx context.Context, key, path string, r io.Reader, root string) (hub.Pushed, error) {
	res, err := b.s.PushPath(ctx, b.p, b.thread, key, path, r, root)
	if err != nil {
		return hub.Pushed{}, err
	}
	return hub.Pushed{Cid: res.Cid.String(), Size: res.Size, Root: res.Bucket.contract()}, nil
}

func (b bound) PushPaths(ctx context.Context, key, root string, next func() (hub.Chunk, error)) ([]hub.Pushed, hub.Bucket, error) {
	files, bk, err := b.s.PushPaths(ctx, b.p, b.thread, key, root, next)
	if err != nil {
		return nil, hub.Bucket{}, err
	}
	out := make([]hub.Pushed, len(files))
	for i, f := range files {
		out[i] = hub.Pushed{Path: f.Path, Cid: f.Cid.String(), Size: f.Size}
	}
	return out, bk.contract(), nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (b bound) PullPath(ctx context.Context, key, path string, w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	err := b.s.PullPath(ctx, b.p, b.thread, key, path, cw)
	return cw.n, err
}

func (b bound) PullIPFSPath(ctx context.Context, path string, w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	err := b.s.PullIPFSPath(ctx, path, cw)
	return cw.n, err
}

func (b bound) SetPath(ctx context.Context, key, path, c string) error {
	const op errors.Op = "buckets.SetPath"
	parsed, err := parseCID(op, "CID", c)
	if err != nil {
		return err
	}
	_, err = b.s.SetPath(ctx, b.p, b.thread, key, path, parsed)
	return err
}

func (b bound) MovePath(ctx context.Context, key, from, to string) error {
	_, err := b.s.MovePath(ctx, b.p, b.thread, key, from, to)
	return err
}

func (b bound) RemovePath(ctx context.Context, key, path, root string) (hub.Bucket, error) {
	bk, err := b.s.RemovePath(ctx, b.p, b.thread, key, path, root)
	if err != nil {
		return hub.Bucket{}, err
	}
	return bk.contract(), nil
}

func (b bound) RemovePaths(ctx context.Context, key string, paths []string, root string) (hub.Bucket, error) {
	bk, err := b.s.RemovePaths(ctx, b.p, b.thread, key, paths, root)
	if err != nil {
		return hub.Bucket{}, err
	}
	return bk.contract(), nil
}

func (b bound) Remove(ctx context.Context, key string) error {
	return b.s.Remove(ctx, b.p, b.thread, key)
}

func (b bound) PathRoles(ctx context.Context, key, path string) (map[string]hub.PathRole, error) {
	return b.s.PathRoles(ctx, b.p, b.thread, key, path)
}

func (b bound) SetPathRoles(ctx context.Context, key, path string, roles map[string]hub.PathRole) error {
	_, err := b.s.SetPathRoles(ctx, b.p, b.thread, key, path, roles)
	return err
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if n > 0 && p.progress != nil {
		p.progress(p.n)
	}
	return n, err
}

func (b bound) ImportCAR(ctx context.Context, key, path string, r io.Reader, opts hub.CAROptions) (hub.ImportedCAR, error) {
	const op errors.Op = "buckets.ImportCAR"
	carRoot := cid.Undef
	if opts.CARRoot != "" {
		var err error
		if carRoot, err = parseCID(op, "car_root", opts.CARRoot); err != nil {
			return hub.ImportedCAR{}, err
		}
	}
	pr := &progressReader{r: r, progress: opts.Progress}
	res, err := b.s.ImportCAR(ctx, b.p, b.thread, key, path, opts.Root, carRoot, pr)
	if err != nil {
		return hub.ImportedCAR{}, err
	}
	return hub.ImportedCAR{Cid: res.Cid.String(), Blocks: res.Blocks, Bytes: pr.n, Root: res.Bucket.contract()}, nil
}
