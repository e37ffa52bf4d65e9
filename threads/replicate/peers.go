package replicate

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// peerStore keeps, per thread, the peers it replicates with and the
// addresses they were last seen at:
//
//	thr/p/<thread>/<peer ID> → peerJSON
//
// A peer is added when this hub joins a thread from it, and when it makes
// a request that proves it holds the thread's key.
type peerStore struct {
	st *store.Store
}

type peerJSON struct {
	Addrs []string `json:"addrs"`
}

func peerPrefix(id threads.ID) []byte { return append(store.Key(store.ThreadPeers, id.String()), '/') }
func peerKey(id threads.ID, p peer.ID) []byte {
	return store.Key(store.ThreadPeers, id.String(), p.String())
}

// add stores p, at addrs, as a peer of thread id, unless the thread has
// max peers already; a known peer's addresses are replaced when they
// changed (and kept when addrs is empty).
func (ps peerStore) add(id threads.ID, p peer.ID, addrs []ma.Multiaddr, max int) error {
	v := peerJSON{Addrs: make([]string, 0, len(addrs))}
	for _, a := range addrs {
		v.Addrs = append(v.Addrs, a.String())
	}
	slices.Sort(v.Addrs)
	var old peerJSON
	err := ps.st.Get(peerKey(id, p), &old)
	switch {
	case err == nil:
		if len(addrs) == 0 || slices.Equal(old.Addrs, v.Addrs) {
			return nil
		}
	case !errors.Is(errors.NotExist, err):
		return err
	default:
		n := 0
		if err := ps.st.Scan(peerPrefix(id), func(_, _ []byte) error { n++; return nil }); err != nil {
			return err
		}
		if n >= max {
			return nil
		}
	}
	b := ps.st.NewBatch()
	b.Put(peerKey(id, p), v)
	return b.Commit()
}

// list returns the peers of thread id with their stored addresses.
func (ps peerStore) list(id threads.ID) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	prefix := peerPrefix(id)
	err := store.ScanJSON(ps.st, prefix, func(k []byte, v *peerJSON) error {
		p, err := peer.Decode(string(k[len(prefix):]))
		if err != nil {
			return nil // not ours to judge here; skip it
		}
		ai := peer.AddrInfo{ID: p}
		for _, s := range v.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		out = append(out, ai)
		return nil
	})
	return out, err
}

// threads returns every thread that has a stored peer.
func (ps peerStore) threads() ([]threads.ID, error) {
	var out []threads.ID
	ns := []byte(store.ThreadPeers + "/")
	err := ps.st.Scan(ns, func(k, _ []byte) error {
		rest := string(k[len(ns):])
		for i := range len(rest) {
			if rest[i] == '/' {
				rest = rest[:i]
				break
			}
		}
		id, err := threads.Decode(rest)
		if err == nil && (len(out) == 0 || out[len(out)-1] != id) {
			out = append(out, id)
		}
		return nil
	})
	return out, err
}

// remove forgets peer p of thread id.
func (ps peerStore) remove(id threads.ID, p peer.ID) error {
	b := ps.st.NewBatch()
	b.Delete(peerKey(id, p))
	return b.Commit()
}

// drop forgets the peers of thread id.
func (ps peerStore) drop(id threads.ID) error {
	b := ps.st.NewBatch()
	b.DeletePrefix(peerPrefix(id))
	return b.Commit()
}
