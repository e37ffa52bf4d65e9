package blockstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	stderrors "errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/selfhub/hub/errors"
)

// Files is a go-datastore that keeps each value in its own file under a
// directory, sharded by the two characters before the last of the key's
// name (as kubo's flatfs "next-to-last/2"), so a directory holds at most a
// few thousand files.
//
// Durability is a barrier, as go-datastore defines Sync: Put writes the
// value to a temporary file without syncing it (reads see it at once, and
// the kernel is asked to start writing it out: startWriteback), and
// Sync makes every value Put before it durable under its final name —
// one syncfs(2) for many files (one fsync each for a few), then the
// renames, then the directories. A bucket syncs once before its root
// moves, so a push of ten thousand files costs a few syncs, not ten
// thousand. After a crash a value is whole under its name or absent;
// unsynced temporary files are removed when the store is opened.
//
// Deletes are not synced: only garbage is deleted, and garbage a crash
// brings back is deleted again by the next collection.
//
// Keys must have the shape /<namespace>/<name> with names of letters,
// digits, '-', '_' and '=' (what boxo's blockstore writes: base32
// multihashes); anything else is refused.
type Files struct {
	dir string
	// mkdirMu guards made.
	mkdirMu sync.Mutex
	made    map[string]bool // shard directories known to exist
	// syncMu serializes Sync, so a Sync returns only after every earlier
	// Put is durable, including those another Sync was renaming.
	syncMu sync.Mutex
	// stagedMu guards staged.
	stagedMu sync.Mutex
	staged   map[string]string // final path -> temporary file, for values not yet synced
}

var _ ds.Batching = (*Files)(nil)

const tmpPrefix = ".tmp-"

// syncEachMax is the most files (or directories) Sync fsyncs one by one;
// past it a syncfs of the whole file system is cheaper.
const syncEachMax = 8

// OpenFiles opens (creating it if needed) a file datastore in dir.
func OpenFiles(dir string) (*Files, error) {
	const op errors.Op = "blockstore.OpenFiles"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	f := &Files{dir: dir, made: map[string]bool{}, staged: map[string]string{}}
	// Remove the temporary files of writes never synced before a crash.
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), tmpPrefix) {
			return os.Remove(p)
		}
		return err
	})
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return f, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
			return false
		}
	}
	return true
}

// path returns the shard directory and file of k.
func (f *Files) path(k ds.Key) (string, string, error) {
	ns, name, err := splitKey("blockstore.path", k)
	if err != nil {
		return "", "", err
	}
	shard := "__"
	if len(name) >= 3 {
		shard = name[len(name)-3 : len(name)-1]
	}
	d := filepath.Join(f.dir, ns, shard)
	return d, filepath.Join(d, name+".data"), nil
}

// file returns the file that holds the value at k now: its temporary
// file until a Sync renames it, its final file after.
func (f *Files) file(k ds.Key) (string, bool) {
	_, p, err := f.path(k)
	if err != nil {
		return "", false
	}
	f.stagedMu.Lock()
	defer f.stagedMu.Unlock()
	if tmp, ok := f.staged[p]; ok {
		return tmp, true
	}
	return p, true
}

// read calls fn on the file holding k's value, retrying once if a Sync
// renamed it away in between.
func read[T any](f *Files, k ds.Key, fn func(string) (T, error)) (T, error) {
	var zero T
	p, ok := f.file(k)
	if !ok {
		return zero, ds.ErrNotFound
	}
	v, err := fn(p)
	if os.IsNotExist(err) && strings.HasPrefix(filepath.Base(p), tmpPrefix) {
		_, final, _ := f.path(k)
		v, err = fn(final)
	}
	if os.IsNotExist(err) {
		return zero, ds.ErrNotFound
	}
	return v, err
}

// Get returns the value at k, or ds.ErrNotFound.
func (f *Files) Get(_ context.Context, k ds.Key) ([]byte, error) {
	return read(f, k, os.ReadFile)
}

// Has reports whether k exists.
func (f *Files) Has(_ context.Context, k ds.Key) (bool, error) {
	_, err := read(f, k, os.Stat)
	if err == ds.ErrNotFound {
		return false, nil
	}
	return err == nil, err
}

// GetSize returns the size of the value at k, or ds.ErrNotFound.
func (f *Files) GetSize(_ context.Context, k ds.Key) (int, error) {
	st, err := read(f, k, os.Stat)
	if err != nil {
		return -1, err
	}
	return int(st.Size()), nil
}

// Put stores v at k; it is durable once Sync returns.
func (f *Files) Put(_ context.Context, k ds.Key, v []byte) error {
	d, p, err := f.path(k)
	if err != nil {
		return err
	}
	if f.isStaged(p) {
		return nil // the same value (keys name contents), already written
	}
	if err := f.mkdir(d); err != nil {
		return err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(d, tmpPrefix+hex.EncodeToString(rnd[:]))
	if err := writeFile(tmp, v); err != nil {
		os.Remove(tmp)
		return err
	}
	f.stagedMu.Lock()
	_, dup := f.staged[p]
	if !dup {
		f.staged[p] = tmp
	}
	f.stagedMu.Unlock()
	if dup {
		// A concurrent Put of the same value won. Keeping the first
		// temporary file matters: a Sync may be syncing it for that Put.
		os.Remove(tmp)
	}
	return nil
}

func (f *Files) isStaged(p string) bool {
	f.stagedMu.Lock()
	defer f.stagedMu.Unlock()
	_, ok := f.staged[p]
	return ok
}

// Delete removes k; a missing k is not an error. The delete is not synced
// (see Files).
func (f *Files) Delete(_ context.Context, k ds.Key) error {
	_, p, err := f.path(k)
	if err != nil {
		return nil // such a key cannot exist
	}
	f.stagedMu.Lock()
	tmp, ok := f.staged[p]
	delete(f.staged, p)
	f.stagedMu.Unlock()
	if ok {
		os.Remove(tmp)
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Sync makes every value Put before the call durable under its final name
// (whatever the prefix: there is one barrier for the whole store).
func (f *Files) Sync(context.Context, ds.Key) error {
	const op errors.Op = "blockstore.Sync"
	f.syncMu.Lock()
	defer f.syncMu.Unlock()
	f.stagedMu.Lock()
	finals := make([]string, 0, len(f.staged))
	tmps := make([]string, 0, len(f.staged))
	for p, tmp := range f.staged {
		finals, tmps = append(finals, p), append(tmps, tmp)
	}
	f.stagedMu.Unlock()
	if len(tmps) == 0 {
		return nil
	}
	if err := f.syncFiles(tmps); err != nil {
		// The kernel may have dropped what it could not write and marked
		// the pages clean, so a later sync would "succeed" without them:
		// forget these values, so they read as absent and are written
		// again by whoever needs them.
		f.unstage(finals, tmps)
		return errors.E(op, errors.Internal, err)
	}
	dirs := map[string]bool{}
	for i, p := range finals {
		f.stagedMu.Lock()
		// A Delete since the listing removed the value; a Put rewrote it
		// (the same bytes) under another temporary name, synced next time.
		current := f.staged[p] == tmps[i]
		var err error
		if current {
			if err = os.Rename(tmps[i], p); err == nil {
				delete(f.staged, p)
			}
		}
		f.stagedMu.Unlock()
		if err != nil {
			return errors.E(op, errors.Internal, err)
		}
		dirs[filepath.Dir(p)] = true
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	if err := f.syncFiles(list); err != nil {
		return errors.E(op, errors.Internal, err)
	}
	return nil
}

// unstage forgets the staged values finals[i] (in tmps[i]) and removes
// their files, unless a Put or Delete changed them since.
func (f *Files) unstage(finals, tmps []string) {
	f.stagedMu.Lock()
	defer f.stagedMu.Unlock()
	for i, p := range finals {
		if f.staged[p] == tmps[i] {
			delete(f.staged, p)
			os.Remove(tmps[i])
		}
	}
}

// syncFiles makes the contents of the named files or directories durable:
// an fsync each for a few, one syncfs for the file system past that.
func (f *Files) syncFiles(names []string) error {
	if len(names) > syncEachMax {
		return syncFS(f.dir)
	}
	for _, n := range names {
		// A value deleted since Sync listed it needs no syncing.
		if err := syncPath(n); err != nil && !stderrors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close is a no-op.
func (f *Files) Close() error { return nil }

// Query lists the entries under q.Prefix, one shard directory at a time,
// then the values not yet synced (a value a Sync renames meanwhile may be
// listed twice); filters, orders, offsets and limits are applied naively
// on top.
func (f *Files) Query(ctx context.Context, q query.Query) (query.Results, error) {
	const op errors.Op = "blockstore.Query"
	ns := strings.Trim(q.Prefix, "/")
	if strings.Contains(ns, "/") {
		return nil, errors.Errorf(op, errors.Invalid, "prefix %q: only /<namespace> prefixes are supported", q.Prefix)
	}
	base := q
	base.Prefix, base.Filters, base.Orders, base.Offset, base.Limit = "", nil, nil, 0, 0
	res := query.ResultsWithContext(base, func(ctx context.Context, out chan<- query.Result) {
		var namespaces []string
		if ns != "" {
			namespaces = []string{ns}
		} else if ents, err := os.ReadDir(f.dir); err == nil {
			for _, e := range ents {
				if e.IsDir() {
					namespaces = append(namespaces, e.Name())
				}
			}
		}
		f.stagedMu.Lock()
		var staged []string // final paths
		for p := range f.staged {
			staged = append(staged, p)
		}
		f.stagedMu.Unlock()
		for _, ns := range namespaces {
			err := filepath.WalkDir(filepath.Join(f.dir, ns), func(p string, d fs.DirEntry, err error) error {
				if os.IsNotExist(err) {
					return nil
				}
				if err != nil || d.IsDir() || !strings.HasSuffix(d.Name(), ".data") || strings.HasPrefix(d.Name(), tmpPrefix) {
					return err
				}
				e := query.Entry{Key: "/" + ns + "/" + strings.TrimSuffix(d.Name(), ".data")}
				if !q.KeysOnly || q.ReturnsSizes {
					v, err := os.ReadFile(p)
					if os.IsNotExist(err) {
						return nil // deleted since the directory was read
					}
					if err != nil {
						return err
					}
					e.Size = len(v)
					if !q.KeysOnly {
						e.Value = v
					}
				}
				return send(ctx, out, query.Result{Entry: e})
			})
			if err != nil && ctx.Err() == nil {
				send(ctx, out, query.Result{Error: err})
				return
			}
		}
		for _, p := range staged {
			rel, err := filepath.Rel(f.dir, p)
			parts := strings.Split(filepath.ToSlash(rel), "/")
			if err != nil || len(parts) != 3 || ns != "" && parts[0] != ns {
				continue
			}
			k := ds.NewKey("/" + parts[0] + "/" + strings.TrimSuffix(parts[2], ".data"))
			e := query.Entry{Key: k.String()}
			if !q.KeysOnly || q.ReturnsSizes {
				v, err := f.Get(ctx, k)
				if err != nil {
					continue // deleted since
				}
				e.Size = len(v)
				if !q.KeysOnly {
					e.Value = v
				}
			}
			if send(ctx, out, query.Result{Entry: e}) != nil {
				return
			}
		}
	})
	q.Prefix = ""
	return query.NaiveQueryApply(q, res), nil
}

// Batch returns a batch that puts and deletes as it goes: Files needs no
// batching, and Sync, not Commit, is the durability barrier.
func (f *Files) Batch(context.Context) (ds.Batch, error) { return filesBatch{f}, nil }

type filesBatch struct{ *Files }

func (filesBatch) Commit(context.Context) error { return nil }

func (f *Files) mkdir(d string) error {
	f.mkdirMu.Lock()
	defer f.mkdirMu.Unlock()
	if f.made[d] {
		return nil
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	// The new directory's entry must reach the disk too.
	if err := syncPath(filepath.Dir(d)); err != nil {
		return err
	}
	if err := syncPath(filepath.Dir(filepath.Dir(d))); err != nil {
		return err
	}
	f.made[d] = true
	return nil
}

// writeFile writes v to a new file p and starts writing it to the disk
// (startWriteback), so the data streams out while a push goes on and the
// Sync that ends the push finds little left to write.
func writeFile(p string, v []byte) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(v); err != nil {
		f.Close()
		return err
	}
	startWriteback(f)
	return f.Close()
}

// syncPath fsyncs the file or directory p.
func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}
