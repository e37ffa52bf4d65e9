package replicate

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// Join makes, for principal p, DB id, which the peer at addr (a multiaddr
// ending in /p2p/<peer>) hosts, from its key: a DB of p's named name, with
// that peer as its first peer. It returns once the DB's history has
// arrived, and the two hubs keep it in sync from then on. An address
// without a peer, or this hub's own, is Invalid; NewDB's refusals apply
// (Exist when this hub holds the DB already).
//
// With the thread's service key only, this hub becomes the thread's
// replicator instead (replicas.go): it keeps and relays the records for
// p's account, within its MaxReplicas and MaxReplicaBytes (Exhausted past
// them), and can read none; the Info returned then names the thread only. A peer that cannot be reached is Unavailable, one that
// does not hold the DB with this key FailedPrecondition; either way the
// DB is not kept.
func (s *Service) Join(ctx context.Context, p hub.Principal, addr ma.Multiaddr, id threads.ID, key threads.Key, name string) (db.Info, error) {
	const op errors.Op = "replicate.Join"
	ai, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		return db.Info{}, errors.Errorf(op, errors.Invalid, "DB address %s names no peer: it must end in /p2p/<peer ID>/thread/<DB ID>", addr)
	}
	if ai.ID == s.host.ID() {
		return db.Info{}, errors.Errorf(op, errors.Invalid, "DB address %s is this hub's own; the DB is here already", addr)
	}
	if !key.CanRead() {
		if err := s.replicate(ctx, p, *ai, id, key); err != nil {
			return db.Info{}, err
		}
		return db.Info{ID: id, Key: key, Owner: p.Owner(), Account: p.Account}, nil
	}
	info, err := s.dbs.NewDB(ctx, p, id, name, &key, nil)
	if err != nil {
		return db.Info{}, errors.E(op, err)
	}
	// The first sync is this call's: a sync the records it brings set off
	// (OnRecords) waits for it, rather than race it for the same records.
	k := syncKey{ai.ID, id}
	if !s.claim(k) {
		return db.Info{}, errors.E(op, s.undo(p, id, errClosing()))
	}
	err = s.peers.add(id, ai.ID, ai.Addrs, s.cfg.MaxPeers)
	if err == nil {
		err = s.syncWith(ctx, *ai, id)
	}
	s.done(k, *ai)
	if err != nil {
		return db.Info{}, errors.E(op, s.undo(p, id, err))
	}
	return info, nil
}

// undo deletes the DB a failed Join made, and returns why it failed.
func (s *Service) undo(p hub.Principal, id threads.ID, why error) error {
	// Not the caller's context: it may have ended, which is why Join
	// failed, and the DB must go all the same.
	if err := s.dbs.DeleteDB(s.ctx, p, id); err != nil {
		s.cfg.Log.Error("replication: deleting a DB whose join failed", "db", id, "err", err)
	}
	if err := s.peers.drop(id); err != nil {
		s.cfg.Log.Error("replication: forgetting the peers of a DB whose join failed", "db", id, "err", err)
	}
	return why
}

// AddPeer makes the peer at ai (its ID and addresses) a peer of thread id,
// which this host holds, and syncs with it before it returns: how an app
// that embeds ThreadDB adds a hub as its thread's replicator once the hub
// has accepted the role. The peer is kept even when this first sync fails
// (Unavailable when the peer cannot be reached, FailedPrecondition when it
// refuses): syncs are tried again every Interval.
func (s *Service) AddPeer(ctx context.Context, id threads.ID, ai peer.AddrInfo) error {
	const op errors.Op = "replicate.AddPeer"
	if ai.ID == s.host.ID() {
		return errors.E(op, errors.Invalid, "a host is not its own peer")
	}
	if _, err := s.logs.Thread(id); err != nil {
		return errors.E(op, err)
	}
	if err := s.peers.add(id, ai.ID, ai.Addrs, s.cfg.MaxPeers); err != nil {
		return errors.E(op, err)
	}
	k := syncKey{ai.ID, id}
	if !s.claim(k) {
		return errors.E(op, errClosing())
	}
	err := s.syncWith(ctx, ai, id)
	s.done(k, ai)
	if err != nil {
		return errors.E(op, err)
	}
	return nil
}

// RemovePeer stops syncing thread id with peer p: it is no longer one of
// the thread's peers, until it proves the thread's key to this host again.
func (s *Service) RemovePeer(id threads.ID, p peer.ID) error {
	const op errors.Op = "replicate.RemovePeer"
	if err := s.peers.remove(id, p); err != nil {
		return errors.E(op, err)
	}
	return nil
}
