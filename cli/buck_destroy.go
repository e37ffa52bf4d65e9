package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub/errors"
)

func (a *app) buckDestroyCommand(f *buckFlags) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete the bucket; the folder's files stay",
		Long: `Delete the bucket from the hub and unlink the folder (its .buck
directory). The files in the folder are not touched. Asks first unless
--yes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fd, err := a.openFolder(f)
			if err != nil {
				return err
			}
			if err := a.confirm(yes, fmt.Sprintf("Delete bucket %s (%s) and everything in it? This cannot be undone.", fd.cfg.Name, fd.cfg.Key)); err != nil {
				return err
			}
			return a.buckCall(cmd.Context(), f, fd.cfg.Org, fd.cfg.Thread, func(s *buckSession) error {
				if err := s.c.Remove(s.ctx, fd.cfg.Key); err != nil {
					return err
				}
				if err := os.RemoveAll(filepath.Join(fd.dir, buckDir)); err != nil {
					return errors.Errorf(cliOp, errors.Internal, "the bucket is deleted, but %s could not be removed: %v", filepath.Join(fd.dir, buckDir), err)
				}
				fmt.Fprintf(a.stdout, "Deleted bucket %s (%s); the files in %s are yours.\n", fd.cfg.Name, fd.cfg.Key, fd.dir)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}
