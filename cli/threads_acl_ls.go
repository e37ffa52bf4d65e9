package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	threadsclient "github.com/selfhub/hub/client/threads"
)

// aclMemberJSON is a member as hub threads acl ls --json prints it. The
// field names are a scripting interface; change them only by adding.
type aclMemberJSON struct {
	Identity string       `json:"identity"`
	Role     string       `json:"role"`
	Logs     []aclLogJSON `json:"logs"`
}

type aclLogJSON struct {
	ID      string `json:"id"`
	Role    string `json:"role"`
	Revoked bool   `json:"revoked"`
	Cut     int64  `json:"cut"`
}

func (a *app) threadsACLListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls DB",
		Aliases: []string{"list"},
		Short:   "List the identities of a DB's access control list and their roles",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseDBID(args[0])
			if err != nil {
				return err
			}
			return a.threadsCall(cmd.Context(), func(ctx context.Context, c *threadsclient.Client) error {
				members, err := c.ACL(ctx, id)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]aclMemberJSON, 0, len(members))
					for _, m := range members {
						mj := aclMemberJSON{Identity: string(m.Identity), Role: m.Role, Logs: []aclLogJSON{}}
						for _, l := range m.Logs {
							mj.Logs = append(mj.Logs, aclLogJSON{ID: l.ID, Role: l.Role, Revoked: l.Revoked, Cut: l.Cut})
						}
						out = append(out, mj)
					}
					return writeJSON(a.stdout, out)
				}
				rows := make([][]string, 0, len(members))
				for _, m := range members {
					var logs []string
					for _, l := range m.Logs {
						s := l.ID
						if l.Revoked {
							s += fmt.Sprintf(" (cut at %d)", l.Cut)
						}
						logs = append(logs, s)
					}
					if len(logs) == 0 {
						logs = []string{"-"}
					}
					rows = append(rows, []string{string(m.Identity), m.Role, strings.Join(logs, ", ")})
				}
				return writeTable(a.stdout, []string{"IDENTITY", "ROLE", "LOGS"}, rows)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
