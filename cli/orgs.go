package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub"
	hubclient "github.com/selfhub/hub/client/hub"
)

// orgsCommand is hub orgs: organizations the account belongs to.
func (a *app) orgsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "orgs",
		Short: "Manage organizations",
	}
	cmd.AddCommand(
		a.orgsCreateCommand(),
		a.orgsListCommand(),
		a.orgsMembersCommand(),
		a.orgsInviteCommand(),
		a.orgsLeaveCommand(),
		a.orgsDestroyCommand(),
	)
	return cmd
}

// orgCall is sessionCall for the orgs commands: withOrg then requires -o.
func (a *app) orgCall(ctx context.Context, withOrg bool, f func(context.Context, *hubclient.Client) error) error {
	if withOrg {
		if err := a.needOrg(); err != nil {
			return err
		}
	}
	return a.sessionCall(ctx, withOrg, f)
}

func (a *app) orgsCreateCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an organization owned by you",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The org does not exist yet, so the call acts as the developer
			// even when -o is set.
			return a.orgCall(cmd.Context(), false, func(ctx context.Context, c *hubclient.Client) error {
				o, err := c.CreateOrg(ctx, args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, toOrgJSON(o))
				}
				fmt.Fprintf(a.stdout, "Created org %s; use it with -o %s.\nOrg key: %s\n", o.Name, o.Slug, o.Key)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) orgsListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the organizations you belong to",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.orgCall(cmd.Context(), false, func(ctx context.Context, c *hubclient.Client) error {
				orgs, err := c.ListOrgs(ctx)
				if err != nil {
					return err
				}
				return printOrgs(a, orgs, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printOrgs prints orgs as a table, or a JSON array of orgJSON.
func printOrgs(a *app, orgs []hub.Account, asJSON bool) error {
	if asJSON {
		out := make([]orgJSON, 0, len(orgs))
		for _, o := range orgs {
			out = append(out, toOrgJSON(o))
		}
		return writeJSON(a.stdout, out)
	}
	if len(orgs) == 0 {
		fmt.Fprintln(a.stderr, "No organizations; create one with hub orgs create.")
		return nil
	}
	rows := make([][]string, 0, len(orgs))
	for _, o := range orgs {
		rows = append(rows, []string{o.Slug, o.Name, strconv.Itoa(len(o.Members)), date(o.CreatedAt), string(o.Key)})
	}
	return writeTable(a.stdout, []string{"SLUG", "NAME", "MEMBERS", "CREATED", "KEY"}, rows)
}

func (a *app) orgsMembersCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "members -o ORG",
		Short: "List the members of an organization",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.orgCall(cmd.Context(), true, func(ctx context.Context, c *hubclient.Client) error {
				o, err := c.GetOrg(ctx)
				if err != nil {
					return err
				}
				return printMembers(a, o.Members, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printMembers prints members as a table, or a JSON array of memberJSON.
func printMembers(a *app, members []hub.Member, asJSON bool) error {
	if asJSON {
		return writeJSON(a.stdout, toMembersJSON(members))
	}
	rows := make([][]string, 0, len(members))
	for _, m := range members {
		rows = append(rows, []string{m.Username, string(m.Role), string(m.Key)})
	}
	return writeTable(a.stdout, []string{"USERNAME", "ROLE", "KEY"}, rows)
}

func (a *app) orgsInviteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "invite EMAIL -o ORG",
		Short: "Invite someone to an organization by email",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.orgCall(cmd.Context(), true, func(ctx context.Context, c *hubclient.Client) error {
				if err := c.InviteToOrg(ctx, args[0]); err != nil {
					return err
				}
				// The link goes to the invitee only, so that no one is
				// made a member without consent.
				fmt.Fprintf(a.stdout, "Invited %s to %s: the invitation link was e-mailed to them (a hub with no SMTP server writes it to its log).\n", args[0], a.org)
				return nil
			})
		},
	}
}

func (a *app) orgsLeaveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "leave -o ORG",
		Short: "Leave an organization",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.orgCall(cmd.Context(), true, func(ctx context.Context, c *hubclient.Client) error {
				if err := c.LeaveOrg(ctx); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Left org %s.\n", a.org)
				return nil
			})
		},
	}
}

func (a *app) orgsDestroyCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "destroy -o ORG",
		Short: "Delete an organization and everything it owns",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.orgCall(cmd.Context(), true, func(ctx context.Context, c *hubclient.Client) error {
				if err := a.confirm(yes, fmt.Sprintf("Destroy org %s and everything it owns? This cannot be undone.", a.org)); err != nil {
					return err
				}
				if err := c.RemoveOrg(ctx); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Destroyed org %s.\n", a.org)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}
