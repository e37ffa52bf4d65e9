package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// roleNames are the path access roles by their wire value.
var roleNames = []string{"none", "reader", "writer", "admin"}

// parseRole reads a role name (or its number).
func parseRole(s string) (hub.PathRole, error) {
	for i, n := range roleNames {
		if strings.EqualFold(s, n) || s == fmt.Sprint(i) {
			return hub.PathRole(i), nil
		}
	}
	return 0, errors.Errorf(cliOp, errors.Invalid, "%q is not a role; use none, reader, writer or admin", errors.Clip(s))
}

// roleName names a role's wire value.
func roleName(r hub.PathRole) string {
	if r >= 0 && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

func (a *app) buckRolesCommand(f *buckFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "roles",
		Short: "Share paths of the bucket with other identities of the app",
		Long: `Give identities of the same app roles on a path of the bucket, and list
them. Roles are none, reader, writer and admin; a path's role is the
highest given on it or a directory above it, to the identity or to * (every
identity). The bucket's owner is admin everywhere; granting needs admin.`,
	}
	cmd.AddCommand(a.buckRolesGrantCommand(f), a.buckRolesListCommand(f))
	return cmd
}

func (a *app) buckRolesGrantCommand(f *buckFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "grant IDENTITY|* ROLE [PATH]",
		Short: "Give an identity (or * for everyone) a role on PATH (the whole bucket by default)",
		Long: `Give the identity (its public key, as hub mail setup prints it), or * for
every identity of the app, ROLE on PATH, the whole bucket by default. The
role none takes back what was given on that path.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := parseRole(args[1])
			if err != nil {
				return err
			}
			path := optionalArg(args, 2)
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				if err := s.c.SetPathRoles(s.ctx, fd.cfg.Key, path, map[string]hub.PathRole{args[0]: role}); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s is %s on /%s.\n", args[0], roleName(role), path)
				return nil
			})
		},
	}
}

func (a *app) buckRolesListCommand(f *buckFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls [PATH]",
		Aliases: []string{"list"},
		Short:   "List the roles given on PATH itself (the bucket's top by default)",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := optionalArg(args, 0)
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				roles, err := s.c.PathRoles(s.ctx, fd.cfg.Key, path)
				if err != nil {
					return err
				}
				ids := make([]string, 0, len(roles))
				for id := range roles {
					ids = append(ids, id)
				}
				sort.Strings(ids)
				if asJSON {
					out := make(map[string]string, len(roles))
					for id, r := range roles {
						out[id] = roleName(r)
					}
					return writeJSON(a.stdout, out)
				}
				rows := make([][]string, 0, len(ids))
				for _, id := range ids {
					rows = append(rows, []string{id, roleName(roles[id])})
				}
				return writeTable(a.stdout, []string{"IDENTITY", "ROLE"}, rows)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
