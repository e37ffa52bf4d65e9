// Package threads holds the building blocks of a thread: its ID and key,
// the signed and encrypted records that make up each writer's log, the
// and the events they carry. It holds no storage and imports nothing of the server,
// so apps outside this module can embed it; threads/logstore keeps threads,
// logs and blocks in the embedded key-value store, and the document database
// (threads/db) is built on both.
//
// # Thread IDs and keys
//
// An ID is uvarint(version 0x01) || uvarint(variant) || 32 random bytes, its
// string form multibase base32; a Key is a service key (32 bytes, AES-256-GCM)
// followed by an optional read key (32 bytes). Both are the go-threads
// formats, so the JavaScript ThreadID and ThreadKey parsers accept ours.
//
// # Blocks
//
// Every block is dag-cbor, addressed by a CIDv1 with codec dag-cbor (0x71)
// and a sha2-256 multihash. An encrypted block is a dag-cbor byte string
// whose content is nonce(12) || AES-256-GCM sealed bytes. One write by one
// writer produces four blocks:
//
//	record (encrypted with the service key), plaintext:
//	  {"block": Link(event), "prev": Link(previous record of the log), "pubKey": Bytes, "sig": Bytes}
//	  "prev" is absent in the first record of a log; "pubKey" is the
//	  libp2p-marshalled Ed25519 public key of the log; "sig" is its Ed25519
//	  signature over the bytes of the event CID followed by the bytes of the
//	  prev CID (nothing when absent). CIDs are self-delimiting, so the
//	  concatenation is unambiguous.
//	event (plaintext): {"body": Link(body), "header": Link(header)}
//	header (encrypted with the read key), plaintext:
//	  {"key": Bytes(32), "time": Int}
//	  "key" is a fresh AES-256-GCM key for this event's body; "time" is
//	  the event time in Unix nanoseconds.
//	body (encrypted with the header's key): the caller's payload bytes.
//
// Structured nodes must be in canonical dag-cbor (sorted keys, minimal
// lengths): a node that does not re-encode to the bytes it came from is
// refused, so one logical node has one CID. Unknown fields are refused too:
// a change to the schema is a new format, never a silent extension.
//
// Layering the keys this way lets a replicator that holds only the service
// key verify and relay records (it can check each signature and the chain)
// without reading any event, and lets a reader share one event (its body
// key) without sharing the thread's read key.
//
// The signature covers the event and the previous record, not the record
// block's own bytes: whoever holds the service key can re-encrypt a record
// under a new CID, but cannot change what it says or where it sits in the
// log. A log therefore accepts only the record that extends its current
// head, and refuses a second one as a fork.
package threads
