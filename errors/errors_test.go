package errors

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// TestStatusRoundTrip checks the one table both ways: every kind goes on the
// wire as its code and comes back as the same kind, with its message.
func TestStatusRoundTrip(t *testing.T) {
	for k := Invalid; k <= DataLoss; k++ {
		err := E(Op("op"), k, "what to fix")
		st := status.Convert(ToStatus(err))
		if st.Code() != grpcCodes[k] {
			t.Errorf("%v: code %v, want %v", k, st.Code(), grpcCodes[k])
		}
		back := FromStatus("client", ToStatus(err))
		if KindOf(back) != k {
			t.Errorf("%v came back as %v", k, KindOf(back))
		}
		if k != Internal && Message(back) != "what to fix" {
			t.Errorf("%v: message %q lost", k, Message(back))
		}
	}
}

func TestInternalDetailStaysInside(t *testing.T) {
	st := status.Convert(ToStatus(E(Op("store.Get"), Internal, "disk /dev/sda1 failed")))
	if st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("internal error leaked as %v %q", st.Code(), st.Message())
	}
	if Code(fmt.Errorf("plain")) != codes.Internal {
		t.Fatal("an unclassified error is not Internal")
	}
	if Code(context.Canceled) != codes.Canceled {
		t.Fatal("context cancellation is not Canceled")
	}
	if Code(status.Error(codes.NotFound, "x")) != codes.NotFound {
		t.Fatal("a status error lost its code")
	}
}
