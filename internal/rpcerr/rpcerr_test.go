package rpcerr

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/selfhub/hub/errors"
)

// TestStatusRoundTrip checks the one table both ways: every kind goes on the
// wire as its code and comes back as the same kind, with its message.
func TestStatusRoundTrip(t *testing.T) {
	const op errors.Op = "op"
	for k := errors.Invalid; k <= errors.DataLoss; k++ {
		err := errors.E(op, k, "what to fix")
		st := status.Convert(ToStatus(err))
		if st.Code() != codeOf[k] {
			t.Errorf("%v: code %v, want %v", k, st.Code(), codeOf[k])
		}
		back := FromStatus("client", ToStatus(err))
		if errors.KindOf(back) != k {
			t.Errorf("%v came back as %v", k, errors.KindOf(back))
		}
		if k != errors.Internal && errors.Message(back) != "what to fix" {
			t.Errorf("%v: message %q lost", k, errors.Message(back))
		}
	}
}

func TestInternalDetailStaysInside(t *testing.T) {
	const op errors.Op = "store.Get"
	st := status.Convert(ToStatus(errors.E(op, errors.Internal, "disk /dev/sda1 failed")))
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
	if k := errors.KindOf(FromStatus("op", status.Error(codes.Unknown, "?"))); k != errors.Other {
		t.Fatalf("an unknown code came back as %v, want Other", k)
	}
}
