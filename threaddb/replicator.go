package threaddb

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// Replicators is a hub that replicates threads, through its API as an API
// key authorizes: client/threads's *Client is one, its calls
// carrying the key (an account key, or a user group key with a user's
// token) in their context. AddReplicator asks the hub to keep thread id,
// which the peer at addr (ending in /p2p/<peer ID>/thread/<id>) holds,
// with key, the thread's service key only; the hub pulls the records
// before it answers, and counts them against the key's account.
// RemoveReplicator asks the hub to stop: it deletes the thread's records
// and no longer counts them.
type Replicators interface {
	AddReplicator(ctx context.Context, addr string, key threads.Key) error
	RemoveReplicator(ctx context.Context, id hub.ThreadID) error
}

// AddReplicator makes the hub r, whose libp2p host is at hubAddr (ending
// in /p2p/<peer ID>), a replicator and pinning peer of DB id: r is handed
// the thread's service key only, which lets it verify, keep and relay the
// DB's records but read none, and this node adds it as a peer of the DB,
// so the records written here reach it, and through it the DB's other
// peers, even when this node and they are never online together. ctx
// carries what r needs to authorize the call (its API key). The hub's
// refusals come back as r reports them: Unauthenticated without a valid
// key, Exhausted past its limits for the key's account, Exist when the hub
// holds the thread already.
func (n *Node) AddReplicator(ctx context.Context, r Replicators, hubAddr ma.Multiaddr, id hub.ThreadID) error {
	const op errors.Op = "threaddb.AddReplicator"
	info, err := n.Threads.GetDBInfo(ctx, id)
	if err != nil {
		return errors.E(op, err)
	}
	key, err := threads.KeyFromBytes(info.Key)
	if err != nil {
		return errors.E(op, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(hubAddr)
	if err != nil {
		return errors.Errorf(op, errors.Invalid, "hub address %s names no peer: it must end in /p2p/<peer ID>", hubAddr)
	}
	addrs := n.Addrs()
	if len(addrs) == 0 {
		return errors.E(op, errors.Unavailable, "this node's host listens on no address the hub could reach")
	}
	// The hub pulls the DB's history from this node. Connect to it first:
	// its streams then come over this connection, so a node behind a NAT
	// the hub cannot dial through is reached all the same. It is also told
	// an address of ours, for later: one of the hub's own network when
	// there is one (a loopback hub reaches loopback addresses).
	n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstoreTTL)
	if err := n.host.Connect(ctx, *ai); err != nil {
		return errors.Errorf(op, errors.Unavailable, "cannot reach the hub's libp2p host at %s: %v", hubAddr, err)
	}
	if err := r.AddReplicator(ctx, pickAddr(id, addrs, ai.Addrs), key.ServiceOnly()); err != nil {
		return errors.E(op, err)
	}
	if err := n.repl.AddPeer(ctx, id, *ai); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// RemoveReplicator undoes AddReplicator: the hub r, whose libp2p host is
// hubPeer, stops replicating DB id and deletes its records, and this node
// no longer syncs the DB with it. ctx carries r's authorization, as for
// AddReplicator. A hub that already keeps no such replica is no error
// here: the node stops syncing with it all the same.
func (n *Node) RemoveReplicator(ctx context.Context, r Replicators, hubPeer peer.ID, id hub.ThreadID) error {
	const op errors.Op = "threaddb.RemoveReplicator"
	if err := r.RemoveReplicator(ctx, id); err != nil && !errors.Is(errors.NotExist, err) {
		return errors.E(op, err)
	}
	if err := n.repl.RemovePeer(id, hubPeer); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// peerstoreTTL is how long the host remembers a hub's addresses it was
// given; the replication peer store keeps them for good.
const peerstoreTTL = peerstore.PermanentAddrTTL

// pickAddr returns the address of DB id at the one of ours (non-empty)
// that a peer at theirs most likely reaches: a loopback address for a
// peer on loopback, otherwise one that is not, TCP before other
// transports.
func pickAddr(id hub.ThreadID, ours, theirs []ma.Multiaddr) string {
	loopback := len(theirs) > 0 && manet.IsIPLoopback(theirs[0])
	best, score := ours[0], -1
	for _, a := range ours {
		s := 0
		if manet.IsIPLoopback(a) == loopback {
			s += 2
		}
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			s++
		}
		if s > score {
			best, score = a, s
		}
	}
	return best.String() + "/thread/" + id.String()
}
