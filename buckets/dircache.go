package buckets

import (
	"context"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/ipfs/boxo/ipld/merkledag"
	unixfs "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// DefaultDirCacheSize is the default byte budget of the cache of decoded
// directory nodes: enough for a few directories of tens of thousands of
// entries, small next to the blocks a push holds in flight.
const DefaultDirCacheSize = 32 << 20

// linkOverhead is what one decoded link costs in memory beyond its share
// of the encoded block (the Link struct, its pointer and the CID's
// string header), counted so that the byte budget bounds the heap the
// cache holds, not just the blocks' sizes.
const linkOverhead = 96

// dirCache is a DAG service that keeps decoded UnixFS directory nodes
// (basic directories and HAMT shards) by CID, least recently used first
// out, within a byte budget. Path resolution reads the same directories
// on every request (every S3 GET of a key under obj/ decodes obj/), and a
// change reads the directories it rewrites; decoding a directory of
// thousands of entries costs far more than finding one entry in it.
//
// A CID names immutable bytes, so an entry never goes stale and nothing
// invalidates it. A hit still asks the blockstore whether it holds the
// block (has): that keeps the block for a garbage collection running
// meanwhile, as a read would (hubblocks.GC), and never serves a block the
// collector deleted; it costs an index lookup, not a read and a decode. The cache holds only
// what the blockstore holds: for a private bucket that is ciphertext
// names (crypt_names.go); decryption happens above, with the caller's
// keys, and the access checks above that. So a cached node tells a
// caller nothing the blockstore would not.
//
// ProtoNodes are mutable (a uio.Directory changes the node it was opened
// from), so the cache keeps its own copy and hands out a fresh copy each
// time. A copy re-encodes with its links sorted, so only nodes whose
// links are sorted already (every node a conforming encoder wrote) are
// cached: for them the copy has the same bytes and CID as the block.
type dirCache struct {
	ipld.DAGService
	has func(context.Context, cid.Cid) (bool, error) // the blockstore's
	max int64                                        // byte budget

	// mu guards lru and size.
	mu   sync.Mutex
	lru  *lru.LRU[cid.Cid, dirEntry]
	size int64 // bytes of the entries in lru
}

type dirEntry struct {
	nd   *merkledag.ProtoNode
	cost int64
}

// newDirCache returns dag, over a blockstore whose Has is has, with a
// cache of at most max bytes in front of it; with max ≤ 0 it caches
// nothing.
func newDirCache(dag ipld.DAGService, has func(context.Context, cid.Cid) (bool, error), max int64) *dirCache {
	c := &dirCache{DAGService: dag, has: has, max: max}
	c.lru, _ = lru.NewLRU[cid.Cid, dirEntry](int(^uint(0)>>1), func(_ cid.Cid, e dirEntry) { c.size -= e.cost }) // bounded by bytes in add, not by count
	return c
}

// Get returns the node c names, from the cache when it holds it.
func (c *dirCache) Get(ctx context.Context, k cid.Cid) (ipld.Node, error) {
	c.mu.Lock()
	e, ok := c.lru.Get(k)
	c.mu.Unlock()
	if ok {
		if held, err := c.has(ctx, k); err == nil && held {
			return e.nd.Copy(), nil
		}
		c.forget(k)
	}
	nd, err := c.DAGService.Get(ctx, k)
	if err != nil {
		return nil, err
	}
	c.add(k, nd)
	return nd, nil
}

// Add stores nd and caches it, so the directory a change wrote is not
// decoded again by the next change.
func (c *dirCache) Add(ctx context.Context, nd ipld.Node) error {
	if err := c.DAGService.Add(ctx, nd); err != nil {
		return err
	}
	c.add(nd.Cid(), nd)
	return nil
}

// AddMany stores nds and caches their directories.
func (c *dirCache) AddMany(ctx context.Context, nds []ipld.Node) error {
	if err := c.DAGService.AddMany(ctx, nds); err != nil {
		return err
	}
	for _, nd := range nds {
		c.add(nd.Cid(), nd)
	}
	return nil
}

// Remove removes the block k names, and its cached node.
func (c *dirCache) Remove(ctx context.Context, k cid.Cid) error {
	c.forget(k)
	return c.DAGService.Remove(ctx, k)
}

// RemoveMany removes the blocks ks name, and their cached nodes.
func (c *dirCache) RemoveMany(ctx context.Context, ks []cid.Cid) error {
	c.forget(ks...)
	return c.DAGService.RemoveMany(ctx, ks)
}

func (c *dirCache) forget(ks ...cid.Cid) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range ks {
		c.lru.Remove(k)
	}
}

// Purge empties the cache: after a garbage collection, which deletes
// blocks without going through this DAG service.
func (c *dirCache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Purge()
}

// add caches a copy of nd under k if it is a directory with sorted links
// that fits the budget, evicting the least recently used entries.
func (c *dirCache) add(k cid.Cid, nd ipld.Node) {
	pn, ok := nd.(*merkledag.ProtoNode)
	if !ok || !cacheable(pn) {
		return
	}
	cost := int64(len(pn.RawData())) + int64(len(pn.Links()))*linkOverhead
	if cost > c.max {
		return
	}
	cp := pn.Copy().(*merkledag.ProtoNode)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(k) {
		return
	}
	for c.size+cost > c.max {
		c.lru.RemoveOldest()
	}
	c.lru.Add(k, dirEntry{nd: cp, cost: cost})
	c.size += cost
}

// cacheable reports whether pn is a UnixFS directory or HAMT shard whose
// links are in the order a copy would sort them into (by name, stable).
// A node without links is not worth caching, and is not decoded further:
// file leaves (dag-pb ones, with the unixfs-v0-2015 profile) are, and
// reading the type of each would copy its data.
func cacheable(pn *merkledag.ProtoNode) bool {
	if len(pn.Links()) == 0 {
		return false
	}
	fs, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil || fs.Type() != unixfs.TDirectory && fs.Type() != unixfs.THAMTShard {
		return false
	}
	links := pn.Links()
	for i := 1; i < len(links); i++ {
		if links[i-1].Name > links[i].Name {
			return false
		}
	}
	return true
}
