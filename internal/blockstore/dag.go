package blockstore

import (
	"context"
	"sync"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// readAhead is how many blocks one GetMany reads at once. A file read asks
// for the next several children of a node in one GetMany (boxo's DAG
// reader preloads them), so this is the read-ahead of a pull or gateway
// read: on an object store each block is a round trip, and reading a few
// at once hides most of their latency; memory stays a few blocks a read.
const readAhead = 8

// NewDAGService returns an offline DAG service over bs: everything it
// reads must already be stored (no network fetches yet). Its GetMany
// reads up to readAhead blocks in parallel and reports the first error as
// the store gave it (boxo's block service turns every failed read in a
// GetMany into a missing block, which would hide a damaged block or an
// unreachable store behind "failed to fetch all nodes").
func NewDAGService(bs bstore.Blockstore) ipld.DAGService {
	return dagService{merkledag.NewDAGService(blockservice.New(bs, nil))}
}

type dagService struct{ ipld.DAGService }

// GetMany sends the nodes of cids in the order they are read; after an
// error it sends that error and stops.
func (d dagService) GetMany(ctx context.Context, cids []cid.Cid) <-chan *ipld.NodeOption {
	out := make(chan *ipld.NodeOption, len(cids))
	go func() {
		defer close(out)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex // guards sent and failed, and orders sends
			sent int
		)
		failed := false
		slots := make(chan struct{}, readAhead)
		for _, c := range cids {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				nd, err := d.Get(ctx, c)
				mu.Lock()
				defer mu.Unlock()
				if failed {
					return
				}
				if err != nil {
					failed = true
					cancel()
				}
				out <- &ipld.NodeOption{Node: nd, Err: err}
				sent++
			}()
		}
		wg.Wait()
		if !failed && sent < len(cids) && ctx.Err() != nil {
			out <- &ipld.NodeOption{Err: ctx.Err()}
		}
	}()
	return out
}
