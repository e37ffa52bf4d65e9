package db

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// Access control of a DB whose thread is access controlled
// (threads.AccessControlled). The rules, which every replica applies to the
// records it holds and so reaches the same list and the same state:
//
//   - The thread's ID names its root log (threads.RootLog), the log of
//     the identity that created the DB: it may always write and manage the
//     list, and is never cut.
//   - The list is a set of ACL operations carried by ordinary records
//     (opACL): each names an identity and its new role, the logs it may
//     write with (a grant of writer or admin), and, when it takes a role
//     away, a cut for each of the identity's logs: how many of that log's
//     records stay (as many as the revoking replica held). A log is
//     granted once and keeps its role; a new role that writes is granted
//     with a fresh log.
//   - Operations are read in two strata. The root log's are all valid.
//     They decide the admin logs and their cuts. An admin log's operations
//     are valid if their record is within the log's cut, and only for
//     reader and writer roles of identities that are not admins; others
//     are ignored, as are operations from any other log. Within the valid
//     operations an identity's role is the one of the latest operation
//     (by event clock, then log ID), a log's role the highest granted, and
//     its cut the smallest given; all three are order-free, so every
//     replica reads the same list from the same records.
//   - A record of log L at position n (1 for a log's first) is allowed if
//     L is the root, or L was granted writer or admin and n is within its
//     cut. A log granted before (by clock) a later operation that took its
//     identity's writing away, and not cut by that operation, is cut at 0.
//   - A record not allowed is refused: it is not stored and changes
//     nothing, wherever it comes from (its writer, or a peer relaying it).
//     Records a revocation cuts off that a replica applied before the
//     revocation reached it are dropped when it arrives: their log is
//     truncated to the cut and the DB's state is rebuilt from the records
//     that remain. So records concurrent with a revocation, written after
//     the revoker's copy of the log ended, lose everywhere.
//
// A thread that is not access controlled has no list: holding its key is
// enough to read and write, as in the original ThreadDB.

// Role is what an identity may do in an access-controlled DB.
type Role int

// Roles, weakest first.
const (
	RoleNone   Role = iota // no access (a revoked identity)
	RoleReader             // may read
	RoleWriter             // may read and write instances and collections
	RoleAdmin              // may also grant and revoke readers and writers
)

// String returns the role's name, as ParseRole reads it.
func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleReader:
		return "reader"
	case RoleWriter:
		return "writer"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	const op errors.Op = "db.ParseRole"
	for r := RoleNone; r <= RoleAdmin; r++ {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, errors.Errorf(op, errors.Invalid, "unknown role %q; use none, reader, writer or admin", errors.Clip(s))
}

// Member is one entry of a DB's access control list.
type Member struct {
	Identity hub.PubKey
	Role     Role
	// Logs are the logs the identity was granted to write with; those a
	// revocation cut keep only their first Cut records.
	Logs []MemberLog
}

// MemberLog is one of a member's logs.
type MemberLog struct {
	ID      string // the log's peer ID
	Role    Role   // the role it was granted with
	Revoked bool   // whether a revocation cut it
	Cut     int64  // records kept when Revoked
}

// aclChange is the value of an opACL operation, whose ID is the
// identity.
type aclChange struct {
	Role Role             `json:"r"`
	Logs []string         `json:"l,omitempty"` // logs granted, for writer and admin
	Cuts map[string]int64 `json:"c,omitempty"` // log → records kept
}

// aclState is a DB's access control list as read from its records. It is
// kept in the store (<db>acl) so that opening a DB need not read the
// records again, and read anew whenever an ACL operation is written or
// ingested.
type aclState struct {
	Root    string               `json:"root"` // the root log's ID
	Members map[hub.PubKey]acler `json:"members,omitempty"`
	Logs    map[string]aclLog    `json:"logs,omitempty"`
}

// acler is an identity's role and the version of the operation that set it.
type acler struct {
	Role    Role    `json:"r"`
	Version version `json:"v"`
}

// aclLog is a granted log.
type aclLog struct {
	Identity hub.PubKey `json:"i"`
	Role     Role       `json:"r"`
	Granted  version    `json:"g"`           // the latest grant naming it
	Revoked  bool       `json:"x,omitempty"` // cut by a revocation
	Cut      int64      `json:"c,omitempty"` // records kept when Revoked
}

// unlimited is what allowed returns for a log that is not cut.
const unlimited = math.MaxInt64

func newACLState(root peer.ID) *aclState {
	return &aclState{Root: root.String(), Members: map[hub.PubKey]acler{}, Logs: map[string]aclLog{}}
}

// allowed returns how many records of log lid are allowed (see the rules
// above), and why not more.
func (s *aclState) allowed(lid string) (int64, string) {
	if lid == s.Root {
		return unlimited, ""
	}
	l, ok := s.Logs[lid]
	switch {
	case !ok:
		return 0, "the log was never granted a role that writes"
	case l.Role < RoleWriter:
		return 0, fmt.Sprintf("the log was granted the %s role, which does not write", l.Role)
	}
	if m := s.Members[l.Identity]; m.Role < RoleWriter && m.Version.after(l.Granted) && !l.Revoked {
		return 0, fmt.Sprintf("identity %s was made %s after this log was granted", l.Identity, m.Role)
	}
	if l.Revoked {
		return l.Cut, fmt.Sprintf("the log was revoked after its first %d records", l.Cut)
	}
	return unlimited, ""
}

// admin reports whether log lid may manage readers and writers.
func (s *aclState) admin(lid string) bool {
	if lid == s.Root {
		return true
	}
	l, ok := s.Logs[lid]
	return ok && l.Role == RoleAdmin && !l.Revoked
}

// aclOp is a valid-looking ACL operation found in a record.
type aclOp struct {
	v        version // the event's clock and the author's log
	identity hub.PubKey
	change   aclChange
}

// apply applies op to s. byRoot says whether the root wrote it; an
// admin's operations touch no admin (admins are the root's alone).
func (s *aclState) apply(op aclOp, byRoot bool, admins map[hub.PubKey]bool) {
	c := op.change
	if !byRoot && (c.Role == RoleAdmin || admins[op.identity]) {
		return
	}
	if m, ok := s.Members[op.identity]; !ok || op.v.after(m.Version) {
		s.Members[op.identity] = acler{Role: c.Role, Version: op.v}
	}
	if c.Role >= RoleWriter {
		for _, lid := range c.Logs {
			l, ok := s.Logs[lid]
			if ok && l.Identity != op.identity {
				continue // a log is one identity's: the first grant, in version order, holds
			}
			l.Identity = op.identity
			l.Role = max(l.Role, c.Role)
			if op.v.after(l.Granted) {
				l.Granted = op.v
			}
			s.Logs[lid] = l
		}
	}
	for lid, n := range c.Cuts {
		l, ok := s.Logs[lid]
		if !ok || l.Identity != op.identity || n < 0 || (!byRoot && l.Role == RoleAdmin) {
			continue
		}
		if !l.Revoked || n < l.Cut {
			l.Revoked, l.Cut = true, n
		}
		s.Logs[lid] = l
	}
}

// members returns the list, by identity.
func (s *aclState) members() []Member {
	byID := map[hub.PubKey]*Member{}
	for id, m := range s.Members {
		byID[id] = &Member{Identity: id, Role: m.Role}
	}
	for lid, l := range s.Logs {
		m := byID[l.Identity]
		if m == nil {
			m = &Member{Identity: l.Identity}
			byID[l.Identity] = m
		}
		m.Logs = append(m.Logs, MemberLog{ID: lid, Role: l.Role, Revoked: l.Revoked, Cut: l.Cut})
	}
	out := make([]Member, 0, len(byID))
	for _, m := range byID {
		sort.Slice(m.Logs, func(i, j int) bool { return m.Logs[i].ID < m.Logs[j].ID })
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Identity < out[j].Identity })
	return out
}

// computeACL reads the access control list from the records of the root
// log and the admin logs, as the rules above say. It reads and opens
// every record of those logs: it runs only when an ACL operation is
// written or arrives.
func (d *DB) computeACL() (*aclState, error) {
	root, err := threads.RootLog(d.id)
	if err != nil {
		return nil, err
	}
	s := newACLState(root)
	ops, err := d.aclOps(root, unlimited)
	if err != nil {
		return nil, err
	}
	sortOps(ops)
	for _, op := range ops {
		s.apply(op, true, nil)
	}
	admins := map[hub.PubKey]bool{}
	var adminLogs []string
	for lid, l := range s.Logs {
		if l.Role == RoleAdmin {
			admins[l.Identity] = true
			adminLogs = append(adminLogs, lid)
		}
	}
	sort.Strings(adminLogs)
	var stratum []aclOp
	for _, raw := range adminLogs {
		lid, err := peer.Decode(raw)
		if err != nil {
			continue // a grant naming no log grants nothing
		}
		n, _ := s.allowed(raw)
		ops, err := d.aclOps(lid, n)
		if err != nil {
			return nil, err
		}
		stratum = append(stratum, ops...)
	}
	sortOps(stratum)
	for _, op := range stratum {
		s.apply(op, false, admins)
	}
	return s, nil
}

// sortOps puts ops in version order, keeping the order of one event's:
// the rules are order-free, and applying in one order makes that so even
// for the grants of one log to two identities (the first wins).
func sortOps(ops []aclOp) {
	sort.SliceStable(ops, func(i, j int) bool { return ops[j].v.after(ops[i].v) })
}

// aclOps returns the ACL operations in the first limit records of log
// lid that this replica holds. Malformed operations are skipped: every
// replica skips the same ones.
func (d *DB) aclOps(lid peer.ID, limit int64) ([]aclOp, error) {
	recs, err := d.m.threads.Records(d.id, lid)
	if errors.Is(errors.NotExist, err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []aclOp
	for i, rec := range recs {
		if int64(i) >= limit {
			break
		}
		body, err := d.recordBody(rec)
		if err != nil {
			return nil, err
		}
		for _, o := range body.Ops {
			if o.Kind != opACL {
				continue
			}
			var c aclChange
			if json.Unmarshal(o.Value, &c) != nil || c.Role < RoleNone || c.Role > RoleAdmin || o.ID == "" {
				continue
			}
			out = append(out, aclOp{v: version{Time: body.Time, Log: lid.String()}, identity: hub.PubKey(o.ID), change: c})
		}
	}
	return out, nil
}

// recordBody opens a stored record's event and reads the DB event in it.
func (d *DB) recordBody(rec threads.Record) (eventBody, error) {
	ev, err := threads.OpenEvent(d.info.Key, rec, func(c cid.Cid) ([]byte, error) { return d.m.threads.GetBlock(d.id, c) })
	if err != nil {
		return eventBody{}, errors.Errorf("", errors.Internal, "stored record %s: %v", rec.Cid, err)
	}
	var body eventBody
	if err := json.Unmarshal(ev.Body, &body); err != nil {
		return eventBody{}, errors.Errorf("", errors.Internal, "stored record %s holds no DB event: %v", rec.Cid, err)
	}
	return body, nil
}

// ACLRefusal is why a record was refused by a DB's access control list. It
// is the cause of the FailedPrecondition error Ingest returns, so that a
// replicator can tell it from a gap (errors.As).
type ACLRefusal struct {
	Record string // the record's CID
	Log    string // its log
	Reason string
}

func (r *ACLRefusal) Error() string {
	return fmt.Sprintf("record %s of log %s is refused by the DB's access control list: %s", r.Record, r.Log, r.Reason)
}
