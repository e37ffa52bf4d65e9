package auth

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"

	"github.com/selfhub/hub/errors"
)

// Username and org name rules. Usernames and org slugs share one namespace
// because both name an account in URLs and headers.
const (
	minNameLen     = 3
	maxUsernameLen = 32
	maxOrgNameLen  = 64
	maxEmailLen    = 254
)

var usernameRe = regexp.MustCompile(`^[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*$`)

// checkUsername reports whether name is an acceptable username.
func checkUsername(op errors.Op, name string) error {
	switch {
	case len(name) < minNameLen || len(name) > maxUsernameLen:
		return errors.Errorf(op, errors.Invalid, "username %q must be %d to %d characters long", errors.Clip(name), minNameLen, maxUsernameLen)
	case !usernameRe.MatchString(name):
		return errors.Errorf(op, errors.Invalid, "username %q may hold only letters, digits and single '-' or '_' between them", errors.Clip(name))
	}
	return nil
}

// checkEmail reports whether addr is a bare e-mail address.
func checkEmail(op errors.Op, addr string) error {
	if len(addr) > maxEmailLen {
		return errors.Errorf(op, errors.Invalid, "e-mail address is longer than %d characters", maxEmailLen)
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr || !strings.Contains(addr[strings.LastIndexByte(addr, '@')+1:], ".") {
		return errors.Errorf(op, errors.Invalid, "%q is not an e-mail address; send a bare address such as name@example.com", errors.Clip(addr))
	}
	return nil
}

// orgSlug derives the URL-safe name of an org from its display name: lower
// case letters and digits, runs of anything else folded into one '-'.
func orgSlug(op errors.Op, name string) (string, error) {
	name = strings.TrimSpace(name)
	if len(name) < minNameLen || len(name) > maxOrgNameLen {
		return "", errors.Errorf(op, errors.Invalid, "org name %q must be %d to %d characters long", errors.Clip(name), minNameLen, maxOrgNameLen)
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	slug := strings.TrimSuffix(b.String(), "-")
	if len(slug) < minNameLen {
		return "", errors.Errorf(op, errors.Invalid, "org name %q needs at least %d letters or digits", errors.Clip(name), minNameLen)
	}
	return slug, nil
}

// nameKey is the case-folded form under which usernames and slugs are unique.
func nameKey(name string) string { return strings.ToLower(name) }
