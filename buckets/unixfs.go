package buckets

import (
	"context"
	stderrors "errors"
	"io"
	"os"

	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// DefaultProfile is the name of the UnixFS import profile buckets use
// unless configured otherwise: unixfs-v1-2025 (IPIP-499), so the same bytes
// get the same CID as kubo with that profile: CIDv1, SHA2-256, raw leaves,
// 1 MiB chunks, balanced layout with 1024 links per node, HAMT directories
// past 256 KiB of estimated block size.
const DefaultProfile = "unixfs-v1-2025"

// ParseProfile returns the IPIP-499 import profile called name:
// unixfs-v1-2025, or unixfs-v0-2015 (CIDv0, 256 KiB chunks, dag-pb leaves:
// what older IPFS nodes produce).
func ParseProfile(name string) (uio.UnixFSProfile, error) {
	const op errors.Op = "buckets.ParseProfile"
	switch name {
	case "unixfs-v1-2025":
		return uio.UnixFS_v1_2025, nil
	case "unixfs-v0-2015":
		return uio.UnixFS_v0_2015, nil
	}
	return uio.UnixFSProfile{}, errors.Errorf(op, errors.Invalid, "UnixFS profile %q is not unixfs-v1-2025 or unixfs-v0-2015", errors.Clip(name))
}

// profiledDAG is a DAG service that says which import profile to build
// with: the service's DAG carries its configured profile this way, so the
// functions below keep taking just a DAG service.
type profiledDAG struct {
	ipld.DAGService
	profile uio.UnixFSProfile
}

// profileOf returns the profile dag carries, or the default one.
func profileOf(dag ipld.DAGService) uio.UnixFSProfile {
	if p, ok := dag.(profiledDAG); ok {
		return p.profile
	}
	return uio.UnixFS_v1_2025
}

// Import reads r to its end and stores it as a UnixFS file DAG in dag,
// built with dag's profile (see profiledDAG), returning the root node. It holds at most one chunk and one batch of
// blocks in memory, whatever the size of the data.
func Import(ctx context.Context, dag ipld.DAGService, r io.Reader) (ipld.Node, error) {
	const op errors.Op = "buckets.Import"
	profile := profileOf(dag)
	batch := ipld.NewBufferedDAG(ctx, dag)
	params := helpers.DagBuilderParams{
		Maxlinks:   profile.FileDAGWidth,
		RawLeaves:  profile.RawLeaves,
		CidBuilder: profile.CidBuilder(),
		Dagserv:    batch,
	}
	db, err := params.New(chunker.NewSizeSplitter(readErrGuard{r}, profile.ChunkSize))
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	nd, err := balanced.Layout(db)
	if errors.KindOf(err) != errors.Other {
		return nil, errors.E(op, err) // the reader's own verdict, such as a quota
	}
	if err != nil {
		return nil, errors.E(op, readErrKind(ctx), err)
	}
	if err := batch.Commit(); err != nil {
		return nil, errors.E(op, err) // the store's verdict (an object store that is down is Unavailable); unclassified is Internal
	}
	return nd, nil
}

// readErrGuard hides io.ErrUnexpectedEOF from the chunker, which takes it
// for the short last chunk (it reads with io.ReadFull) and would store a
// truncated file as if it were whole.
type readErrGuard struct{ r io.Reader }

// errTruncated is the reader's io.ErrUnexpectedEOF, renamed.
var errTruncated = stderrors.New("the data stream ended early (unexpected EOF)")

func (g readErrGuard) Read(b []byte) (int, error) {
	n, err := g.r.Read(b)
	if err == io.ErrUnexpectedEOF {
		err = errTruncated
	}
	return n, err
}

// readErrKind classifies a failure while reading the caller's data: the
// caller going away, or a broken stream (the caller's fault).
func readErrKind(ctx context.Context) errors.Kind {
	if ctx.Err() != nil {
		return errors.Canceled
	}
	return errors.Invalid
}

// Export writes the contents of the UnixFS file at nd to w, streaming.
func Export(ctx context.Context, dag ipld.DAGService, nd ipld.Node, w io.Writer) error {
	const op errors.Op = "buckets.Export"
	r, err := uio.NewDagReader(ctx, nd, dag)
	if err == uio.ErrIsDir {
		return errors.E(op, errors.Invalid, "the path is a directory; pull a file, or list the directory")
	}
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if _, err := r.WriteTo(w); err != nil {
		return errors.E(op, errors.KindOf(err), err)
	}
	return nil
}

// newDir returns an empty directory with the settings of dag's profile.
func newDir(dag ipld.DAGService) (uio.Directory, error) {
	profile := profileOf(dag)
	return uio.NewDirectory(dag,
		uio.WithCidBuilder(profile.CidBuilder()),
		uio.WithSizeEstimationMode(profile.HAMTSizeEstimation),
		uio.WithMaxHAMTFanout(profile.HAMTShardWidth))
}

// emptyDir stores and returns an empty directory node.
func emptyDir(ctx context.Context, dag ipld.DAGService) (ipld.Node, error) {
	d, err := newDir(dag)
	if err != nil {
		return nil, err
	}
	nd, err := d.GetNode()
	if err != nil {
		return nil, err
	}
	return nd, dag.Add(ctx, nd)
}

// loadDir opens the directory at nd; a file is Invalid for op, naming p.
func loadDir(op errors.Op, dag ipld.DAGService, nd ipld.Node, p string) (uio.Directory, error) {
	d, err := uio.NewDirectoryFromNode(dag, nd)
	if err == uio.ErrNotADir || err == nil && d == nil {
		return nil, errors.Errorf(op, errors.Invalid, "%q is a file, not a directory", "/"+p)
	}
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return d, nil
}

// isDir reports whether nd is a UnixFS directory or HAMT shard.
func isDir(nd ipld.Node) bool {
	pn, ok := nd.(*merkledag.ProtoNode)
	if !ok {
		return false
	}
	_, err := uio.NewDirectoryFromNode(nil, pn)
	return err == nil
}

// resolve walks segs from root and returns the node there.
func resolve(ctx context.Context, dag ipld.DAGService, root cid.Cid, segs []string) (ipld.Node, error) {
	const op errors.Op = "buckets.resolve"
	nd, err := dag.Get(ctx, root)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	for i, s := range segs {
		d, err := loadDir(op, dag, nd, join(segs[:i]))
		if err != nil {
			return nil, err
		}
		nd, err = d.Find(ctx, s)
		if noEntry(err) || err == nil && nd == nil {
			return nil, errors.Errorf(op, errors.NotExist, "no file or directory at %q", "/"+join(segs[:i+1]))
		}
		if err != nil {
			return nil, errors.E(op, errors.Internal, err)
		}
	}
	return nd, nil
}

// noEntry reports whether err says a directory has no such name.
func noEntry(err error) bool {
	return stderrors.Is(err, os.ErrNotExist) || stderrors.Is(err, merkledag.ErrLinkNotFound)
}

// put returns a new root in which segs names child, creating missing
// parent directories. Every new node is stored in dag.
func put(ctx context.Context, dag ipld.DAGService, sizes *sizeTable, root ipld.Node, segs []string, child ipld.Node) (ipld.Node, error) {
	t, err := newDirTree(ctx, dag, sizes, root)
	if err != nil {
		return nil, err
	}
	if err := t.put(ctx, segs, child); err != nil {
		return nil, err
	}
	return t.node(ctx)
}

// remove returns a new root without the entry segs names.
func remove(ctx context.Context, dag ipld.DAGService, sizes *sizeTable, root ipld.Node, segs []string) (ipld.Node, error) {
	t, err := newDirTree(ctx, dag, sizes, root)
	if err != nil {
		return nil, err
	}
	if err := t.remove(ctx, segs); err != nil {
		return nil, err
	}
	return t.node(ctx)
}

// dirTree applies changes to a directory DAG in memory: the directories a
// change goes through are opened once and stay open, and node writes each
// changed directory once, bottom up. So a push of ten thousand files into
// a few directories writes those directories once, not once per file.
//
// Every link it writes records the true size of what it links: a
// directory it opens is first replaced by its copy with true sizes when
// it is tainted, and a child is linked with its size from the table
// (truesize.go).
type dirTree struct {
	dag   ipld.DAGService
	sizes *sizeTable
	root  *openDir
}

// openDir is a directory being changed, with its changed subdirectories.
type openDir struct {
	dir  uio.Directory
	subs map[string]*openDir // by entry name
}

func newDirTree(ctx context.Context, dag ipld.DAGService, sizes *sizeTable, root ipld.Node) (*dirTree, error) {
	const op errors.Op = "buckets.dirTree"
	t := &dirTree{dag: dag, sizes: sizes}
	d, err := t.open(ctx, op, root, "")
	if err != nil {
		return nil, err
	}
	t.root = &openDir{dir: d, subs: map[string]*openDir{}}
	return t, nil
}

// open opens the directory at nd (p names it), untainted.
func (t *dirTree) open(ctx context.Context, op errors.Op, nd ipld.Node, p string) (uio.Directory, error) {
	nd, err := t.sizes.untaint(ctx, t.dag, nd)
	if err != nil {
		return nil, errors.E(op, err)
	}
	return loadDir(op, t.dag, nd, p)
}

// parent returns the open directory that holds segs' last entry, opening
// the directories on the way; missing ones are created when create is
// set, and NotExist otherwise.
func (t *dirTree) parent(ctx context.Context, op errors.Op, segs []string, create bool) (*openDir, error) {
	d := t.root
	for i, name := range segs[:len(segs)-1] {
		if sub, ok := d.subs[name]; ok {
			d = sub
			continue
		}
		nd, err := d.dir.Find(ctx, name)
		var sub uio.Directory
		switch {
		case noEntry(err) && create:
			sub, err = newDir(t.dag)
		case noEntry(err):
			return nil, errors.Errorf(op, errors.NotExist, "no file or directory at %q", "/"+join(segs[:i+1]))
		case err == nil:
			sub, err = t.open(ctx, op, nd, join(segs[:i+1]))
		}
		if err != nil {
			return nil, errors.E(op, err)
		}
		next := &openDir{dir: sub, subs: map[string]*openDir{}}
		d.subs[name] = next
		d = next
	}
	return d, nil
}

// put makes segs name child, replacing what was there.
func (t *dirTree) put(ctx context.Context, segs []string, child ipld.Node) error {
	const op errors.Op = "buckets.put"
	d, err := t.parent(ctx, op, segs, true)
	if err != nil {
		return err
	}
	name := segs[len(segs)-1]
	delete(d.subs, name) // child replaces an open directory there
	child, err = t.sizes.linkable(child)
	if err != nil {
		return errors.E(op, err)
	}
	if err := d.dir.AddChild(ctx, name, child); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return nil
}

// remove removes the entry segs names.
func (t *dirTree) remove(ctx context.Context, segs []string) error {
	const op errors.Op = "buckets.remove"
	d, err := t.parent(ctx, op, segs, false)
	if err != nil {
		return err
	}
	name := segs[len(segs)-1]
	delete(d.subs, name)
	err = d.dir.RemoveChild(ctx, name)
	if noEntry(err) {
		return errors.Errorf(op, errors.NotExist, "no file or directory at %q", "/"+join(segs))
	}
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return nil
}

// node stores every changed directory and returns the new root.
func (t *dirTree) node(ctx context.Context) (ipld.Node, error) {
	return t.root.store(ctx, t.dag)
}

func (d *openDir) store(ctx context.Context, dag ipld.DAGService) (ipld.Node, error) {
	for name, sub := range d.subs {
		nd, err := sub.store(ctx, dag)
		if err != nil {
			return nil, err
		}
		if err := d.dir.AddChild(ctx, name, nd); err != nil {
			return nil, errors.E(errors.Internal, err)
		}
	}
	nd, err := d.dir.GetNode()
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	if err := dag.Add(ctx, nd); err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	return nd, nil
}
