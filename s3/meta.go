package s3

import (
	"net/http"
	"strings"
)

// Meta is what an object is put with and S3 answers with on reads: its
// content headers and its user metadata (x-amz-meta-*).
type Meta struct {
	ContentType        string            `json:"type,omitempty"`
	ContentEncoding    string            `json:"encoding,omitempty"`
	ContentDisposition string            `json:"disposition,omitempty"`
	CacheControl       string            `json:"cache,omitempty"`
	User               map[string]string `json:"user,omitempty"` // by lower-case name, without x-amz-meta-
}

// userMetaPrefix starts the headers of user metadata.
const userMetaPrefix = "x-amz-meta-"

// maxUserMeta is S3's limit on the user metadata of an object: names and
// values together, in bytes.
const maxUserMeta = 2 << 10

// contentHeaders are the headers Meta keeps besides user metadata, with
// where each goes.
var contentHeaders = []struct {
	name  string
	field func(*Meta) *string
}{
	{"Content-Type", func(m *Meta) *string { return &m.ContentType }},
	{"Content-Encoding", func(m *Meta) *string { return &m.ContentEncoding }},
	{"Content-Disposition", func(m *Meta) *string { return &m.ContentDisposition }},
	{"Cache-Control", func(m *Meta) *string { return &m.CacheControl }},
}

// metaOf reads an object's Meta from the headers of the request that puts
// it; user metadata past S3's 2 KiB is MetadataTooLarge.
func metaOf(h http.Header) (Meta, error) {
	var m Meta
	for _, c := range contentHeaders {
		*c.field(&m) = h.Get(c.name)
	}
	// aws-chunked is how the body travels, not how the object is encoded.
	m.ContentEncoding = strings.Trim(strings.ReplaceAll(","+m.ContentEncoding+",", ",aws-chunked,", ","), ",")
	n := 0
	for k, v := range h {
		name, ok := strings.CutPrefix(strings.ToLower(k), userMetaPrefix)
		if !ok || name == "" {
			continue
		}
		if m.User == nil {
			m.User = map[string]string{}
		}
		m.User[name] = strings.Join(v, ",")
		n += len(name) + len(m.User[name])
	}
	if n > maxUserMeta {
		return Meta{}, apiErrorf(errMetadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size: %d bytes of names and values; the limit is %d", n, maxUserMeta)
	}
	return m, nil
}

// write sets the headers of m on a read's answer; an object with no type
// is application/octet-stream.
func (m Meta) write(h http.Header) {
	for _, c := range contentHeaders {
		if v := *c.field(&m); v != "" {
			h.Set(c.name, v)
		}
	}
	if m.ContentType == "" {
		h.Set("Content-Type", "application/octet-stream")
	}
	for k, v := range m.User {
		h[http.CanonicalHeaderKey(userMetaPrefix+k)] = []string{v}
	}
}
