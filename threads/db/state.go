package db

import (
	"encoding/json"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// version orders the writes to one document or collection across every
// replica: the hybrid logical clock of the event that made the write, then
// the writer's log ID to break ties. Every replica that holds the same
// events picks the same latest write, whatever order they arrived in.
type version struct {
	Time int64  `json:"t"` // hybrid logical clock, Unix ns
	Log  string `json:"l"` // log (peer) ID of the writer
}

// after reports whether v is later than w.
func (v version) after(w version) bool {
	if v.Time != w.Time {
		return v.Time > w.Time
	}
	return v.Log > w.Log
}

// dbRecord is a DB's metadata.
type dbRecord struct {
	ID        string     // thread ID string
	Name      string     // unique per owner when not empty
	Owner     hub.PubKey // the identity whose DB it is
	Account   hub.PubKey // the account it is billed to
	CreatedAt time.Time
}

// colRecord is the latest state of a collection, with the version of the
// write that made it and the latest deletion ever applied: documents
// written before that deletion stay hidden even if the collection is made
// again.
type colRecord struct {
	Version version
	Deleted bool
	Config  CollectionConfig
	Cleared version // latest deletion; zero if never deleted
}

// docRecord is the latest write to a document. Deleted records are kept as
// tombstones so that an older write that arrives later loses to them.
type docRecord struct {
	Version version
	Deleted bool `json:",omitempty"`
	// Conflict says that the instance lost a unique value to another
	// (unique.go): it is kept and indexed, but not visible.
	Conflict bool            `json:",omitempty"`
	Value    json.RawMessage `json:",omitempty"`
}

// readDoc reads the document record at docKey k from r, or NotExist.
func readDoc(r store.Reader, k []byte) (*docRecord, error) {
	data, err := r.GetRaw(k)
	if err != nil {
		return nil, err
	}
	d, err := decodeDocRecord(data)
	if err != nil {
		return nil, errors.Errorf("", errors.Internal, "the stored record %q is malformed: %v", k, err)
	}
	return d, nil
}

// scanDocs calls fn with each document record under prefix in r, in key
// (_id) order, or in reverse; scan is r.ScanRange or r.ScanRangeReverse.
func scanDocs(scan func(lower, upper []byte, fn func(key, val []byte) error) error, prefix []byte, fn func(k []byte, d *docRecord) error) error {
	return scan(prefix, store.PrefixEnd(prefix), func(k, val []byte) error {
		d, err := decodeDocRecord(val)
		if err != nil {
			return errors.Errorf("", errors.Internal, "the stored record of instance %q is malformed: %v", k[len(prefix):], err)
		}
		return fn(k, d)
	})
}

// visible reports whether the document is part of the collection's state.
func (d *docRecord) visible(col *colRecord) bool {
	return d.present(col) && !d.Conflict
}

// present reports whether the document is part of the collection's state
// or a conflict kept in it: what indexes hold.
func (d *docRecord) present(col *colRecord) bool {
	return d != nil && !d.Deleted && col != nil && !col.Deleted && d.Version.after(col.Cleared)
}

// Action is what a write did to an instance, as Listen reports it.
type Action int

// Actions; the values are the wire's ListenReply actions.
const (
	ActionCreate Action = 0
	ActionSave   Action = 1
	ActionDelete Action = 2
)

func (a Action) String() string {
	switch a {
	case ActionCreate:
		return "create"
	case ActionSave:
		return "save"
	case ActionDelete:
		return "delete"
	}
	return "unknown"
}

// change is one entry of the listen log: an instance whose visible state a
// write changed, with the instance as written (none for a delete), so a
// listener that reads the log later sees each write as it was.
type change struct {
	Col    string          `json:"c"`
	ID     string          `json:"i"`
	Action Action          `json:"a"`
	Value  json.RawMessage `json:"v,omitempty"`
}

// opKind names an operation in an event.
type opKind string

// Operation kinds.
const (
	opCreate    opKind = "create"
	opSave      opKind = "save"
	opDelete    opKind = "delete"
	opCollSet   opKind = "collection"        // create or update a collection
	opCollClear opKind = "collection-delete" // delete a collection
	opACL       opKind = "acl"               // an identity's role (acl.go); ID is the identity
)

// operation is one write in an event.
type operation struct {
	Kind  opKind          `json:"k"`
	Col   string          `json:"c"`
	ID    string          `json:"i,omitempty"`
	Value json.RawMessage `json:"v,omitempty"` // instance, or CollectionConfig
}

// eventBody is the payload of a thread record: the ops of one transaction,
// all with the same clock value.
type eventBody struct {
	Time int64       `json:"t"`
	Ops  []operation `json:"o"`
}
