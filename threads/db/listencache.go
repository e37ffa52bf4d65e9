package db

import (
	"container/list"
	"sync"
)

// DefaultListenCache is how many bytes of changes the listeners of a hub
// share (Config.ListenCache): room for the changes a few hundred busy DBs
// wrote in the last moments, which is what listeners that keep up read.
const DefaultListenCache = 16 << 20

// changeCache holds the changes listeners read lately, decoded, with
// their wire encoding once a listener made it, so that the listeners of a
// DB read and decode each change once between them, and encode it once
// for all who see it as written (see Event.Encode). It is bounded in
// bytes, the least recently used out first. A listener that falls so far
// behind that its next change is gone reads it again from the store: the
// cache saves work, it never decides what is delivered.
type changeCache struct {
	max int

	// mu guards the fields below and the size of every entry.
	mu      sync.Mutex
	size    int
	entries map[changeKey]*list.Element // of *cachedChange
	lru     list.List                   // most recently used at the front
}

// changeKey names a change: its DB (the open DB, so that a DB deleted and
// made again never meets the old one's changes) and its position.
type changeKey struct {
	d   *DB
	seq uint64
}

// cachedChange is one change as listeners share it. Its fields but enc
// and encErr never change once it is in the cache.
type cachedChange struct {
	key changeKey
	seqChange
	size int // bytes charged for it; guarded by changeCache.mu

	once   sync.Once // makes enc
	enc    []byte
	encErr error
}

func newChangeCache(max int) *changeCache {
	return &changeCache{max: max, entries: map[changeKey]*list.Element{}}
}

// get returns the change at key, or nil.
func (c *changeCache) get(key changeKey) *cachedChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil {
		return nil
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cachedChange)
}

// put adds ch, charged size bytes, and returns the cached change at its
// key: ch, or the one another listener put first, which the caller uses
// instead so that both share its encoding.
func (c *changeCache) put(ch *cachedChange, size int) *cachedChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[ch.key]; e != nil {
		c.lru.MoveToFront(e)
		return e.Value.(*cachedChange)
	}
	ch.size = size
	c.entries[ch.key] = c.lru.PushFront(ch)
	c.size += size
	c.evict()
	return ch
}

// grow charges ch n bytes more (its encoding), if it is still cached.
func (c *changeCache) grow(ch *cachedChange, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[ch.key]; e == nil || e.Value.(*cachedChange) != ch {
		return
	}
	ch.size += n
	c.size += n
	c.evict()
}

// evict drops the least recently used changes until the cache is within
// its bound; c.mu is held.
func (c *changeCache) evict() {
	for c.size > c.max && c.lru.Len() > 0 {
		e := c.lru.Back()
		ch := e.Value.(*cachedChange)
		c.lru.Remove(e)
		delete(c.entries, ch.key)
		c.size -= ch.size
	}
}
