package threadsclient

import (
	"encoding/hex"

	"github.com/selfhub/hub/threads"
)

// ID is a thread (DB) ID: package threads' type, which the client shares
// with the server (package threads holds no server code). The alias lets
// callers of the client name it without a second import.
type ID = threads.ID

// Key is a thread key: package threads' type, shared like ID.
type Key = threads.Key

// addrString renders a DB address in binary form as text (threads.AddrString).
func addrString(b []byte) (string, error) { return threads.AddrString(b) }

// addrBytes gives a DB address in binary form, and its ID (threads.AddrBytes).
func addrBytes(s string) ([]byte, ID, error) { return threads.AddrBytes(s) }

// hexClip is the hex form of bytes, shortened for messages.
func hexClip(b []byte) string {
	if len(b) > 40 {
		return hex.EncodeToString(b[:40]) + "…"
	}
	return hex.EncodeToString(b)
}
