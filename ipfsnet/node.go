// Package ipfsnet puts the hub on the IPFS network: it serves the hub's
// blockstore over bitswap on the hub's libp2p host, keeps the signed IPNS
// records of bucket keys (Records), and announces both to the DHT: provider
// records for the roots the records name, and the records themselves.
//
// The network is optional. With no peers (the default: no bootstrap
// peers) everything still works locally: records are signed and stored, the
// gateway serves them, and the announcements wait until the DHT has a peer.
// Announcing never delays a bucket change: Publish signs and stores the
// record, and a background loop does the network work.
package ipfsnet

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bsnetwork "github.com/ipfs/boxo/bitswap/network"
	bsnet "github.com/ipfs/boxo/bitswap/network/bsnet"
	bsserver "github.com/ipfs/boxo/bitswap/server"
	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/selfhub/hub/errors"
)

// DHTMode says how the hub takes part in the DHT.
type DHTMode string

// DHT modes.
const (
	// DHTAuto is a client until the host finds it is publicly reachable,
	// then a server: right for a hub behind NAT or on a laptop.
	DHTAuto DHTMode = "auto"
	// DHTClient queries and announces but answers no queries.
	DHTClient DHTMode = "client"
	// DHTServer answers queries too.
	DHTServer DHTMode = "server"
	// DHTOff runs no DHT: blocks are still served over bitswap to peers
	// that connect, and records on the gateway.
	DHTOff DHTMode = "off"
)

// ParseDHTMode checks a DHT mode's name.
func ParseDHTMode(s string) (DHTMode, error) {
	const op errors.Op = "ipfsnet.ParseDHTMode"
	switch m := DHTMode(s); m {
	case DHTAuto, DHTClient, DHTServer, DHTOff:
		return m, nil
	}
	return "", errors.Errorf(op, errors.Invalid, "DHT mode %q is not one of auto, client, server, off", errors.Clip(s))
}

// ParseBootstrap parses bootstrap peers: multiaddrs that end in
// /p2p/<peer ID>. Addresses of one peer are merged.
func ParseBootstrap(addrs []string) ([]peer.AddrInfo, error) {
	const op errors.Op = "ipfsnet.ParseBootstrap"
	var mas []ma.Multiaddr
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return nil, errors.Errorf(op, errors.Invalid, "bootstrap peer %q is not a multiaddr: %v", errors.Clip(a), err)
		}
		mas = append(mas, m)
	}
	ais, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, errors.Errorf(op, errors.Invalid, "bootstrap peers must end in /p2p/<peer ID>, such as /ip4/192.0.2.1/tcp/4001/p2p/12D3Koo…: %v", err)
	}
	return ais, nil
}

// Names is what the node needs from the bucket service to keep records
// from expiring.
type Names interface {
	// Republish signs the record of the bucket whose key is name again,
	// with the bucket's current root, through the node's Publish;
	// NotExist when there is no such bucket any more.
	Republish(ctx context.Context, name string) error
}

// Config configures a Node.
type Config struct {
	// Host is the hub's libp2p host; the node adds protocols to it.
	Host host.Host
	// Blocks is served to peers over bitswap, read only: in hubd, bucket
	// and thread blocks (blockstore.Served). Only Has, Get and GetSize are
	// called.
	Blocks bstore.Blockstore
	// Records holds the IPNS records the node publishes.
	Records *Records
	// DHT is the DHT mode; empty means DHTAuto.
	DHT DHTMode
	// Bootstrap are the peers the DHT starts from; none keeps the hub to
	// itself until a peer connects to it.
	Bootstrap []peer.AddrInfo
	// Announce sends provider records for bucket roots to the DHT.
	Announce bool
	// Log receives what is worth a look; nil for none.
	Log *slog.Logger
}

// Intervals of the background loop.
const (
	// retryEvery is how often announcements that found no DHT peer are
	// tried again. A check with nothing to do costs a map length.
	retryEvery = 5 * time.Second
	// reannounceEvery is how often every record and root is announced
	// again: DHT peers forget provider records and values after 48 hours.
	reannounceEvery = 12 * time.Hour
	// announceTimeout bounds one provide or put.
	announceTimeout = time.Minute
)

// Node is the hub on the IPFS network. It is safe for concurrent use.
type Node struct {
	cfg     Config
	log     *slog.Logger
	net     bsnetwork.BitSwapNetwork
	bitswap *bsserver.Server
	dht     *dht.IpfsDHT // nil with DHTOff

	wake   chan struct{} // a name became due
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}  // closed when the loop ends; nil before Run
	syncs  sync.WaitGroup // records waiting to be on disk

	// mu guards due.
	mu sync.Mutex
	// due are the names whose record and root are still to be announced.
	due map[ipns.Name]struct{}
}

// New starts serving cfg.Blocks over bitswap and joins the DHT. Run starts
// the announcements.
func New(cfg Config) (*Node, error) {
	const op errors.Op = "ipfsnet.New"
	if cfg.Host == nil || cfg.Blocks == nil || cfg.Records == nil {
		return nil, errors.E(op, errors.Invalid, "the IPFS node needs a host, a blockstore and a record store")
	}
	if cfg.DHT == "" {
		cfg.DHT = DHTAuto
	}
	if _, err := ParseDHTMode(string(cfg.DHT)); err != nil {
		return nil, errors.E(op, err)
	}
	n := &Node{cfg: cfg, log: cfg.Log, wake: make(chan struct{}, 1), due: map[ipns.Name]struct{}{}}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())

	n.net = bsnet.NewFromIpfsHost(cfg.Host)
	n.bitswap = bsserver.New(n.ctx, n.net, cfg.Blocks)
	n.net.Start(n.bitswap)

	if cfg.DHT != DHTOff {
		mode := map[DHTMode]dht.ModeOpt{DHTAuto: dht.ModeAuto, DHTClient: dht.ModeClient, DHTServer: dht.ModeServer}[cfg.DHT]
		d, err := dht.New(cfg.Host, dht.Mode(mode), dht.BootstrapPeers(cfg.Bootstrap...))
		if err != nil {
			n.Close()
			return nil, errors.E(op, errors.Internal, fmt.Errorf("start the DHT: %w", err))
		}
		n.dht = d
		for _, ai := range cfg.Bootstrap {
			go func() {
				cctx, cancel := context.WithTimeout(n.ctx, announceTimeout)
				defer cancel()
				if err := cfg.Host.Connect(cctx, ai); err != nil {
					n.log.Warn("ipfs: cannot reach a bootstrap peer; check ipfs-bootstrap", "peer", ai.ID, "err", err)
				}
			}()
		}
	}
	return n, nil
}

// Run starts the background loop that announces records and roots as they
// are published, and has names sign records again before they expire.
// Call it once; Close stops it.
func (n *Node) Run(names Names) {
	n.done = make(chan struct{})
	go n.loop(names)
}

// Publish signs and stores a record naming root for sk's name: the
// gateway serves it from when Publish returns. It does not wait for the
// record to reach the disk, which would add a sync to every bucket change
// (BenchmarkRecordsSign measures both: the wait for the sync costs several
// times the signing and storing, and most of a small push): the store
// syncs it within a sync's time, and only then is it announced, so
// the network never sees a record a crash could take back. A crash in that
// window leaves the previous record, which the gateway ignores as it no
// longer names the bucket's root, until the next change or re-signing.
func (n *Node) Publish(ctx context.Context, sk crypto.PrivKey, root cid.Cid) error {
	name, err := NameOf(sk)
	if err != nil {
		return err
	}
	durable, err := n.cfg.Records.Sign(ctx, sk, root)
	if err != nil {
		return err
	}
	n.syncs.Add(1)
	go func() {
		defer n.syncs.Done()
		if err := durable(); err != nil {
			n.log.Error("ipfs: store an IPNS record", "name", name, "err", err)
			return
		}
		n.markDue(name)
	}()
	return nil
}

// Unpublish forgets the record of the name key (a bucket key): the gateway
// stops resolving it at once. Copies already on DHT peers expire there.
func (n *Node) Unpublish(ctx context.Context, key string) error {
	const op errors.Op = "ipfsnet.Unpublish"
	name, err := ipns.NameFromString(key)
	if err != nil {
		return errors.E(op, errors.Invalid, err)
	}
	n.mu.Lock()
	delete(n.due, name)
	n.mu.Unlock()
	return n.cfg.Records.Delete(ctx, name)
}

// markDue queues name's announcement and wakes the loop.
func (n *Node) markDue(names ...ipns.Name) {
	if n.dht == nil {
		return
	}
	n.mu.Lock()
	for _, name := range names {
		n.due[name] = struct{}{}
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Close stops announcing and serving.
func (n *Node) Close() error {
	n.cancel()
	if n.done != nil {
		<-n.done
	}
	n.syncs.Wait()
	var err error
	if n.dht != nil {
		err = n.dht.Close()
	}
	if n.bitswap != nil {
		n.bitswap.Close()
	}
	if n.net != nil {
		n.net.Stop()
	}
	return err
}
