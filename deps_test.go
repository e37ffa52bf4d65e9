package hub_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreImportsNoTransport keeps gRPC and the generated protobuf code out
// of the core: the vocabulary, errors, threads (which apps embed) and the
// services behind api/server. Only the edge (api/server, client/..., and
// internal/rpcerr, which maps error kinds to gRPC codes) speaks the wire.
func TestCoreImportsNoTransport(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test lists imports with the go tool, which is not on PATH: %v", err)
	}
	core := []string{
		"github.com/selfhub/hub",
		"github.com/selfhub/hub/errors",
		"github.com/selfhub/hub/threads/...",
		"github.com/selfhub/hub/auth",
		"github.com/selfhub/hub/buckets",
		"github.com/selfhub/hub/mail",
		"github.com/selfhub/hub/metering",
	}
	forbidden := []string{"google.golang.org/grpc", "github.com/selfhub/hub/api/", "github.com/selfhub/hub/internal/rpcerr"}
	// Each package is listed on its own, so a failure names the core
	// package that pulls the transport in.
	for _, pkg := range core {
		out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for dep := range strings.FieldsSeq(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s imports %s (through its dependencies): the core must not depend on the transport", pkg, dep)
				}
			}
		}
	}
}
