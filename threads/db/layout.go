package db

import (
	"encoding/binary"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// The DB's records in the embedded store. Every key of one DB starts with
// dbPrefix(id) (<db> below), so deleting a DB is one range deletion: it is
// "db\x00", the length of the ID's bytes as a uvarint, and those bytes.
// Every write repeats it in each key it writes, and a sync costs more the
// more bytes it carries: the ID's text form took 59 bytes, this 38. Index,
// change and journal keys are binary after it; the rest is text.
//
//	<db>meta                           → dbRecord
//	<db>col/<name>                     → colRecord (one per collection ever made; tombstones kept)
//	<db>doc/<col>/<_id>                → docRecord (tombstones kept: convergence needs them)
//	<db>idx/<col>\x00<path>\x00<encoded value><_id>  → _id (index entries)
//	<db>chg/<seq: 8 bytes BE>          → change (the listen log)
//	<db>n                              → counters: last change, clock, bytes stored (counters.go)
//	<db>writer/<identity>              → libp2p-marshalled log key of that writer
//	<db>jrn/<seq: 8 bytes BE>          → a write waiting for its record (journal.go)
//	<db>acl                            → aclState, the access control list (acl.go)
//	<db>acl-stale                      → empty: an ACL operation arrived, the list is to be read again
//	dbname/<account>/<owner>/<name>    → thread ID (names are unique per scope)
//	dbown/<account>/<owner>/<id>       → empty (lists a scope's DBs)
func dbPrefix(id threads.ID) []byte { return store.BinaryKey(store.DBs, id.Bytes(), 0) }

// The functions below take the DB's prefix, dbPrefix(id), which a DB
// keeps (DB.pfx) rather than encode its ID for every key.

func metaKey(db []byte) []byte     { return join(db, "meta") }
func countersKey(db []byte) []byte { return join(db, "n") }
func colPrefix(db []byte) []byte {
	return join(db, "col/")
}
func colKey(db []byte, col string) []byte { return join(db, "col/", col) }
func docPrefix(db []byte, col string) []byte {
	return join(db, "doc/", col, "/")
}
func docKey(db []byte, col, docID string) []byte { return join(db, "doc/", col, "/", docID) }
func writerKey(db []byte, identity hub.PubKey) []byte {
	return join(db, "writer/", string(identity))
}

func aclKey(db []byte) []byte      { return join(db, "acl") }
func aclStaleKey(db []byte) []byte { return join(db, "acl-stale") }

// idxColPrefix holds every index entry of a collection.
func idxColPrefix(db []byte, col string) []byte { return join(db, "idx/", col, "\x00") }

// idxPrefix holds the entries of one index; encoded values follow it.
func idxPrefix(db []byte, col, path string) []byte {
	return join(db, "idx/", col, "\x00", path, "\x00")
}

func chgPrefix(db []byte) []byte { return join(db, "chg/") }
func chgKey(db []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(chgPrefix(db), seq)
}

// jrnPrefix holds the record journal (journal.go).
func jrnPrefix(db []byte) []byte { return join(db, "jrn/") }
func jrnKey(db []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(jrnPrefix(db), seq)
}

// join returns a new key: prefix followed by parts, with room for a few
// more bytes (an index value, a sequence number) so that callers that
// append to it rarely copy it again.
func join(prefix []byte, parts ...string) []byte {
	n := len(prefix) + 16
	for _, p := range parts {
		n += len(p)
	}
	out := append(make([]byte, 0, n), prefix...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func nameKey(scope, name string) []byte { return store.Key(store.DBNames, scope, name) }
func ownerPrefix(scope string) []byte   { return store.Key(store.DBOwners, scope, "") }
func ownerKey(scope string, id threads.ID) []byte {
	return append(ownerPrefix(scope), id.String()...)
}
