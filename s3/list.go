package s3

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"slices"
	"strconv"
	"strings"

	"github.com/selfhub/hub"
)

// maxListKeys is the most keys one listing returns, S3's own cap.
const maxListKeys = 1000

// A listing walks the bucket's directories in the order of S3 keys (byte
// order of the whole key): a directory's entries are visited sorted by
// name, a directory's name taken with its trailing "/", so that "a/x"
// comes after "a-b" as the key order wants. Subtrees that cannot hold a
// key after the marker and under the prefix are not read, and a subtree
// that rolls up into one common prefix is read only until it shows a file.

// lister collects one page of a listing.
type lister struct {
	ctx       context.Context
	bs        hub.Buckets
	key       string // the bucket key
	prefix    string
	delim     string
	marker    string // keys and common prefixes up to this one are skipped
	max       int
	out       []listed
	truncated bool
	lastCP    string
	bucket    hub.Bucket // the bucket at the root the walk read first
}

// listed is one key or common prefix of a listing.
type listed struct {
	key    string
	item   hub.BucketItem
	prefix bool
}

// errFull stops a walk once the page is full and one more entry was seen.
var errFull = &apiError{code: errInternalError, msg: "listing page full"}

// walk lists the directory dir ("" is the root) into l.
func (l *lister) walk(dir string) error {
	err := l.walkDir(dir)
	if err == errFull {
		l.truncated = true
		return nil
	}
	return err
}

func (l *lister) walkDir(dir string) error {
	it, b, err := l.bs.ListPath(l.ctx, l.key, dir)
	if err != nil {
		return err
	}
	if l.bucket.Key == "" {
		l.bucket = b
	}
	items := sortedItems(it.Items)
	for _, c := range items {
		full := c.Name
		if dir != "" {
			full = dir + "/" + c.Name
		}
		if !c.IsDir {
			if dir == "" && c.Name == seedName {
				continue
			}
			if err := l.file(full, c); err != nil {
				return err
			}
			continue
		}
		kp := full + "/"
		if !strings.HasPrefix(kp, l.prefix) && !strings.HasPrefix(l.prefix, kp) {
			continue
		}
		if l.marker > kp && !strings.HasPrefix(l.marker, kp) {
			continue // every key under kp sorts before the marker
		}
		if cp, ok := l.commonPrefix(kp); ok {
			// Every key under kp rolls up into cp: one entry, if the
			// subtree holds a file at all.
			if cp <= l.marker || cp == l.lastCP {
				continue
			}
			if has, err := l.hasFile(full); err != nil {
				return err
			} else if has {
				if err := l.emit(listed{key: cp, prefix: true}); err != nil {
					return err
				}
			}
			continue
		}
		if err := l.walkDir(full); err != nil {
			return err
		}
	}
	return nil
}

// file lists the file at key k.
func (l *lister) file(k string, it hub.BucketItem) error {
	if !strings.HasPrefix(k, l.prefix) {
		return nil
	}
	if cp, ok := l.commonPrefix(k); ok {
		if cp <= l.marker || cp == l.lastCP {
			return nil
		}
		return l.emit(listed{key: cp, prefix: true})
	}
	if k <= l.marker {
		return nil
	}
	return l.emit(listed{key: k, item: it})
}

// commonPrefix returns the common prefix s rolls up into, if the
// delimiter occurs in it after the prefix.
func (l *lister) commonPrefix(s string) (string, bool) {
	if l.delim == "" || !strings.HasPrefix(s, l.prefix) {
		return "", false
	}
	rest := s[len(l.prefix):]
	i := strings.Index(rest, l.delim)
	if i < 0 {
		return "", false
	}
	return l.prefix + rest[:i+len(l.delim)], true
}

func (l *lister) emit(e listed) error {
	if len(l.out) >= l.max {
		return errFull
	}
	l.out = append(l.out, e)
	if e.prefix {
		l.lastCP = e.key
	}
	return nil
}

// hasFile reports whether the directory dir holds a file, at any depth:
// removing a bucket's last file in a directory leaves the directory.
func (l *lister) hasFile(dir string) (bool, error) {
	it, _, err := l.bs.ListPath(l.ctx, l.key, dir)
	if err != nil {
		return false, err
	}
	for _, c := range it.Items {
		if !c.IsDir {
			return true, nil
		}
	}
	for _, c := range it.Items {
		if has, err := l.hasFile(dir + "/" + c.Name); err != nil || has {
			return has, err
		}
	}
	return false, nil
}

// sortedItems returns items in the order of the keys under them.
func sortedItems(items []hub.BucketItem) []hub.BucketItem {
	sortKey := func(it hub.BucketItem) string {
		if it.IsDir {
			return it.Name + "/"
		}
		return it.Name
	}
	out := slices.Clone(items)
	slices.SortFunc(out, func(a, b hub.BucketItem) int { return strings.Compare(sortKey(a), sortKey(b)) })
	return out
}

type listBucketResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Xmlns                 string         `xml:"xmlns,attr"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker,omitempty"`
	NextMarker            string         `xml:"NextMarker,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	KeyCount              *int           `xml:"KeyCount,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []objectInfo   `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type objectInfo struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
	Owner        *owner `xml:"Owner,omitempty"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// listObjects answers ListObjectsV2 (v2) and ListObjects.
func (q *request) listObjects(v2 bool) error {
	bs, b, err := q.lookup()
	if err != nil {
		return err
	}
	qs := q.r.URL.Query()
	max := maxListKeys
	if v := qs.Get("max-keys"); v != "" {
		if max, err = strconv.Atoi(v); err != nil || max < 0 {
			return apiErrorf(errInvalidArgument, "max-keys must be a number from 0")
		}
		max = min(max, maxListKeys)
	}
	enc := qs.Get("encoding-type")
	if enc != "" && enc != "url" {
		return apiErrorf(errInvalidArgument, "Invalid Encoding Method specified in Request: encoding-type takes url")
	}
	l := &lister{ctx: q.r.Context(), bs: bs, key: b.Key, prefix: qs.Get("prefix"), delim: qs.Get("delimiter"), max: max}
	res := listBucketResult{Xmlns: xmlns, Name: q.bucket, Prefix: encodeKey(l.prefix, enc), MaxKeys: max,
		Delimiter: encodeKey(l.delim, enc), EncodingType: enc}
	if v2 {
		res.StartAfter = encodeKey(qs.Get("start-after"), enc)
		l.marker = qs.Get("start-after")
		if tok := qs.Get("continuation-token"); tok != "" {
			m, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil {
				return apiErrorf(errInvalidArgument, "The continuation token provided is incorrect")
			}
			l.marker, res.ContinuationToken = string(m), tok
		}
	} else {
		l.marker = qs.Get("marker")
		m := encodeKey(l.marker, enc)
		res.Marker = &m
	}
	if max > 0 {
		if err := l.walk(""); err != nil {
			return err
		}
	}
	res.IsTruncated = l.truncated
	for _, e := range l.out {
		if e.prefix {
			res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{encodeKey(e.key, enc)})
			continue
		}
		o := q.describe(b.Key, e.key, e.item, l.bucket)
		info := objectInfo{Key: encodeKey(e.key, enc), LastModified: isoTime(o.Modified), ETag: `"` + o.ETag + `"`, Size: e.item.Size, StorageClass: "STANDARD"}
		if !v2 {
			ow := q.owner()
			info.Owner = &ow
		}
		res.Contents = append(res.Contents, info)
	}
	if l.truncated && len(l.out) > 0 {
		last := l.out[len(l.out)-1].key
		if v2 {
			res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(last))
		} else if l.delim != "" {
			res.NextMarker = encodeKey(last, enc)
		}
	}
	if v2 {
		n := len(l.out)
		res.KeyCount = &n
	}
	return q.reply(res)
}

// encodeKey URL-encodes s when the client asked for encoding-type=url.
func encodeKey(s, enc string) string {
	if enc != "url" {
		return s
	}
	return strings.ReplaceAll(uriEncode(s, false), "%20", "+")
}
