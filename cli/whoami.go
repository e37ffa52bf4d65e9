package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
)

// whoamiJSON is hub whoami --json.
type whoamiJSON struct {
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Key      string   `json:"key"`
	Org      *orgJSON `json:"org,omitempty"`
}

// whoamiCommand is hub whoami: show the logged-in account, and the org
// given with -o.
func (a *app) whoamiCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the account you are logged in as (and the org, with -o)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.sessionCall(cmd.Context(), false, func(ctx context.Context, c *hubclient.Client) error {
				info, err := c.SessionInfo(ctx)
				if err != nil {
					return err
				}
				out := whoamiJSON{Username: info.Username, Email: info.Email, Key: string(info.Key)}
				var org hub.Account
				if a.org != "" {
					if org, err = c.GetOrg(client.WithOrg(ctx, a.org)); err != nil {
						return err
					}
					j := toOrgJSON(org)
					out.Org = &j
				}
				if asJSON {
					return writeJSON(a.stdout, out)
				}
				rows := [][]string{
					{"username", info.Username},
					{"email", info.Email},
					{"key", string(info.Key)},
				}
				if out.Org != nil {
					role := "-"
					for _, m := range org.Members {
						if m.Key == info.Key {
							role = string(m.Role)
						}
					}
					rows = append(rows,
						[]string{"org", org.Slug + " (" + org.Name + ")"},
						[]string{"org key", string(org.Key)},
						[]string{"role", role},
					)
				}
				return writeTable(a.stdout, nil, rows)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
