package db

import (
	"encoding/binary"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/internal/store"
	"github.com/selfhub/hub/threads"
)

// The DB's records in the embedded store. Every key of one DB starts with
// dbPrefix(id), so deleting a DB is one range deletion. Index and change
// keys are binary; the others are '/'-joined text.
//
//	db/<id>/meta                       → dbRecord
//	db/<id>/col/<name>                 → colRecord (one per collection ever made; tombstones kept)
//	db/<id>/doc/<col>/<_id>            → docRecord (tombstones kept: convergence needs them)
//	db/<id>/idx/<col>\x00<path>\x00<encoded value><_id>  → _id (index entries)
//	db/<id>/chg/<seq: 8 bytes BE>      → change (the listen log)
//	db/<id>/seq                        → uint64 of the last change
//	db/<id>/clock                      → int64 last hybrid logical clock value
//	db/<id>/bytes                      → int64 bytes of instance JSON stored
//	db/<id>/writer/<identity>          → libp2p-marshalled log key of that writer
//	dbname/<account>/<owner>/<name>    → thread ID (names are unique per scope)
//	dbown/<account>/<owner>/<id>       → empty (lists a scope's DBs)
func dbPrefix(id threads.ID) []byte { return store.Key("db", id.String(), "") }

func metaKey(id threads.ID) []byte { return append(dbPrefix(id), "meta"...) }
func seqKey(id threads.ID) []byte  { return append(dbPrefix(id), "seq"...) }
func clockKey(id threads.ID) []byte {
	return append(dbPrefix(id), "clock"...)
}
func bytesKey(id threads.ID) []byte  { return append(dbPrefix(id), "bytes"...) }
func colPrefix(id threads.ID) []byte { return append(dbPrefix(id), "col/"...) }
func colKey(id threads.ID, col string) []byte {
	return append(colPrefix(id), col...)
}
func docPrefix(id threads.ID, col string) []byte {
	return append(append(dbPrefix(id), "doc/"...), col+"/"...)
}
func docKey(id threads.ID, col, docID string) []byte {
	return append(docPrefix(id, col), docID...)
}
func writerKey(id threads.ID, identity hub.PubKey) []byte {
	return append(append(dbPrefix(id), "writer/"...), identity...)
}

// idxColPrefix holds every index entry of a collection.
func idxColPrefix(id threads.ID, col string) []byte {
	return append(append(append(dbPrefix(id), "idx/"...), col...), 0)
}

// idxPrefix holds the entries of one index; encoded values follow it.
func idxPrefix(id threads.ID, col, path string) []byte {
	return append(append(idxColPrefix(id, col), path...), 0)
}

func chgPrefix(id threads.ID) []byte { return append(dbPrefix(id), "chg/"...) }
func chgKey(id threads.ID, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(chgPrefix(id), seq)
}

func nameKey(scope, name string) []byte { return store.Key("dbname", scope, name) }
func ownerPrefix(scope string) []byte   { return store.Key("dbown", scope, "") }
func ownerKey(scope string, id threads.ID) []byte {
	return append(ownerPrefix(scope), id.String()...)
}
