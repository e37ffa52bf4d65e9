package buckets

import (
	"strings"
	"unicode/utf8"

	"github.com/selfhub/hub/errors"
)

// Limits on paths inside a bucket.
const (
	MaxNameLen = 255  // bytes in one path segment
	MaxPathLen = 4096 // bytes in a whole path
)

// CleanPath parses a path inside a bucket into its segments. Leading and
// trailing slashes are ignored, so "", "/" name the root (no segments).
// Empty segments ("a//b"), "." and "..", NUL and '\\' are refused rather than
// normalized: a client that sends them has a bug, and guessing what it
// meant could write outside the directory it intended.
func CleanPath(p string) ([]string, error) {
	const op errors.Op = "buckets.CleanPath"
	if len(p) > MaxPathLen {
		return nil, errors.Errorf(op, errors.Invalid, "path is %d bytes; the limit is %d", len(p), MaxPathLen)
	}
	if !utf8.ValidString(p) {
		return nil, errors.E(op, errors.Invalid, "path is not valid UTF-8")
	}
	t := strings.Trim(p, "/")
	if t == "" {
		return nil, nil
	}
	segs := strings.Split(t, "/")
	for _, s := range segs {
		switch {
		case s == "":
			return nil, errors.Errorf(op, errors.Invalid, "path %q has an empty segment (\"//\")", errors.Clip(p))
		case s == "." || s == "..":
			return nil, errors.Errorf(op, errors.Invalid, "path %q has a %q segment; give the path from the bucket's root without . or ..", errors.Clip(p), s)
		case len(s) > MaxNameLen:
			return nil, errors.Errorf(op, errors.Invalid, "a segment of path %q is %d bytes; the limit is %d", errors.Clip(p), len(s), MaxNameLen)
		case strings.ContainsAny(s, "\x00\\"):
			return nil, errors.Errorf(op, errors.Invalid, "path %q contains a NUL or backslash", errors.Clip(p))
		}
	}
	return segs, nil
}

func join(segs []string) string { return strings.Join(segs, "/") }
