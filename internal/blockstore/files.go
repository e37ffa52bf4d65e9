package blockstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
// Crash safety: a value is written to a temporary file, synced, and renamed
// into place; the directory is synced after the rename. After a crash a
// value is therefore whole or absent; stray temporary files are removed
// when the store is opened. A batch syncs all its files, renames them, and
// syncs the directories they went to, once each, before Commit returns.
//
// Keys must have the shape /<namespace>/<name> with names of letters,
// digits, '-', '_' and '=' (what boxo's blockstore writes: base32
// multihashes); anything else is refused.
type Files struct {
	dir string
	// mkdirMu guards made.
	mkdirMu sync.Mutex
	made    map[string]bool // shard directories known to exist
}

var _ ds.Batching = (*Files)(nil)

const tmpPrefix = ".tmp-"

// OpenFiles opens (creating it if needed) a file datastore in dir.
func OpenFiles(dir string) (*Files, error) {
	const op errors.Op = "blockstore.OpenFiles"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	f := &Files{dir: dir, made: map[string]bool{}}
	// Remove the temporary files of writes a crash interrupted.
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
	parts := k.List()
	if len(parts) != 2 || !validName(parts[0]) || !validName(parts[1]) {
		return "", "", errors.Errorf("blockstore.path", errors.Invalid, "key %q is not /<namespace>/<name>", k)
	}
	name := parts[1]
	shard := "__"
	if len(name) >= 3 {
		shard = name[len(name)-3 : len(name)-1]
	}
	d := filepath.Join(f.dir, parts[0], shard)
	return d, filepath.Join(d, name+".data"), nil
}

// Get returns the value at k, or ds.ErrNotFound.
func (f *Files) Get(_ context.Context, k ds.Key) ([]byte, error) {
	_, p, err := f.path(k)
	if err != nil {
		return nil, ds.ErrNotFound
	}
	v, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil, ds.ErrNotFound
	}
	return v, err
}

// Has reports whether k exists.
func (f *Files) Has(_ context.Context, k ds.Key) (bool, error) {
	_, p, err := f.path(k)
	if err != nil {
		return false, nil
	}
	_, err = os.Stat(p)
	if os.IsNotExist(err) {
		return false, nil
	}
	return err == nil, err
}

// GetSize returns the size of the value at k, or ds.ErrNotFound.
func (f *Files) GetSize(_ context.Context, k ds.Key) (int, error) {
	_, p, err := f.path(k)
	if err != nil {
		return -1, ds.ErrNotFound
	}
	st, err := os.Stat(p)
	if os.IsNotExist(err) {
		return -1, ds.ErrNotFound
	}
	if err != nil {
		return -1, err
	}
	return int(st.Size()), nil
}

// Put stores v at k durably.
func (f *Files) Put(ctx context.Context, k ds.Key, v []byte) error {
	b := &filesBatch{f: f}
	if err := b.Put(ctx, k, v); err != nil {
		return err
	}
	return b.Commit(ctx)
}

// Delete removes k durably; a missing k is not an error.
func (f *Files) Delete(ctx context.Context, k ds.Key) error {
	b := &filesBatch{f: f}
	if err := b.Delete(ctx, k); err != nil {
		return err
	}
	return b.Commit(ctx)
}

// Sync is a no-op: Put, Delete and batch Commit are durable already.
func (f *Files) Sync(context.Context, ds.Key) error { return nil }

// Close is a no-op.
func (f *Files) Close() error { return nil }

// Query lists the entries under q.Prefix, one shard directory at a time;
// filters, orders, offsets and limits are applied naively on top.
func (f *Files) Query(ctx context.Context, q query.Query) (query.Results, error) {
	ns := strings.Trim(q.Prefix, "/")
	if strings.Contains(ns, "/") {
		return nil, errors.Errorf("blockstore.Query", errors.Invalid, "prefix %q: only /<namespace> prefixes are supported", q.Prefix)
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
				select {
				case out <- query.Result{Entry: e}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
			if err != nil && ctx.Err() == nil {
				select {
				case out <- query.Result{Error: err}:
				case <-ctx.Done():
				}
				return
			}
		}
	})
	q.Prefix = ""
	return query.NaiveQueryApply(q, res), nil
}

// Batch starts a batch; see Files for what Commit guarantees.
func (f *Files) Batch(context.Context) (ds.Batch, error) { return &filesBatch{f: f}, nil }

type pendingFile struct {
	tmp, final, dir string
	file            *os.File
}

// filesBatch writes each Put to a temporary file at once (so a batch holds
// no values in memory) and makes them all visible in Commit.
type filesBatch struct {
	f       *Files
	puts    []pendingFile
	deletes []string
	err     error
}

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
	if err := syncDir(filepath.Dir(d)); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(filepath.Dir(d))); err != nil {
		return err
	}
	f.made[d] = true
	return nil
}

func (b *filesBatch) Put(_ context.Context, k ds.Key, v []byte) error {
	if b.err != nil {
		return b.err
	}
	d, p, err := b.f.path(k)
	if err != nil {
		return err
	}
	if err := b.f.mkdir(d); err != nil {
		b.err = err
		return err
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(d, tmpPrefix+hex.EncodeToString(rnd[:]))
	file, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		b.err = err
		return err
	}
	b.puts = append(b.puts, pendingFile{tmp: tmp, final: p, dir: d, file: file})
	if _, err := file.Write(v); err != nil {
		b.err = err
		return err
	}
	return nil
}

func (b *filesBatch) Delete(_ context.Context, k ds.Key) error {
	_, p, err := b.f.path(k)
	if err != nil {
		return nil // such a key cannot exist
	}
	b.deletes = append(b.deletes, p)
	return nil
}

// Commit syncs every written file, renames them into place and syncs the
// directories, then applies the deletes. On error nothing written by the
// batch is left behind under a final name that was not synced.
func (b *filesBatch) Commit(context.Context) error {
	const op errors.Op = "blockstore.Commit"
	err := b.err
	for _, pf := range b.puts {
		if err == nil {
			err = pf.file.Sync()
		}
		if cerr := pf.file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		for _, pf := range b.puts {
			os.Remove(pf.tmp)
		}
		return errors.E(op, errors.Internal, err)
	}
	dirs := map[string]bool{}
	for _, pf := range b.puts {
		if err := os.Rename(pf.tmp, pf.final); err != nil {
			return errors.E(op, errors.Internal, err)
		}
		dirs[pf.dir] = true
	}
	for _, p := range b.deletes {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return errors.E(op, errors.Internal, err)
		}
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return errors.E(op, errors.Internal, err)
		}
	}
	b.puts, b.deletes = nil, nil
	return nil
}

func syncDir(d string) error {
	f, err := os.Open(d)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", d, err)
	}
	return nil
}
