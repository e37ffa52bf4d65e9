package buckets

import (
	"context"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// Access to a bucket by someone other than its owner.
//
// ThreadDB scopes a DB to the identity that made it: another identity
// cannot open it at all. Path access roles are the bucket's own, finer
// rule, so the check lives here rather than in ThreadDB: when the caller
// cannot open the DB named in the request, and the DB belongs to an
// identity of the same account (two users of one app, or an app's users
// and its developer), the service opens it as its owner, reads the bucket,
// and lets the call through only if the caller's role on the path is high
// enough. Writes are then made as the owner (the caller's identity is
// not a writer of the owner's thread); the bucket's instance records the
// roles that allowed them. DBs of other accounts stay invisible: the
// caller sees the NotExist it would have seen anyway.
//
// Roles live in the instance's metadata, path → {roles}; the empty path is
// the bucket's root. A caller's role on a path is the highest of the roles
// given to its identity or to "*" on the path and on each of its
// ancestors. The bucket's owner is Admin everywhere.
//
// "*" therefore means every identity of the bucket's account: the users of
// its developer's (or org's) apps, and the account itself. It never admits
// another account's identities, and neither does a role given to one of
// them by name. The gateway's private reads go through the same check
// (GatewayPrivate calls open), with the principal the reader's token or
// link acts as toward the bucket's account, so a role means the same
// through the bucket API and at the gateway. A bucket meant for everyone is made
// public, not private with "*".
//
// What each call needs: reading a path (ListPath, PullPath,
// PullPathAccessRoles) Reader on it; writing (PushPath, PushPaths,
// SetPath, RemovePath, MovePath on both paths) Writer; changing roles
// (PushPathAccessRoles) Admin on the path; removing the bucket Admin on
// its root. Root and Links need a role somewhere in the bucket: the JS
// client reads the root before every push. List shows a non-owner the
// buckets it has a role in.

// AnyIdentity is the roles key that stands for every identity of the
// bucket's account (see above).
const AnyIdentity = "*"

// reach is how a caller reaches the DB that holds a bucket.
type reach struct {
	d *db.DB
	// as is the principal the DB is read and written as: the caller when
	// it owns the DB, else the DB's owner.
	as hub.Principal
	// caller is the identity whose roles apply.
	caller string
	// owner is set when the caller owns the DB: Admin everywhere.
	owner bool
}

// reachDB opens the DB thread for p: its own, or another identity's of the
// same account (then roles decide, see above).
func (s *Service) reachDB(ctx context.Context, p hub.Principal, thread threads.ID) (reach, error) {
	d, err := s.bucketsDB(ctx, p, thread)
	if err == nil {
		return reach{d: d, as: p, caller: string(p.Owner()), owner: true}, nil
	}
	if !errors.Is(errors.NotExist, err) || thread == "" {
		return reach{}, err
	}
	o, oerr := s.dbs.Owner(ctx, thread)
	if oerr != nil || o.Account != p.Account || p.Account == "" {
		return reach{}, err // another account's DB stays invisible
	}
	d, oerr = s.dbs.DB(ctx, o, thread)
	if oerr != nil {
		return reach{}, err
	}
	return reach{d: d, as: o, caller: string(p.Owner())}, nil
}

// RoleOf returns who's role on the path segs of b: the highest role given
// to who or to "*" on the path or any ancestor. It knows nothing of
// ownership: the caller gives the owner Admin.
func (b Bucket) RoleOf(who string, segs []string) Role {
	best := RoleNone
	for i := 0; i <= len(segs); i++ {
		m, ok := b.Metadata[join(segs[:i])]
		if !ok {
			continue
		}
		best = max(best, m.Roles[who], m.Roles[AnyIdentity])
	}
	return best
}

// anyRole reports whether who has any role anywhere in b.
func (b Bucket) anyRole(who string) bool {
	for _, m := range b.Metadata {
		if m.Roles[who] > RoleNone || m.Roles[AnyIdentity] > RoleNone {
			return true
		}
	}
	return false
}

// authorize checks that the caller has role need on segs of b.
func (r reach) authorize(op errors.Op, b Bucket, segs []string, need Role) error {
	if r.owner || b.Owner == r.caller {
		return nil
	}
	if have := b.RoleOf(r.caller, segs); have < need {
		return errors.Errorf(op, errors.Permission,
			"identity %s has role %v on /%s of bucket %s and needs %v: the bucket's owner can grant it with PushPathAccessRoles",
			errors.Clip(r.caller), have, join(segs), b.Key, need)
	}
	return nil
}

// authorizeAny checks that the caller has some role in b.
func (r reach) authorizeAny(op errors.Op, b Bucket) error {
	if r.owner || b.Owner == r.caller || b.anyRole(r.caller) {
		return nil
	}
	return errors.Errorf(op, errors.Permission,
		"identity %s has no role in bucket %s: the bucket's owner can grant one with PushPathAccessRoles", errors.Clip(r.caller), b.Key)
}

// getBucket reads the bucket with key through r.
func (s *Service) getBucket(ctx context.Context, op errors.Op, r reach, thread threads.ID, key string) (Bucket, error) {
	if err := CheckKey(key); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	txn, err := r.d.ReadTxn(ctx, r.as, Collection)
	if err != nil {
		return Bucket{}, errors.E(op, notFound(key, err))
	}
	defer txn.Discard()
	return s.decodeBucket(op, txn, key, thread)
}

// open reaches the bucket key in thread for p and checks that p has role
// need on segs (need < 0: any role in the bucket).
func (s *Service) open(ctx context.Context, op errors.Op, p hub.Principal, thread threads.ID, key string, segs []string, need Role) (reach, Bucket, error) {
	if err := CheckKey(key); err != nil {
		return reach{}, Bucket{}, errors.E(op, err)
	}
	r, err := s.reachDB(ctx, p, thread)
	if err != nil {
		return reach{}, Bucket{}, errors.E(op, err)
	}
	b, err := s.getBucket(ctx, op, r, thread, key)
	if err != nil {
		return reach{}, Bucket{}, err
	}
	if need < 0 {
		err = r.authorizeAny(op, b)
	} else {
		err = r.authorize(op, b, segs, need)
	}
	if err != nil {
		return reach{}, Bucket{}, err
	}
	return r, b, nil
}

// anyRoleNeeded is open's need for "some role in the bucket".
const anyRoleNeeded Role = -1

// PathRoles returns the roles given on path itself (not inherited ones).
// The caller needs Reader on path.
func (s *Service) PathRoles(ctx context.Context, p hub.Principal, thread threads.ID, key, path string) (map[string]Role, error) {
	const op errors.Op = "buckets.PathRoles"
	segs, err := CleanPath(path)
	if err != nil {
		return nil, errors.E(op, err)
	}
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleReader)
	if err != nil {
		return nil, err
	}
	out := map[string]Role{}
	for k, v := range b.Metadata[join(segs)].Roles {
		out[k] = v
	}
	return out, nil
}

// CheckRoles checks a roles map: keys are identity public-key strings or
// "*", values None to Admin.
func CheckRoles(roles map[string]Role) error {
	const op errors.Op = "buckets.CheckRoles"
	for k, v := range roles {
		if v < RoleNone || v > RoleAdmin {
			return errors.Errorf(op, errors.Invalid, "role %d for %s is not one of None 0, Reader 1, Writer 2, Admin 3", int(v), errors.Clip(k))
		}
		if k == AnyIdentity {
			continue
		}
		if _, err := identity.Parse(hub.PubKey(k)); err != nil {
			return errors.Errorf(op, errors.Invalid, "%q is neither an identity's public-key string nor \"*\"", errors.Clip(k))
		}
	}
	return nil
}

// SetPathRoles merges roles into those given on path: each identity's role
// is replaced, and None removes it. The caller needs Admin on path. It
// returns the bucket as stored. In a private bucket, lowering or removing
// a role rotates the path's key: the subtree is re-encrypted under a fresh
// key (private_rekey.go) and the new blocks are stored before the roles
// and the root change together.
func (s *Service) SetPathRoles(ctx context.Context, p hub.Principal, thread threads.ID, key, path string, roles map[string]Role) (Bucket, error) {
	const op errors.Op = "buckets.SetPathRoles"
	segs, err := CleanPath(path)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if err := CheckRoles(roles); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	r, _, err := s.open(ctx, op, p, thread, key, segs, RoleAdmin)
	if err != nil {
		return Bucket{}, err
	}
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	unlock := s.lock(thread, key)
	defer unlock()
	b, err := s.getBucket(ctx, op, r, thread, key)
	if err != nil {
		return Bucket{}, err
	}
	if err := r.authorize(op, b, segs, RoleAdmin); err != nil { // roles may have changed
		return Bucket{}, err
	}
	next := b
	if b.IsPrivate() && losesRole(b.Metadata[join(segs)].Roles, roles) {
		if next, err = s.rekey(ctx, b, segs); err != nil {
			return Bucket{}, errors.E(op, err)
		}
	} else {
		next.Metadata = cloneMetadata(b.Metadata)
	}
	now := s.now().UnixNano()
	m := next.Metadata[join(segs)]
	if m.Roles == nil {
		m.Roles = map[string]Role{}
	}
	for k, v := range roles {
		if v == RoleNone {
			delete(m.Roles, k)
		} else {
			m.Roles[k] = v
		}
	}
	m.UpdatedAt = now
	next.Metadata[join(segs)] = m
	next.UpdatedAt = now
	if err := s.flush(ctx, op); err != nil { // a key rotation stored new blocks
		return Bucket{}, err
	}
	txn, err := r.d.WriteTxn(ctx, r.as, Collection)
	if err != nil {
		return Bucket{}, errors.E(op, notFound(key, err))
	}
	defer txn.Discard()
	// The instance may have changed through the threads API meanwhile.
	if cur, err := s.decodeBucket(op, txn, key, thread); err != nil {
		return Bucket{}, err
	} else if cur.UpdatedAt != b.UpdatedAt || cur.Path != b.Path {
		return Bucket{}, errors.Errorf(op, errors.FailedPrecondition, "bucket %s changed while its roles were set; retry", key)
	}
	next.rec.Updated = now
	reserved, err := s.reserve(ctx, op, b.rec.Account, next.rec.Size-b.rec.Size) // a key rotation moves the root
	if err != nil {
		return Bucket{}, err
	}
	saved, err := s.saveBucket(ctx, op, txn, next)
	reserved(err == nil)
	if err != nil || saved.Path == b.Path {
		return saved, err
	}
	return saved, s.afterCommit(op, s.published(ctx, op, saved)) // re-keyed: a new root
}
