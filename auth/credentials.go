package auth

import (
	"strings"

	"github.com/selfhub/hub/errors"
)

// Credentials are what a request presents, read from its metadata headers
// (docs/protocol.md, "Credentials in request metadata"). Any may be empty.
type Credentials struct {
	Session string // x-textile-session
	Org     string // x-textile-org
	APIKey  string // x-textile-api-key
	Sig     string // x-textile-api-sig
	SigMsg  string // x-textile-api-sig-msg
	Token   string // authorization: bearer <token>
}

// Header names of the credentials.
const (
	HeaderSession       = "x-textile-session"
	HeaderOrg           = "x-textile-org"
	HeaderAPIKey        = "x-textile-api-key"
	HeaderAPISig        = "x-textile-api-sig"
	HeaderAPISigMsg     = "x-textile-api-sig-msg"
	HeaderAuthorization = "authorization"
)

// maxHeaderLen bounds every credential header; real ones are far shorter.
const maxHeaderLen = 4096

// ParseCredentials reads the credentials from header values; get returns
// all values of a (lower-case) header. Each header may appear at most once.
func ParseCredentials(get func(name string) []string) (Credentials, error) {
	const op errors.Op = "auth.ParseCredentials"
	var c Credentials
	fields := []struct {
		name string
		dst  *string
	}{
		{HeaderSession, &c.Session},
		{HeaderOrg, &c.Org},
		{HeaderAPIKey, &c.APIKey},
		{HeaderAPISig, &c.Sig},
		{HeaderAPISigMsg, &c.SigMsg},
	}
	one := func(name string) (string, error) {
		vals := get(name)
		switch {
		case len(vals) == 0:
			return "", nil
		case len(vals) > 1:
			return "", errors.Errorf(op, errors.Invalid, "header %s appears %d times; send it once", name, len(vals))
		case len(vals[0]) > maxHeaderLen:
			return "", errors.Errorf(op, errors.Invalid, "header %s is longer than %d bytes", name, maxHeaderLen)
		}
		return strings.TrimSpace(vals[0]), nil
	}
	for _, f := range fields {
		v, err := one(f.name)
		if err != nil {
			return Credentials{}, err
		}
		*f.dst = v
	}
	authz, err := one(HeaderAuthorization)
	if err != nil {
		return Credentials{}, err
	}
	if authz != "" {
		scheme, tok, ok := strings.Cut(authz, " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
			return Credentials{}, errors.E(op, errors.Invalid, `authorization header must be "bearer <token>" with the token from GetToken`)
		}
		c.Token = strings.TrimSpace(tok)
	}
	if c.APIKey == "" && (c.Sig != "" || c.SigMsg != "") {
		return Credentials{}, errors.E(op, errors.Invalid, "x-textile-api-sig was sent without x-textile-api-key")
	}
	return c, nil
}
