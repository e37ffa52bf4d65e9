package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/errors"
)

func (a *app) buckAddCommand(f *buckFlags) *cobra.Command {
	var (
		carFile, carRoot string
		force            bool
	)
	cmd := &cobra.Command{
		Use:   "add CID [PATH] | add --car FILE [PATH]",
		Short: "Link a UnixFS DAG into the bucket at PATH: one the hub has, or one from a CAR file",
		Long: `Link a UnixFS file or directory into the bucket at PATH; without PATH, a
directory replaces the bucket's whole contents.

With CID, the DAG must already be in the hub. With --car, the CAR file (v1
or v2, as ipfs dag export or the gateway's ?format=car make it) is sent to
the hub, which checks every block against its CID and that the DAG is
complete before the bucket changes; --car-root picks the DAG when the CAR
has several roots. A CAR import is fast-forward against the folder's last
push or pull unless --force.

The folder's files do not change: hub buck pull brings the new files here.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if carFile != "" {
				return cobra.MaximumNArgs(1)(cmd, args)
			}
			return cobra.RangeArgs(1, 2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				if carFile != "" {
					return a.importCAR(fd, s, carFile, carRoot, args, force)
				}
				path := optionalArg(args, 1)
				before, err := s.c.Root(s.ctx, fd.cfg.Key)
				if err != nil {
					return err
				}
				if err := s.c.SetPath(s.ctx, fd.cfg.Key, path, args[0]); err != nil {
					return err
				}
				after, err := s.c.Root(s.ctx, fd.cfg.Key)
				if err != nil {
					return err
				}
				// A folder in step with the bucket stays so: the added
				// files are the bucket's changes, which pull brings.
				if before.Path == fd.state.Root {
					fd.state.Root = after.Path
					if err := fd.saveState(); err != nil {
						return err
					}
				}
				fmt.Fprintf(a.stdout, "Linked %s at /%s; the bucket is at %s.\n", args[0], path, after.Path)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&carFile, "car", "", "import the DAG in this CAR file")
	cmd.Flags().StringVar(&carRoot, "car-root", "", "with --car: the root CID to link when the CAR has several")
	cmd.Flags().BoolVar(&force, "force", false, "with --car: import even if the bucket changed since the last push or pull")
	return cmd
}

// importCAR sends the CAR file to the hub and links it at args[0] (or the
// bucket's top).
func (a *app) importCAR(fd *folder, s *buckSession, file, carRoot string, args []string, force bool) error {
	path := optionalArg(args, 0)
	fh, err := os.Open(file)
	if err != nil {
		return errors.Errorf(cliOp, errors.Invalid, "cannot read the CAR: %v", err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return errors.E(cliOp, errors.Internal, err)
	}
	root := fd.state.Root
	if force {
		root = ""
	}
	m := a.newMeter("sent", info.Size())
	defer m.finish()
	var sent int64
	res, err := s.c.ImportCAR(s.ctx, fd.cfg.Key, path, fh, bucketsclient.CAROptions{Root: root, CARRoot: carRoot,
		Progress: func(n int64) { m.add(n - sent); sent = n }})
	if err != nil {
		return err
	}
	m.step("the CAR")
	m.finish()
	// A fast-forward import keeps the folder in step with the bucket: the
	// imported files are the bucket's changes, which pull brings. After a
	// forced one the folder may lack others' changes too, so it stays
	// behind until a pull.
	if !force {
		fd.state.Root = res.Root.Path
		if err := fd.saveState(); err != nil {
			return err
		}
	}
	fmt.Fprintf(a.stdout, "Imported %s (%d blocks, %s) at /%s; the bucket is at %s.\n", res.Cid, res.Blocks, byteSize(res.Bytes), path, res.Root.Path)
	return nil
}
