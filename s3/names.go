package s3

import (
	"net"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on an object key, in bytes.
const maxKeyLen = 1024

// seedName is the file the hub puts at every new bucket's root; S3 does
// not list it, so a bucket made through S3 looks empty, as S3 clients
// expect.
const seedName = ".textileseed"

// validBucketName reports whether name follows S3's rules for bucket names:
// 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending
// with a letter or digit, no "..", not an IP address.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 || net.ParseIP(name) != nil || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (c != '.' && c != '-' || i == 0 || i == len(name)-1) {
			return false
		}
	}
	return true
}

// keyPath returns the bucket path of an object key. Keys map to paths as
// they are: "a/b/c" is the file c in the directory a/b. Keys that are not
// such a path have no file to name, and are refused rather than rewritten
// (a rewritten key would not list back as written): empty segments ("a//b",
// a leading or trailing "/", so also "dir/" markers), "." and ".." segments,
// NUL and backslash, segments over 255 bytes (InvalidArgument), and keys
// over 1024 bytes (KeyTooLongError, S3's own limit).
func keyPath(key string) (string, error) {
	switch {
	case key == "":
		return "", apiErrorf(errInvalidArgument, "the object key is empty")
	case len(key) > maxKeyLen:
		return "", apiErrorf(errKeyTooLong, "Your key is too long: %d bytes; the limit is %d", len(key), maxKeyLen)
	case !utf8.ValidString(key):
		return "", apiErrorf(errInvalidArgument, "the object key is not valid UTF-8")
	case strings.HasSuffix(key, "/"):
		return "", apiErrorf(errInvalidArgument, "key %q ends in \"/\": Hub buckets hold files in directories, and a directory exists while it holds a file, so folder markers are not stored; put the files themselves", clip(key))
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return "", apiErrorf(errInvalidArgument, "key %q has an empty segment (a leading \"/\" or \"//\"); Hub bucket paths have none", clip(key))
		case seg == "." || seg == "..":
			return "", apiErrorf(errInvalidArgument, "key %q has a %q segment; Hub bucket paths have none", clip(key), seg)
		case len(seg) > 255:
			return "", apiErrorf(errInvalidArgument, "a segment of key %q is %d bytes; Hub bucket paths allow 255 between slashes", clip(key), len(seg))
		case strings.ContainsAny(seg, "\x00\\"):
			return "", apiErrorf(errInvalidArgument, "key %q contains a NUL or backslash, which Hub bucket paths do not", clip(key))
		}
	}
	if key == seedName {
		return "", apiErrorf(errInvalidArgument, "key %q is the seed file the hub keeps at every bucket's root", seedName)
	}
	return key, nil
}
