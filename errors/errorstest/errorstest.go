// Package errorstest holds the check every test of a user-facing error
// makes: the error has the kind its caller acts on, and its message says
// what to fix.
//
// It imports nothing of the project but errors, so the conformance suites
// (threadstest, bucketstest), the clients' tests and the tests of a whole
// hub all share it.
package errorstest

import (
	"strings"
	"testing"

	"github.com/selfhub/hub/errors"
)

// WantKind fails t unless err has kind and its message (errors.Message:
// the text a user reads, without operation names) contains hint. An error
// that came over the wire must read as the server's own message, so a
// message that still carries gRPC's "rpc error: code = …" wrapping fails
// too.
func WantKind(t testing.TB, err error, kind errors.Kind, hint string) {
	t.Helper()
	if !errors.Is(kind, err) {
		t.Fatalf("got %v (kind %v), want kind %v", err, errors.KindOf(err), kind)
	}
	if msg := errors.Message(err); strings.Contains(msg, "rpc error") || !strings.Contains(msg, hint) {
		t.Fatalf("message %q: want the server's own message, saying %q", msg, hint)
	}
}
