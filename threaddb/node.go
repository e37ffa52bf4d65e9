// Package threaddb is ThreadDB embedded in an app: the same DBs hubd
// hosts (collections with JSON Schemas, indexes, queries, transactions,
// Listen; package threads/db), kept in the app's own store directory and
// replicated peer to peer from the app's own libp2p host (package
// threads/replicate), with no server in between.
//
// A Node works offline: every write is durable in its store when it
// returns, whether or not a peer is reachable, and is handed to the DB's
// peers as soon as they are back (at once when they connect to the node,
// and at the latest every Replication.Interval). Two nodes share a DB by
// its address and key (Join); a hub added as the DB's replicator
// (AddReplicator) keeps and relays its records while the app's other
// peers are away, holding only the service key, so it cannot read them.
//
// Everything it needs is public: it imports nothing under internal/
// (deps_test.go keeps it so), so an app outside this module can use it.
package threaddb

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/logstore"
	"github.com/selfhub/hub/threads/replicate"
)

// DefaultListenAddrs are where a Node listens when Config.ListenAddrs is
// empty: every interface, ports the system picks.
var DefaultListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}

// Config configures a Node; only Dir is required.
type Config struct {
	// Dir holds the node's store (Dir/store) and its identity
	// (Dir/identity.key, an Ed25519 key made on first use): the key of its
	// libp2p host and the identity whose log its writes go to.
	Dir string
	// ListenAddrs are the libp2p host's listen multiaddrs;
	// DefaultListenAddrs when empty.
	ListenAddrs []string
	// DB holds the limits of the node's DBs (threads/db); zero fields take
	// their defaults.
	DB db.Config
	// Replication holds the limits and timing of replication
	// (threads/replicate); zero fields take their defaults.
	Replication replicate.Config
	// Log receives the store's and replication's messages; nil discards
	// them.
	Log *slog.Logger
}

// Node is an app's embedded ThreadDB. Its hub.Threads methods reach the
// node's DBs as its identity, the DBs' owner; they behave as hubd's hosted
// ThreadDB does for an account (threads/db/threadstest checks both).
type Node struct {
	hub.Threads

	key   crypto.PrivKey
	host  host.Host
	st    *store.Store
	logs  *logstore.Store
	dbs   *db.Manager
	repl  *replicate.Service
	owner hub.Principal
}

// Open opens (or makes) the node in cfg.Dir and starts its libp2p host and
// replication. Close stops them.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	const op errors.Op = "threaddb.Open"
	if cfg.Dir == "" {
		return nil, errors.E(op, errors.Invalid, "threaddb needs a directory to keep its store and identity in (Config.Dir)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = DefaultListenAddrs
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, errors.E(op, err)
	}
	key, err := identity.LoadOrCreate(filepath.Join(cfg.Dir, "identity.key"))
	if err != nil {
		return nil, errors.E(op, err)
	}
	me, err := identity.String(key.GetPublic())
	if err != nil {
		return nil, errors.E(op, err)
	}
	n := &Node{key: key, owner: hub.Principal{Kind: hub.DeveloperPrincipal, Account: me}}
	if n.st, err = store.Open(filepath.Join(cfg.Dir, "store"), cfg.Log); err != nil {
		return nil, errors.E(op, err)
	}
	n.logs = logstore.NewStore(n.st)
	n.dbs = db.NewManager(cfg.DB, n.st, n.logs)
	n.Threads = n.dbs.Threads(n.owner)
	if n.host, err = libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings(cfg.ListenAddrs...), libp2p.DisableRelay()); err != nil {
		n.st.Close()
		return nil, errors.Errorf(op, errors.Invalid, "libp2p host on %v: %v", cfg.ListenAddrs, err)
	}
	cfg.Replication.Log = cfg.Log
	n.repl = replicate.New(cfg.Replication, n.host, n.st, n.logs, n.dbs)
	// Writes a crash cut off before their records were formed get them
	// now, and replication hands them on.
	if _, err := n.dbs.ResumeForming(ctx, func(id threads.ID, err error) {
		cfg.Log.Error("threaddb: forming the records a crash left unformed", "db", id, "err", err)
	}); err != nil {
		n.Close()
		return nil, errors.E(op, err)
	}
	return n, nil
}

// Close stops replication and the host, waits for records being formed,
// and closes the store.
func (n *Node) Close() error {
	const op errors.Op = "threaddb.Close"
	n.repl.Close()
	herr := n.host.Close()
	n.dbs.WaitRecords(context.Background())
	if err := n.st.Close(); err != nil {
		return errors.E(op, err)
	}
	return herr
}

// Identity is the node's identity, which owns its DBs and signs its
// writes' records.
func (n *Node) Identity() hub.PubKey { return n.owner.Account }

// PeerID is the node's libp2p peer ID.
func (n *Node) PeerID() peer.ID { return n.host.ID() }

// Addrs are the addresses other peers reach the node at, each ending in
// /p2p/<peer ID>.
func (n *Node) Addrs() []ma.Multiaddr {
	self, err := ma.NewComponent("p2p", n.host.ID().String())
	if err != nil {
		return nil
	}
	var out []ma.Multiaddr
	for _, a := range n.host.Addrs() {
		out = append(out, a.Encapsulate(self))
	}
	return out
}

// DBAddrs are the addresses of DB id at this node, which another node
// joins from (Join): each of Addrs followed by /thread/<id>, in text form
// (go-multiaddr does not know the thread protocol; threads.AddrBytes gives
// the wire's binary form).
func (n *Node) DBAddrs(id hub.ThreadID) ([]string, error) {
	const op errors.Op = "threaddb.DBAddrs"
	if _, err := n.Threads.GetDBInfo(context.Background(), id); err != nil {
		return nil, errors.E(op, err)
	}
	var out []string
	for _, a := range n.Addrs() {
		out = append(out, a.String()+"/thread/"+id.String())
	}
	return out, nil
}

// Join makes the DB at addr (/…/p2p/<peer ID>/thread/<id>, a node's or a
// hub's address of it) a DB of this node, from its key (threads.Key's
// binary form, both keys), and returns its ID: the history arrives before
// it returns, and the two keep it in sync from then on. Joining through a
// hub that replicates the DB works the same, whether or not the node that
// made it is online. Refusals are threads/replicate's Join's.
func (n *Node) Join(ctx context.Context, addr string, key []byte, name string) (hub.ThreadID, error) {
	const op errors.Op = "threaddb.Join"
	host, id, err := threads.SplitAddr(addr)
	if err == nil && host == nil {
		err = errors.E(errors.Invalid, "it names no peer")
	}
	if err != nil {
		return "", errors.Errorf(op, errors.Invalid, "DB address %s must be a peer's address followed by /thread/<DB ID>: %v", errors.Clip(addr), err)
	}
	k, err := threads.KeyFromBytes(key)
	if err != nil {
		return "", errors.E(op, err)
	}
	if !k.CanRead() {
		return "", errors.E(op, errors.Invalid, "joining a DB needs its full key (service and read keys); a service key only makes a replicator")
	}
	if _, err := n.repl.Join(ctx, n.owner, host, id, k, name); err != nil {
		return "", errors.E(op, err)
	}
	return id, nil
}
