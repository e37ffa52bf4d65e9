package s3

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// Uploads keeps the records of multipart uploads in progress in the hub's
// store, beside the parts themselves, which are files of a staging bucket
// (see doc.go). Keys, under store.S3Uploads:
//
//	u/<bucket key>/<upload ID>  → Upload (the uploads of a bucket)
//	p/<upload ID>/<part, %05d>  → Part
//	a/<account>/<upload ID>     → empty (an account's uploads, to bound them)
type Uploads struct {
	st *store.Store
	mu sync.Mutex // serializes Create's count-then-put per hub
}

// NewUploads returns the upload records kept in st.
func NewUploads(st *store.Store) *Uploads { return &Uploads{st: st} }

// Upload is a multipart upload in progress.
type Upload struct {
	ID        string            `json:"-"`
	BucketKey string            `json:"bucket"`  // the Hub bucket the object goes to
	Key       string            `json:"key"`     // the object key
	DB        hub.ThreadID      `json:"db"`      // the DB holding the bucket and the staging bucket
	Staging   string            `json:"staging"` // the staging bucket holding the parts at <ID>/<part>
	Kind      hub.PrincipalKind `json:"kind"`    // who started it, to collect it as them
	Account   hub.PubKey        `json:"account"`
	Initiated int64             `json:"initiated"` // Unix ns
	Meta      Meta              `json:"meta"`      // what the object will be put with
}

// principal is who the upload acts as when the hub collects it.
func (u Upload) principal() hub.Principal { return hub.Principal{Kind: u.Kind, Account: u.Account} }

// Part is one uploaded part of an upload.
type Part struct {
	Number   int    `json:"-"`
	Cid      string `json:"cid"`  // the part's file in the staging bucket
	ETag     string `json:"etag"` // hex MD5 of its bytes, unquoted
	Size     int64  `json:"size"`
	Modified int64  `json:"modified"` // Unix ns
}

func (s *Uploads) uploadKey(bucketKey, id string) []byte {
	return store.Key(store.S3Uploads, "u", bucketKey, id)
}

func (s *Uploads) partKey(id string, n int) []byte {
	return store.Key(store.S3Uploads, "p", id, fmt.Sprintf("%05d", n))
}

func (s *Uploads) accountKey(account hub.PubKey, id string) []byte {
	return store.Key(store.S3Uploads, "a", string(account), id)
}

// Create records u, unless its account has max uploads open already
// (Exhausted).
func (s *Uploads) Create(u Upload, max int) error {
	const op errors.Op = "s3.Uploads.Create"
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	err := s.st.Scan(store.Key(store.S3Uploads, "a", string(u.Account), ""), func(_, _ []byte) error { n++; return nil })
	if err != nil {
		return errors.E(op, err)
	}
	if n >= max {
		return errors.Errorf(op, errors.Exhausted, "the account has %d multipart uploads open, the most this hub allows (--s3-max-uploads); complete or abort some first", n)
	}
	b := s.st.NewBatch()
	b.Put(s.uploadKey(u.BucketKey, u.ID), u)
	b.PutRaw(s.accountKey(u.Account, u.ID), nil)
	return b.Commit()
}

// Get returns the upload id of the bucket with bucketKey; ok is false
// when there is none.
func (s *Uploads) Get(bucketKey, id string) (u Upload, ok bool, err error) {
	err = s.st.Get(s.uploadKey(bucketKey, id), &u)
	if errors.Is(errors.NotExist, err) {
		return Upload{}, false, nil
	}
	u.ID = id
	return u, err == nil, err
}

// List returns the uploads of the bucket with bucketKey, by key and then
// by initiation.
func (s *Uploads) List(bucketKey string) ([]Upload, error) {
	return s.scan(store.Key(store.S3Uploads, "u", bucketKey, ""))
}

// All returns every upload of the hub.
func (s *Uploads) All() ([]Upload, error) { return s.scan(store.Key(store.S3Uploads, "u", "")) }

func (s *Uploads) scan(prefix []byte) ([]Upload, error) {
	var out []Upload
	err := store.ScanJSON(s.st, prefix, func(key []byte, u *Upload) error {
		u.ID = string(key[strings.LastIndexByte(string(key), '/')+1:])
		out = append(out, *u)
		return nil
	})
	slices.SortFunc(out, func(a, b Upload) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return int(a.Initiated - b.Initiated)
	})
	return out, err
}

// SetPart records part p of upload id, replacing an earlier upload of the
// same part number.
func (s *Uploads) SetPart(id string, p Part) error {
	b := s.st.NewBatch()
	b.Put(s.partKey(id, p.Number), p)
	return b.Commit()
}

// Parts returns the parts of upload id, by number.
func (s *Uploads) Parts(id string) ([]Part, error) {
	var out []Part
	err := store.ScanJSON(s.st, store.Key(store.S3Uploads, "p", id, ""), func(key []byte, p *Part) error {
		n, err := strconv.Atoi(string(key[strings.LastIndexByte(string(key), '/')+1:]))
		if err != nil {
			return errors.E(errors.Internal, err)
		}
		p.Number = n
		out = append(out, *p)
		return nil
	})
	return out, err
}

// Delete forgets upload u and its parts.
func (s *Uploads) Delete(u Upload) error {
	b := s.st.NewBatch()
	b.Delete(s.uploadKey(u.BucketKey, u.ID))
	b.Delete(s.accountKey(u.Account, u.ID))
	b.DeletePrefix(store.Key(store.S3Uploads, "p", u.ID, ""))
	return b.Commit()
}
