package s3

import (
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// ObjectStore keeps what S3 says about an object and a Hub bucket does not
// record: the MD5 of its bytes (its ETag), its content headers and user
// metadata (Meta), and when it was written. A record holds for the file
// (the CID) it was made for: a file replaced by other means (the Hub API,
// the CLI) no longer matches it, is then described from the bucket alone
// (see describe), and its record goes when S3 next reads it. Records go
// with their object on DeleteObject(s) and with their bucket on
// DeleteBucket.
type ObjectStore interface {
	// Object returns the record of the object at path of the bucket with
	// key; ok is false when there is none.
	Object(bucket, path string) (o Object, ok bool, err error)
	// SetObject records o for the object at path.
	SetObject(bucket, path string, o Object) error
	// ForgetObject deletes the record of the object at path, if any.
	ForgetObject(bucket, path string) error
	// Forget deletes the records of a bucket's objects.
	Forget(bucket string) error
}

// Object is what S3 records of an object it wrote.
type Object struct {
	Cid      string `json:"cid"`
	ETag     string `json:"etag"` // hex MD5 of the bytes, unquoted
	Meta            // what it was put with
	Modified int64  `json:"modified"` // Unix ns
	// Parts are the sizes of the parts of an object a multipart upload
	// made, in order, for GetObject's partNumber; none for one put whole.
	Parts []int64 `json:"parts,omitempty"`
}

// storeObjects is an ObjectStore in the hub's store.
type storeObjects struct{ st *store.Store }

// NewObjectStore returns an ObjectStore that keeps its records in st.
func NewObjectStore(st *store.Store) ObjectStore { return storeObjects{st} }

func (s storeObjects) Object(bucket, path string) (Object, bool, error) {
	var o Object
	err := s.st.Get(store.Key(store.S3Objects, bucket, path), &o)
	if errors.Is(errors.NotExist, err) {
		return Object{}, false, nil
	}
	return o, err == nil, err
}

func (s storeObjects) SetObject(bucket, path string, o Object) error {
	b := s.st.NewBatch()
	b.Put(store.Key(store.S3Objects, bucket, path), o)
	return b.Commit()
}

func (s storeObjects) ForgetObject(bucket, path string) error {
	b := s.st.NewBatch()
	b.Delete(store.Key(store.S3Objects, bucket, path))
	return b.Commit()
}

func (s storeObjects) Forget(bucket string) error {
	b := s.st.NewBatch()
	b.DeletePrefix(store.Key(store.S3Objects, bucket, ""))
	return b.Commit()
}
