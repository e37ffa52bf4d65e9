package store

import "bytes"

// Every key in the store starts with one of the prefixes below, and each
// prefix has one owner: the only package that reads or writes keys under
// it. Packages take their prefixes from here rather than spell them
// themselves, so this file is the one list of what the store holds and who
// is responsible for it. No prefix starts another (TestPrefixesDisjoint),
// so a range deletion or a scan of one never reaches another's keys.
//
// The names below are what a package passes to Key, which adds a '/'
// before the next part; the listed prefix of such a namespace is the name
// followed by '/'. The few binary namespaces (written on every thread
// write, where a sync costs more the more bytes it carries) are followed
// by uvarint-length-prefixed bytes (BinaryKey), and are listed as is.
const (
	// Package auth (auth/service.go describes each record).
	AuthAccounts        = "acct"     // acct/<pubkey> → account record
	AuthNames           = "name"     // name/<lower name> → a developer's or org's pubkey
	AuthEmails          = "email"    // email/<lower e-mail> → a developer's pubkey
	AuthSessions        = "sess"     // sess/<id> → session
	AuthAccountSessions = "acctsess" // acctsess/<pubkey>/<id> → empty (index)
	AuthKeys            = "key"      // key/<key> → API key
	AuthAccountKeys     = "acctkey"  // acctkey/<pubkey>/<key> → empty (index)
	AuthMembers         = "member"   // member/<developer>/<org> → empty (index)
	AuthUsers           = "user"     // user/<account>/<identity> → user record
	AuthNewIDs          = "newids"   // newids/<account> → new-identity budget
	AuthInvites         = "invite"   // invite/<token> → invitation
	AuthInvitees        = "invitee"  // invitee/<lower e-mail>/<token> → empty (index)

	// Package metering.
	Usage = "usage" // usage/<account>/<identity> → usage counts

	// Package ipfsnet.
	IPNSRecords = "ipns" // ipns/<name> → signed IPNS record

	// Package buckets.
	BucketKeys    = "bktkey" // bktkey/<bucket key> → the private key behind its IPNS name
	BucketRecords = "bktrec" // bktrec/<bucket key> → the hub's own record of the bucket
	BucketSizes   = "bktsz"  // bktsz/<CID> → the true size of a DAG whose links record others

	// Package internal/blockstore, for bucket blocks in an S3 store
	// (internal/blockstore/records.go).
	BlockObjects   = "blkobj" // blkobj/<namespace>/<name> → uvarint size: an object the hub wrote
	BlockInventory = "blkinv" // blkinv/at → the s3:// location the BlockObjects records list

	// Package s3.
	S3Objects = "s3obj" // s3obj/<bucket key>/<path> → what S3 recorded of the object it wrote there
	S3Uploads = "s3up"  // s3up/u/<bucket key>/<upload ID>, s3up/p/<upload ID>/<part>, s3up/a/<account>/<upload ID>: multipart uploads in progress (s3/uploads.go)

	// Package threads/db (threads/db/layout.go describes each key).
	DBs      = "db\x00" // binary: <len><DB ID bytes> then the DB's records
	DBNames  = "dbname" // dbname/<account>/<owner>/<name> → DB ID
	DBOwners = "dbown"  // dbown/<account>/<owner>/<DB ID> → empty (index)

	// Package threads/logstore (threads/logstore/store.go describes each key).
	ThreadInfos  = "thr/i" // thr/i/<thread> → thread info
	ThreadLogs   = "thr/l" // thr/l/<thread>/<log> → a log's keys
	ThreadHeads  = "thr/h" // binary: <len><thread bytes><log bytes> → a log's head
	ThreadBlocks = "thr/c" // binary: <len><CID bytes><thread bytes> → a record's block
	ThreadSeq    = "thr/n" // binary: <len><thread bytes><len><log bytes><counter> → the log's record at that counter

	// Package threads/replicate (threads/replicate/peers.go).
	ThreadPeers    = "thr/p" // thr/p/<thread>/<peer> → the peer's addresses
	ThreadReplicas = "thr/r" // thr/r/<thread> → who a thread held with its service key only is kept for (threads/replicate/replicas.go)

	// This package.
	Meta = "store" // store/format → the format version (format.go)

	// Keys of stores written by older hubs, which the named migration
	// (format.go) moves or deletes.
	LegacyThreadBlocks = "thr/b"       // logstore.MoveBlocksByCID: binary <len><thread bytes><CID bytes> → block
	LegacyBlocksMoved  = "thr/x"       // logstore.MoveBlocksByCID: thr/x/blocks-by-cid, its done-marker
	LegacyBucketDBs    = "bktdb"       // buckets.RecordBuckets: bktdb/<bucket key> → DB ID
	LegacyRecordsDone  = "bktrec-done" // buckets.RecordBuckets: its done-marker (the whole key)
)

// A Prefix starts every key of one kind in the store.
type Prefix struct {
	Key   string // the bytes every such key starts with
	Owner string // the only package that reads and writes them
	Holds string // what they hold
}

// Prefixes returns every prefix of the store, current and legacy.
func Prefixes() []Prefix {
	text := func(ns, owner, holds string) Prefix { return Prefix{ns + "/", owner, holds} }
	return []Prefix{
		text(AuthAccounts, "auth", "accounts (developers and orgs)"),
		text(AuthNames, "auth", "account names"),
		text(AuthEmails, "auth", "developers' e-mail addresses"),
		text(AuthSessions, "auth", "sessions"),
		text(AuthAccountSessions, "auth", "an account's sessions (index)"),
		text(AuthKeys, "auth", "API keys"),
		text(AuthAccountKeys, "auth", "an account's API keys (index)"),
		text(AuthMembers, "auth", "a developer's orgs (index)"),
		text(AuthUsers, "auth", "app users seen by an account"),
		text(AuthNewIDs, "auth", "new-identity budgets"),
		text(AuthInvites, "auth", "org invitations"),
		text(AuthInvitees, "auth", "accepted invitations awaiting sign-up (index)"),
		text(Usage, "metering", "usage counts"),
		text(IPNSRecords, "ipfsnet", "IPNS records"),
		text(BucketKeys, "buckets", "buckets' IPNS keys"),
		text(BucketRecords, "buckets", "the hub's records of buckets"),
		text(BucketSizes, "buckets", "true sizes of DAGs whose links record others"),
		text(BlockObjects, "internal/blockstore", "the objects of an s3:// blocks store, with their sizes"),
		text(BlockInventory, "internal/blockstore", "the s3:// blocks store those records list"),
		text(S3Objects, "s3", "objects' S3 records (ETag, content type)"),
		text(S3Uploads, "s3", "multipart uploads in progress and their parts"),
		{DBs, "threads/db", "ThreadDB DBs: collections, instances, indexes, listen log, journal"},
		text(DBNames, "threads/db", "DB names per scope"),
		text(DBOwners, "threads/db", "a scope's DBs (index)"),
		text(ThreadInfos, "threads/logstore", "threads' info and keys"),
		text(ThreadLogs, "threads/logstore", "logs' keys"),
		{ThreadHeads, "threads/logstore", "logs' heads"},
		{ThreadBlocks, "threads/logstore", "records' blocks, by CID"},
		{ThreadSeq, "threads/logstore", "logs' records by position (index)"},
		text(ThreadPeers, "threads/replicate", "the peers each thread replicates with"),
		text(ThreadReplicas, "threads/replicate", "threads this hub replicates without reading, and whose limits they count against"),
		text(Meta, "store", "the store's format version"),
		{LegacyThreadBlocks, "threads/logstore", "thread blocks keyed by thread (legacy)"},
		text(LegacyBlocksMoved, "threads/logstore", "a done-marker (legacy)"),
		text(LegacyBucketDBs, "buckets", "buckets' DBs (legacy)"),
		{LegacyRecordsDone, "buckets", "a done-marker (legacy)"},
	}
}

// PrefixOf returns the prefix key starts with; false when it starts with
// none, which no key of a hub may do.
func PrefixOf(key []byte) (Prefix, bool) {
	for _, p := range Prefixes() {
		if bytes.HasPrefix(key, []byte(p.Key)) {
			return p, true
		}
	}
	return Prefix{}, false
}
