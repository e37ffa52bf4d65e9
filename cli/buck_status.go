package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// statusJSON is what hub buck status --json prints. The field names are a
// scripting interface; change them only by adding.
type statusJSON struct {
	Root       string   `json:"root"`        // the folder's root: the bucket's at the last push or pull
	RemoteRoot string   `json:"remote_root"` // the bucket's root now
	Moved      bool     `json:"moved"`       // the bucket changed since the last push or pull
	Local      []change `json:"local"`       // the folder's changes since then
	Remote     []change `json:"remote"`      // the bucket's changes since then
}

func (a *app) buckStatusCommand(f *buckFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what changed in the folder, and in the bucket, since the last push or pull",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				files, err := fd.scan()
				if err != nil {
					return err
				}
				local, err := fd.localChanges(files)
				if err != nil {
					return err
				}
				// Listed even when the root has not moved: an add links
				// files the folder has not pulled yet.
				remote, root, err := s.remoteFiles(fd.cfg.Key)
				if err != nil {
					return err
				}
				st := statusJSON{Root: fd.state.Root, RemoteRoot: root, Moved: root != fd.state.Root, Local: local, Remote: []change{}}
				if st.Local == nil {
					st.Local = []change{}
				}
				if rc := fd.remoteChanges(remote); rc != nil {
					st.Remote = rc
				}
				if asJSON {
					return writeJSON(a.stdout, st)
				}
				a.printStatus(fd, st)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) printStatus(fd *folder, st statusJSON) {
	fmt.Fprintf(a.stdout, "Bucket %s (%s)\n", fd.cfg.Name, fd.cfg.Key)
	if len(st.Local) == 0 {
		fmt.Fprintln(a.stdout, "No local changes since the last push or pull.")
	} else {
		fmt.Fprintln(a.stdout, "Local changes (hub buck push sends them):")
		for _, c := range st.Local {
			fmt.Fprintf(a.stdout, "  %-9s %s\n", c.Kind+":", c.Path)
		}
	}
	switch {
	case st.Moved:
		fmt.Fprintf(a.stdout, "The bucket changed since (it is at %s, was %s); hub buck pull brings its changes:\n", st.RemoteRoot, st.Root)
	case len(st.Remote) > 0:
		fmt.Fprintf(a.stdout, "The bucket has files the folder lacks (it is at %s); hub buck pull brings them:\n", st.RemoteRoot)
	default:
		fmt.Fprintf(a.stdout, "The bucket has not changed since; it is at %s.\n", st.RemoteRoot)
	}
	for _, c := range st.Remote {
		fmt.Fprintf(a.stdout, "  %-9s %s\n", c.Kind+":", c.Path)
	}
}
