// Package s3 is hubd's S3-compatible API: one more user of the bucket
// contract (hub.Buckets), bound to the caller each request was signed by,
// so quotas, metering, path roles and private-bucket encryption apply as
// they do through the Hub API.
//
// # Why it is written here
//
// The signature and protocol layer is this package's own, on net/http,
// checked against the real clients (aws-sdk-go-v2 and minio-go) in the
// tests of package test and against their signers in this package's. The
// alternatives, weighed in December 2026:
//
//   - github.com/versity/versitygw v1.8.0 has an S3 router with a backend
//     interface, but embedding it brings a second HTTP stack (fiber v3 on
//     fasthttp) beside hubd's listeners with their connection caps and
//     timeouts, and links some 45 more modules into hubd (LDAP, Vault,
//     Kafka, NATS, RabbitMQ, Azure, DataDog clients among them). Its
//     backend gets ~70 calls keyed by a global bucket name, the account
//     travels in fiber's request locals, and access is decided by ACLs the
//     router reads back from the backend; Hub's buckets are per owner and
//     decided by the bucket service itself, so most of the router would be
//     bypassed or fought.
//   - github.com/johannesboyne/gofakes3 v1.2.0 (a test fake) verifies no
//     signatures, and its backend calls carry neither a context nor the
//     caller.
//   - MinIO's server-side signature code is AGPL; minio-go has only the
//     client side, which the tests use.
//
// What is left to write is small and well specified: Signature Version 4
// over a canonical request, the aws-chunked framing, and S3's XML.
//
// # Buckets
//
// An S3 bucket is a Hub bucket in the caller's DB named "buckets" (the one
// the JavaScript client's getOrCreate and `hub buck init` use); CreateBucket
// makes that DB when the caller has none. S3 sees the buckets whose names
// are valid S3 bucket names (3 to 63 lower-case letters, digits, dots and
// hyphens); if several Hub buckets share a name, S3 reaches the oldest.
// CreateBucket refuses a name the caller already has
// (BucketAlreadyOwnedByYou): names are unique per owner, not hub-wide. A
// bucket made through S3 is a public Hub bucket; private buckets made
// through the Hub API are read and written through S3 like any other.
// The seed file every Hub bucket has at its root (.textileseed) is not an
// S3 object: listings leave it out and keys cannot name it.
//
// # Keys
//
// An object key is the path of a file in the bucket: "a/b/c.txt" is the
// file c.txt in the directory a/b, and a listing with delimiter "/" shows
// the directories as common prefixes. Keys that are not such a path are
// refused, with nothing stored, rather than rewritten into one that would
// not list back as written: empty segments ("a//b", a leading "/", a
// trailing "/", so "dir/" folder markers), "." and "..", NUL and
// backslash, and segments over 255 bytes are InvalidArgument; keys over
// 1,024 bytes are KeyTooLongError, as in S3. A key that names a directory
// is not an object (NoSuchKey).
//
// # Credentials
//
// The access key ID is an account API key and the secret access key its
// secret, as `hub keys create` prints them; an org's account key reaches
// the org's buckets. Requests are signed with Signature Version 4, in the
// Authorization header (within 15 minutes of the hub's clock) or as a
// presigned URL (valid up to 7 days); the payload is signed (its SHA-256),
// UNSIGNED-PAYLOAD, or aws-chunked with signed or unsigned chunks and a
// trailing checksum. Any region is accepted in the signature's scope. User
// group keys are refused: their holders act as app users, who prove an
// identity that SigV4 does not carry.
//
// # Writes
//
// A PutObject streams the body into the bucket (constant memory), checking
// as it goes: the payload hash, Content-MD5, the x-amz-checksum-* header or
// trailer (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256), each aws-chunked
// chunk's signature and the length. A failed check fails the push, which
// then stores nothing. Each write is one change of the bucket applied to
// its current root under the bucket's lock, so writers of different keys
// never undo each other and the last writer of a key wins, as in S3.
// DeleteObjects removes the files its keys name in one change of the
// bucket (hub.PathsRemover). A write past the account's bucket quota is
// QuotaExceeded (403) and stores nothing; the bytes of every answer count
// as the caller's network egress (Config.Meter), as on the Hub API.
//
// # Reads
//
// GetObject and HeadObject open the file once (hub.PathOpener): the
// headers (ETag, size, X-Hub-Root) and the body come from the same root of
// the bucket, whatever writes land meanwhile, and a Range or partNumber
// read seeks through the UnixFS DAG (and a private file's encrypted
// segments) to where it starts, so reading the last byte of a large
// object costs what reading the first does. partNumber reads a part of an
// object a multipart upload made, as uploaded (x-amz-mp-parts-count); an
// object put whole is its own part 1.
//
// # Multipart uploads
//
// The parts of an upload are files of a staging bucket in the caller's
// buckets DB, ".s3-multipart" (".s3-multipart-private", a private bucket,
// for uploads to private buckets), at <upload ID>/<part number>: each is
// as durable as a push, metered against the account's quota, encrypted
// when its target is, kept by the staging bucket's root from garbage
// collection, and still there after a restart. S3 does not list the
// staging buckets (their names are not S3 names); the Hub API does. The
// hub's store records each upload and part (Uploads, prefix s3up).
// Complete checks the parts named (InvalidPartOrder, InvalidPart,
// EntityTooSmall for a part but the last under 5 MiB), links the object at
// its key in one change of the bucket and removes the parts: in a public
// bucket the object is a UnixFS file whose links are the parts' own DAGs
// (concat), so no part is read again; a private bucket's parts are read
// and pushed. Uploads open longer than Config.UploadTTL are aborted by
// RunUploadCollector, which releases their parts to garbage collection;
// Config.MaxUploads bounds the uploads an account has open and
// Config.MaxParts the parts of one.
//
// # What S3 reports that buckets do not record
//
// The ETag of an object written through S3 is the hex MD5 of its bytes
// (for a multipart upload, the MD5 of the parts' MD5s with "-<parts>"),
// and its content headers and user metadata (Meta) are the ones it was
// put with; they are kept in the hub's store beside the CID they describe
// (ObjectStore), and go with the object on DeleteObject and with the
// bucket on DeleteBucket; a record whose file was replaced through the Hub
// API goes when S3 next reads it. An object written through the Hub API
// has its CID as ETag (not an MD5) and a type guessed from its name.
// Last-Modified is when S3 wrote the object, or else the bucket's last
// change. Answers about objects carry the object's CID (X-Hub-Cid) and the
// bucket root they were read from or a write moved it to (X-Hub-Root);
// HeadBucket carries the Hub bucket key (X-Hub-Bucket-Key).
//
// # Conditional writes and copies
//
// PutObject and CopyObject take If-None-Match: * (PreconditionFailed when
// the key exists) and If-Match: <ETag> (PreconditionFailed for another
// ETag, NoSuchKey when there is no object); the write is then applied to
// the root the condition held at, and a bucket that changed meanwhile
// answers ConditionalRequestConflict, as S3 does for racing conditional
// writes. CompleteMultipartUpload refuses both (NotImplemented): it links
// the object without a base root.
// CopyObject between public buckets links the source's DAG at the
// destination (no byte is read); with a private bucket on either side the
// bytes are read and pushed.
package s3
