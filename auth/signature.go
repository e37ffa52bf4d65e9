package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"time"

	"github.com/multiformats/go-multibase"

	"github.com/selfhub/hub/errors"
)

// API key and secret sizes, in random bytes before multibase encoding.
const (
	keyBytes    = 16
	secretBytes = 24
)

// newKeyPair returns a fresh API key and secret in their wire form.
func newKeyPair() (key, secret string, err error) {
	if key, err = randomBase32(keyBytes); err != nil {
		return "", "", err
	}
	if secret, err = randomBase32(secretBytes); err != nil {
		return "", "", err
	}
	return key, secret, nil
}

// randomBase32 returns n random bytes as multibase base32.
func randomBase32(n int) (string, error) {
	const op errors.Op = "auth.random"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return multibase.Encode(multibase.Base32, b)
}

// Signature is a parsed x-textile-api-sig / x-textile-api-sig-msg pair.
type Signature struct {
	MAC   []byte    // decoded HMAC-SHA256
	Msg   string    // the signed message: an RFC 3339 date
	Until time.Time // the date in Msg
}

// ParseSignature decodes the signature headers. It checks their form only;
// Verify checks them against a secret and the clock.
func ParseSignature(sig, msg string) (Signature, error) {
	const op errors.Op = "auth.ParseSignature"
	if sig == "" || msg == "" {
		return Signature{}, errors.E(op, errors.Unauthenticated, "this API key is secure: send x-textile-api-sig and x-textile-api-sig-msg (sign an RFC 3339 date in the future with the key's secret)")
	}
	until, err := time.Parse(time.RFC3339Nano, msg)
	if err != nil {
		return Signature{}, errors.Errorf(op, errors.Invalid, "x-textile-api-sig-msg %q is not an RFC 3339 date such as 2030-01-02T15:04:05.000Z", errors.Clip(msg))
	}
	_, mac, err := multibase.Decode(sig)
	if err != nil {
		return Signature{}, errors.Errorf(op, errors.Invalid, "x-textile-api-sig is not multibase: %v", err)
	}
	if len(mac) != sha256.Size {
		return Signature{}, errors.Errorf(op, errors.Invalid, "x-textile-api-sig holds %d bytes; an HMAC-SHA256 has %d", len(mac), sha256.Size)
	}
	return Signature{MAC: mac, Msg: msg, Until: until}, nil
}

// Verify checks that the signature was made with secret, has not expired at
// now, and expires no later than now+maxAhead.
func (s Signature) Verify(secret string, now time.Time, maxAhead time.Duration) error {
	const op errors.Op = "auth.VerifySignature"
	_, key, err := multibase.Decode(secret)
	if err != nil {
		return errors.E(op, errors.Internal, "stored secret is not multibase")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s.Msg))
	if !hmac.Equal(m.Sum(nil), s.MAC) {
		return errors.E(op, errors.Unauthenticated, "signature does not match the API key: sign x-textile-api-sig-msg with the key's secret (HMAC-SHA256, multibase base32)")
	}
	if !s.Until.After(now) {
		return errors.Errorf(op, errors.Unauthenticated, "signature expired at %s; sign a date in the future", s.Until.UTC().Format(time.RFC3339))
	}
	if s.Until.Sub(now) > maxAhead {
		return errors.Errorf(op, errors.Unauthenticated, "signature date %s is more than %s ahead; sign a date at most %s in the future", s.Until.UTC().Format(time.RFC3339), maxAhead, maxAhead)
	}
	return nil
}
