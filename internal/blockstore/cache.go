package blockstore

import (
	"container/list"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/selfhub/hub/errors"
)

// Cache is a directory of copies of blocks read from a remote store (S3),
// at most max bytes of them, so that the blocks a gateway or pulls read
// again are read from the local disk instead of the network.
//
// It holds what was read, not what was written: a push of a large file
// would otherwise evict every hot block for blocks nobody may read. When
// it is full the least recently read blocks go first. Recency survives a
// restart as the files' modification times (set on every hit), from
// which OpenCache rebuilds the order.
//
// A copy is written to a temporary file and renamed, and never synced: a
// crash may lose or truncate a copy, and every copy is checked against
// its multihash when read, a bad one being dropped and read again from the
// store. The index costs some 100 bytes of memory a cached block.
type Cache struct {
	dir string
	max int64

	// mu guards every field below.
	mu    sync.Mutex
	size  int64                    // bytes of the copies indexed
	lru   *list.List               // of *cached, most recently read first
	index map[string]*list.Element // by file name
}

// cached is one copy in the cache.
type cached struct {
	name string // its file name: <namespace>.<name> of its key
	size int64
}

// tmpSuffix ends the names of copies being written.
const tmpSuffix = ".tmp"

// OpenCache opens (creating it if needed) the cache in dir, holding at
// most max bytes: it indexes the copies there, most recently read first,
// deletes leftovers of interrupted writes and evicts down to max.
func OpenCache(dir string, max int64) (*Cache, error) {
	const op errors.Op = "blockstore.OpenCache"
	if max <= 0 {
		return nil, errors.Errorf(op, errors.Invalid, "the cache size must be positive, not %d", max)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	type found struct {
		cached
		at time.Time
	}
	var copies []found
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !e.Type().IsRegular() {
			continue
		}
		if !isCopy(e.Name()) {
			os.Remove(filepath.Join(dir, e.Name())) // a leftover, not a copy
			continue
		}
		copies = append(copies, found{cached{e.Name(), info.Size()}, info.ModTime()})
	}
	slices.SortFunc(copies, func(a, b found) int { return b.at.Compare(a.at) })
	c := &Cache{dir: dir, max: max, lru: list.New(), index: map[string]*list.Element{}}
	for _, f := range copies {
		c.index[f.name] = c.lru.PushBack(&f.cached)
		c.size += f.size
	}
	c.mu.Lock()
	c.evict()
	c.mu.Unlock()
	return c, nil
}

// cacheName is the file name of the copy of k, a key /<namespace>/<name>:
// <namespace>.<name> ('.' is in neither).
func cacheName(k ds.Key) (string, bool) {
	ns, name, err := splitKey("", k)
	return ns + "." + name, err == nil
}

// isCopy reports whether file is the name of a copy (not of a copy being
// written, nor anything else).
func isCopy(file string) bool {
	ns, name, ok := strings.Cut(file, ".")
	return ok && !strings.HasSuffix(file, tmpSuffix) && validName(ns) && validName(name)
}

// Get returns the copy of k, checked against the multihash k names; false
// if there is none (or it was damaged, and is dropped).
func (c *Cache) Get(k ds.Key) ([]byte, bool) {
	name, ok := cacheName(k)
	if !ok {
		return nil, false
	}
	c.mu.Lock()
	e := c.index[name]
	if e != nil {
		c.lru.MoveToFront(e)
	}
	c.mu.Unlock()
	if e == nil {
		return nil, false
	}
	path := filepath.Join(c.dir, name)
	v, err := os.ReadFile(path)
	if err != nil || verify(k, v) != nil {
		c.Remove(k)
		return nil, false
	}
	now := time.Now()
	os.Chtimes(path, now, now) // the order a restart rebuilds; a failure only makes it older
	return v, true
}

// Size returns the size of the copy of k; false if there is none.
func (c *Cache) Size(k ds.Key) (int, bool) {
	name, ok := cacheName(k)
	if !ok {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.index[name]; e != nil {
		return int(e.Value.(*cached).size), true
	}
	return 0, false
}

// Add keeps a copy of v, the value of k the caller has checked, evicting
// the least recently read copies past the cache's size. Failures to write
// are ignored: the cache only saves reads.
func (c *Cache) Add(k ds.Key, v []byte) {
	name, ok := cacheName(k)
	if !ok || int64(len(v)) > c.max {
		return
	}
	c.mu.Lock()
	_, have := c.index[name]
	c.mu.Unlock()
	if have {
		return
	}
	f, err := os.CreateTemp(c.dir, "*"+tmpSuffix)
	if err != nil {
		return
	}
	_, err = f.Write(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(c.dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, have := c.index[name]; have { // added meanwhile, by another reader
		return
	}
	c.index[name] = c.lru.PushFront(&cached{name, int64(len(v))})
	c.size += int64(len(v))
	c.evict()
}

// Remove drops the copy of k, if any.
func (c *Cache) Remove(k ds.Key) {
	name, ok := cacheName(k)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.index[name]; e != nil {
		c.drop(e)
	}
}

// Bytes returns how many bytes the cache holds.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

// evict drops the least recently read copies until the cache holds at
// most max bytes. c.mu must be held.
func (c *Cache) evict() {
	for c.size > c.max {
		c.drop(c.lru.Back())
	}
}

// drop deletes the copy e. c.mu must be held.
func (c *Cache) drop(e *list.Element) {
	v := c.lru.Remove(e).(*cached)
	delete(c.index, v.name)
	c.size -= v.size
	os.Remove(filepath.Join(c.dir, v.name))
}
