package server

import (
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
)

// TestRequirementsMatchServices: the server refuses to start when its
// requirement tables leave out a method a registered service serves, or
// name one that none serves; tables that match exactly pass.
func TestRequirementsMatchServices(t *testing.T) {
	services := map[string]grpc.ServiceInfo{
		"pkg.Svc": {Methods: []grpc.MethodInfo{{Name: "Get"}, {Name: "Watch", IsServerStream: true}}},
	}
	for _, tc := range []struct {
		name string
		reqs map[string]auth.Requirement
		want string // in the error; "" for none
	}{
		{"exact", map[string]auth.Requirement{"/pkg.Svc/Get": auth.Open, "/pkg.Svc/Watch": auth.Authenticated}, ""},
		{"missing", map[string]auth.Requirement{"/pkg.Svc/Get": auth.Open}, "/pkg.Svc/Watch has no entry"},
		{"unknown", map[string]auth.Requirement{"/pkg.Svc/Get": auth.Open, "/pkg.Svc/Watch": auth.Authenticated, "/pkg.Svc/Gte": auth.Open}, "/pkg.Svc/Gte, which no registered service serves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkRequirements(services, tc.reqs)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(errors.Internal, err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want an Internal error saying %q", err, tc.want)
			}
		})
	}
}
