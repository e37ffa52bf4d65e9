package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// clientVersion describes this build of hub from the module build
// information, so it needs no linker flags or package variables.
func clientVersion() string {
	v := "devel"
	bi, ok := debug.ReadBuildInfo()
	if ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	if ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v + " " + runtime.Version()
}

// versionCommand is hub version: this client's version and the server's.
func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the version of hub and of the hub server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "client  %s\n", clientVersion())
			cfg, _, err := a.loadConfig()
			if err != nil {
				return err
			}
			c, done, err := a.hubClient(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer done()
			bi, err := c.BuildInfo(cmd.Context())
			if err != nil {
				return err
			}
			server := bi.Version
			if server == "" {
				server = "unknown"
			}
			if bi.GitCommit != "" {
				server += " (" + bi.GitCommit
				if bi.GitState == "dirty" {
					server += ", dirty"
				}
				server += ")"
			}
			if bi.BuildDate != "" {
				server += " built " + bi.BuildDate
			}
			fmt.Fprintf(a.stdout, "server  %s at %s\n", server, a.addr(cfg))
			return nil
		},
	}
}
