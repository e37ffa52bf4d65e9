package daemon

import (
	"runtime/debug"

	"github.com/selfhub/hub/api/server"
)

// buildInfo reads the version control facts the Go toolchain stamps into
// the binary.
func buildInfo() server.BuildInfo {
	b := server.BuildInfo{Version: "devel"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		b.Version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.GitCommit = s.Value
		case "vcs.time":
			b.BuildDate = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				b.GitState = "dirty"
			} else {
				b.GitState = "clean"
			}
		}
	}
	return b
}
