package buckets

import (
	"context"
	"io"
	"sync"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	hubblocks "github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/threads"
)

// Batch is a push of several files that moves the bucket's root once:
// files are imported as they arrive (Add, concurrently), and Commit links
// them all into the bucket in one change, fast-forward only against the
// root the batch was opened with. Until Commit nothing is visible; a batch
// that is never committed leaves the bucket as it was.
type Batch struct {
	s       *Service
	p       hub.Principal
	thread  threads.ID
	key     string
	root    string
	account hub.PubKey // the account the bucket is charged to, whose quota the files count against
	// keys seal the files of a private bucket (nil for a public one), as
	// the bucket was when the batch was opened; Commit refuses files whose
	// keys changed since.
	keys *keyring
	// held and release hold garbage collection for this batch (gc.go): its
	// blocks are unlinked until Commit. Each call binds held to its context.
	held    hubblocks.Holder
	release func()

	// mu guards files, pushed and done.
	mu     sync.Mutex
	files  map[string]batchFile // by cleaned path
	order  []string
	pushed int64 // bytes imported so far
	done   bool
}

type batchFile struct {
	segs []string
	nd   ipld.Node
	size int64
	used string // the key the file was sealed with (keyring.keyID)
}

// BatchFile is one file a committed batch stored.
type BatchFile struct {
	Path string // as pushed, cleaned, without a leading slash
	Cid  cid.Cid
	Size int64
}

// NewBatch opens a batch on the bucket key, checking now that the caller
// may write to the bucket and that root (as in PushPath; empty forces) is
// current, so a doomed push fails before any data is read. Each file's
// path is checked again, with the root, at Commit.
func (s *Service) NewBatch(ctx context.Context, p hub.Principal, thread threads.ID, key, root string) (*Batch, error) {
	const op errors.Op = "buckets.NewBatch"
	// A Writer below the root may push there: paths are checked per file
	// at Commit.
	_, b, err := s.open(ctx, op, p, thread, key, nil, anyRoleNeeded)
	if err != nil {
		return nil, err
	}
	if err := checkRoot(op, b, root); err != nil {
		return nil, err
	}
	held, release := s.blocks.Register(ctx)
	return &Batch{s: s, p: p, thread: thread, key: key, root: root, account: b.rec.Account, keys: keysOf(b),
		held: held, release: release, files: map[string]batchFile{}}, nil
}

// Discard ends a batch that will not be committed; its imported blocks
// become garbage. Calling it after Commit does nothing, so callers defer it.
func (bt *Batch) Discard() {
	bt.mu.Lock()
	bt.done = true
	bt.mu.Unlock()
	bt.release()
}

// Add imports r, read to its end, as the file at path. It is safe to call
// concurrently for different paths; a path added twice keeps the last.
func (bt *Batch) Add(ctx context.Context, path string, r io.Reader) (BatchFile, error) {
	const op errors.Op = "buckets.Batch.Add"
	ctx = bt.held.Bind(ctx)
	segs, err := CleanPath(path)
	if err != nil {
		return BatchFile{}, errors.E(op, err)
	}
	if len(segs) == 0 {
		return BatchFile{}, errors.E(op, errors.Invalid, "path is empty; name the file to push, such as dir/file.txt")
	}
	cr, err := bt.s.meter(ctx, op, bt.account, r)
	if err != nil {
		return BatchFile{}, err
	}
	bt.mu.Lock()
	cr.used += bt.pushed
	bt.mu.Unlock()
	sealed, err := bt.keys.sealFile(segs, cr)
	if err != nil {
		return BatchFile{}, errors.E(op, err)
	}
	nd, err := Import(ctx, bt.s.dag, sealed)
	if err != nil {
		return BatchFile{}, errors.E(op, err)
	}
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.done {
		return BatchFile{}, errors.E(op, errors.FailedPrecondition, "the batch is already committed or discarded")
	}
	bt.pushed += cr.n
	k := join(segs)
	if _, ok := bt.files[k]; !ok {
		bt.order = append(bt.order, k)
	}
	bt.files[k] = batchFile{segs: segs, nd: nd, size: cr.n, used: bt.keys.keyID(segs)}
	return BatchFile{Path: k, Cid: nd.Cid(), Size: cr.n}, nil
}

// Commit links every added file into the bucket in one change and returns
// the files, in the order their imports first finished, and the bucket at its new
// root. The caller needs Writer on every file's path.
func (bt *Batch) Commit(ctx context.Context) ([]BatchFile, Bucket, error) {
	const op errors.Op = "buckets.Batch.Commit"
	defer bt.release()
	ctx = bt.held.Bind(ctx)
	bt.mu.Lock()
	if bt.done {
		bt.mu.Unlock()
		return nil, Bucket{}, errors.E(op, errors.FailedPrecondition, "the batch is already committed or discarded")
	}
	bt.done = true
	files := make([]batchFile, 0, len(bt.order))
	out := make([]BatchFile, 0, len(bt.order))
	paths := make([][]string, 0, len(bt.order))
	for _, k := range bt.order {
		f := bt.files[k]
		files = append(files, f)
		paths = append(paths, f.segs)
		out = append(out, BatchFile{Path: k, Cid: f.nd.Cid(), Size: f.size})
	}
	bt.mu.Unlock()
	if len(files) == 0 {
		_, b, err := bt.s.open(ctx, op, bt.p, bt.thread, bt.key, nil, anyRoleNeeded)
		return nil, b, err
	}
	b, err := bt.s.updateKeyed(ctx, op, bt.p, bt.thread, bt.key, bt.root, RoleWriter, paths, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		return bt.s.linkAll(ctx, b, cur, files)
	})
	if err != nil {
		return nil, Bucket{}, err
	}
	return out, b, nil
}
