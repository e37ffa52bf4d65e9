package db

import (
	"context"
	"encoding/json"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// The access control list as callers see it: NewACLDB makes an
// access-controlled DB, Grant and Revoke change the list (as records of
// the thread, so they replicate), ACL lists it and LogID names the log an
// identity writes with on this hub, which an admin grants.

// NewACLDB creates an access-controlled DB for the principal, who is its
// owner: a fresh root log key, the thread ID that names it
// (threads.RootID), and a first event that makes the owner the admin of
// the root log, with the collections. NewDB's limits and refusals apply.
func (m *Manager) NewACLDB(ctx context.Context, p hub.Principal, name string, key *threads.Key, cols []CollectionConfig) (Info, error) {
	const op errors.Op = "db.NewACLDB"
	root, err := identity.New()
	if err != nil {
		return Info{}, errors.E(op, err)
	}
	id, err := threads.RootID(root.GetPublic())
	if err != nil {
		return Info{}, errors.E(op, err)
	}
	return m.create(ctx, op, p, id, name, key, cols, root)
}

// genesis returns the first event's ops of an access-controlled DB whose
// owner writes with root log lid.
func genesis(owner hub.PubKey, lid peer.ID) ([]operation, error) {
	raw, err := json.Marshal(aclChange{Role: RoleAdmin, Logs: []string{lid.String()}})
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	return []operation{{Kind: opACL, ID: string(owner), Value: raw}}, nil
}

// loadACL reads the stored list, and reads it again from the records if
// an ACL operation arrived that a crash kept from being read.
func (d *DB) loadACL() error {
	if d.acl.Load() == nil {
		return nil
	}
	var s aclState
	err := d.m.st.Get(aclKey(d.pfx), &s)
	switch {
	case err == nil:
		d.acl.Store(&s)
	case !errors.Is(errors.NotExist, err):
		return err
	}
	if stale, err := d.m.st.Has(aclStaleKey(d.pfx)); err != nil || !stale {
		return err
	}
	return d.enforceACL(context.Background())
}

// mayWrite refuses a local write by identity who, with log lid, that the
// list does not allow.
func (d *DB) mayWrite(who hub.PubKey, lid string, ops []operation) error {
	if d.acl.Load() == nil {
		return nil
	}
	if n, why := d.acl.Load().allowed(lid); n != unlimited {
		if why == "" {
			why = "the log was revoked"
		}
		return errors.Errorf("", errors.Permission, "identity %s may not write to DB %s (%s); an admin grants it the writer role", who, d.id, why)
	}
	for _, o := range ops {
		if o.Kind == opACL && !d.acl.Load().admin(lid) {
			return errors.Errorf("", errors.Permission, "identity %s may not change the access control list of DB %s: only its owner and admins do", who, d.id)
		}
	}
	return nil
}

// Grant gives identity who role in the DB, on behalf of principal p, who
// must be its owner or an admin (only the owner grants or takes away the
// admin role). A role that writes is granted with the logs given, or
// with a log this hub makes for who when none is: who then writes through
// this hub. A role lower than one who held cuts who's logs at the records
// this hub holds of them. Refusals: FailedPrecondition for a DB that is
// not access controlled, Permission for a caller who may not, Invalid for
// a malformed identity or log, or a change of the owner's own role.
func (d *DB) Grant(ctx context.Context, p hub.Principal, who hub.PubKey, role Role, logs []string) error {
	const op errors.Op = "db.Grant"
	if _, err := identity.Parse(who); err != nil {
		return errors.Errorf(op, errors.Invalid, "identity %q: %v", errors.Clip(string(who)), errors.Message(err))
	}
	if role < RoleNone || role > RoleAdmin {
		return errors.Errorf(op, errors.Invalid, "unknown role %d", int(role))
	}
	for _, l := range logs {
		if _, err := peer.Decode(l); err != nil {
			return errors.Errorf(op, errors.Invalid, "log %q is not a peer ID: %v", errors.Clip(l), err)
		}
	}
	if err := d.lock(ctx); err != nil {
		return err
	}
	defer d.unlock()
	if d.acl.Load() == nil {
		return errors.Errorf(op, errors.FailedPrecondition, "DB %s is not access controlled: whoever holds its key reads and writes it; make an access-controlled DB to give roles", d.id)
	}
	// The cuts count the records of the logs, every write's included.
	if err := d.former.wait(ctx); err != nil {
		return errors.E(op, err)
	}
	b := d.m.st.NewBatch()
	author, err := d.writer(b, p.Owner())
	if err != nil {
		return errors.E(op, err)
	}
	s := d.acl.Load()
	byRoot := author.id == s.Root
	switch {
	case !s.admin(author.id):
		return errors.Errorf(op, errors.Permission, "only the owner and the admins of DB %s change its access control list", d.id)
	case s.Logs[s.Root].Identity == who:
		return errors.Errorf(op, errors.Invalid, "identity %s owns DB %s: it is always its admin", who, d.id)
	case !byRoot && role == RoleAdmin:
		return errors.Errorf(op, errors.Permission, "only the owner of DB %s grants the admin role", d.id)
	}
	change := aclChange{Role: role, Cuts: map[string]int64{}}
	writing := false // whether who keeps a log with this role
	for lid, l := range s.Logs {
		if l.Identity != who || l.Revoked {
			continue
		}
		if !byRoot && l.Role == RoleAdmin {
			return errors.Errorf(op, errors.Permission, "identity %s is an admin of DB %s: only its owner changes its role", who, d.id)
		}
		if l.Role == role {
			writing = true
			continue
		}
		n, err := d.records(lid)
		if err != nil {
			return errors.E(op, err)
		}
		change.Cuts[lid] = n
	}
	if role >= RoleWriter && !writing {
		change.Logs = logs
		if len(logs) == 0 {
			lid, err := d.freshLog(b, who)
			if err != nil {
				return errors.E(op, err)
			}
			change.Logs = []string{lid}
		}
	}
	raw, err := json.Marshal(change)
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if err := d.writeDurably(b, p, []operation{{Kind: opACL, ID: string(who), Value: raw}}); err != nil {
		return errors.E(op, err)
	}
	if err := d.enforceACL(ctx); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// Revoke takes every role away from identity who: Grant with RoleNone.
func (d *DB) Revoke(ctx context.Context, p hub.Principal, who hub.PubKey) error {
	return d.Grant(ctx, p, who, RoleNone, nil)
}

// ACL returns the DB's access control list, by identity; FailedPrecondition
// for a DB that is not access controlled.
func (d *DB) ACL(ctx context.Context) ([]Member, error) {
	const op errors.Op = "db.ACL"
	if err := d.lock(ctx); err != nil {
		return nil, err
	}
	defer d.unlock()
	if d.acl.Load() == nil {
		return nil, errors.Errorf(op, errors.FailedPrecondition, "DB %s is not access controlled: whoever holds its key reads and writes it", d.id)
	}
	return d.acl.Load().members(), nil
}

// LogID returns the ID of the log principal p writes with in this DB on
// this hub, making its key if p has none: what an admin grants so that p
// may write here.
func (d *DB) LogID(ctx context.Context, p hub.Principal) (string, error) {
	const op errors.Op = "db.LogID"
	if err := d.lock(ctx); err != nil {
		return "", err
	}
	defer d.unlock()
	b := d.m.st.NewBatch()
	w, err := d.writer(b, p.Owner())
	if err == nil {
		err = b.Commit()
	}
	if err != nil {
		return "", errors.E(op, err)
	}
	return w.id, nil
}

// records returns how many records this hub holds of log lid.
func (d *DB) records(lid string) (int64, error) {
	id, err := peer.Decode(lid)
	if err != nil {
		return 0, nil // a log that is no peer ID holds nothing
	}
	l, err := d.m.threads.Log(d.id, id)
	switch {
	case errors.Is(errors.NotExist, err):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return l.Counter, nil
}

// freshLog returns the log identity who writes with on this hub, made
// anew (into b) if the one it has was ever granted: a granted log keeps
// its role, so a new role needs a new log.
func (d *DB) freshLog(b *store.Batch, who hub.PubKey) (string, error) {
	w, err := d.writer(b, who)
	if err != nil {
		return "", err
	}
	if _, granted := d.acl.Load().Logs[w.id]; !granted {
		return w.id, nil
	}
	key, err := identity.New()
	if err != nil {
		return "", err
	}
	raw, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return "", errors.E(errors.Internal, err)
	}
	lid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return "", errors.E(errors.Internal, err)
	}
	d.writersMu.Lock()
	delete(d.writers, who) // the store has the new key once b commits
	d.writersMu.Unlock()
	b.PutRaw(writerKey(d.pfx, who), raw)
	return lid.String(), nil
}
