package errors

import (
	"fmt"
	"testing"
)

func TestKindSurvivesWrapping(t *testing.T) {
	inner := E(Op("store.Get"), NotExist, "no record")
	outer := E(Op("auth.Signin"), inner)
	wrapped := fmt.Errorf("context: %w", outer)
	if KindOf(wrapped) != NotExist {
		t.Fatalf("kind %v through wrapping", KindOf(wrapped))
	}
	if got := Message(outer); got != "no record" {
		t.Fatalf("message %q; want the innermost text", got)
	}
	if got := outer.Error(); got != "auth.Signin: store.Get: no record" {
		t.Fatalf("error text %q", got)
	}
}
