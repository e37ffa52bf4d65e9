package cli

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// serverPackages are the parts of the module that run inside hubd. The
// CLI and the Go clients reach the server only over the wire, so that they
// build without it and cannot come to depend on its internals.
var serverPackages = []string{
	"github.com/selfhub/hub/auth",
	"github.com/selfhub/hub/daemon",
	"github.com/selfhub/hub/api/server",
	"github.com/selfhub/hub/internal",
}

// edgePackages are the internal packages both ends of the wire share: the
// table between error kinds and gRPC codes, which the clients read
// statuses with.
var edgePackages = []string{
	"github.com/selfhub/hub/internal/rpcerr",
}

func TestNoServerDeps(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test lists dependencies with the go command: %v", err)
	}
	for _, pkg := range []string{".", "../cmd/hub", "../client/..."} {
		out, err := exec.Command(gobin, "list", "-deps", pkg).Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				t.Fatalf("go list -deps %s: %v\n%s", pkg, err, ee.Stderr)
			}
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if slices.Contains(edgePackages, dep) {
				continue
			}
			for _, s := range serverPackages {
				if dep == s || strings.HasPrefix(dep, s+"/") {
					t.Errorf("%s depends on server package %s", pkg, dep)
				}
			}
		}
	}
}
