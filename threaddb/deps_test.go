package threaddb_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoInternalImports keeps everything an app needs to embed ThreadDB
// public: an app outside this module cannot import a package under
// internal/, so none may be among threaddb's dependencies.
func TestNoInternalImports(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test lists imports with the go tool, which is not on PATH: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", "github.com/selfhub/hub/threaddb").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	n := 0
	for dep := range strings.FieldsSeq(string(out)) {
		n++
		if strings.HasPrefix(dep, "github.com/selfhub/hub/") && strings.Contains(dep+"/", "/internal/") {
			t.Errorf("threaddb imports %s (through its dependencies); an app outside this module could not build it", dep)
		}
	}
	if n < 10 {
		t.Fatalf("go list -deps listed %d packages; the check saw nothing", n)
	}
}
