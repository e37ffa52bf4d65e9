package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
)

// keysCommand is hub keys: API keys of the account, or of the org given
// with -o. It also answers to hub key, the spelling the original Hub's
// documentation uses ("hub key create").
func (a *app) keysCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Aliases: []string{"key"},
		Short:   "Manage API keys (of an org with -o)",
	}
	cmd.AddCommand(a.keysCreateCommand(), a.keysListCommand(), a.keysInvalidateCommand())
	return cmd
}

// parseKeyType reads --type.
func parseKeyType(s string) (hub.KeyType, error) {
	switch s {
	case "account":
		return hub.AccountKey, nil
	case "user":
		return hub.UserKey, nil
	}
	return 0, errors.Errorf(cliOp, errors.Invalid, "--type is %q; use account or user", s)
}

// keyTypeQuestion is the prompt of hub keys create on a terminal without
// --type: the two kinds of key, and what each is for.
const keyTypeQuestion = `Which kind of key?
  account  acts as you (or as the org given with -o): for your own tools, scripts and CI
  user     a user group key: your app's users, each with their own identity, use the hub through it
Select the key type (account or user): `

// askKeyType asks for the key type until the answer is one: account or
// user, or their numbers in the list, or "user group" as the original
// Hub called it.
func (a *app) askKeyType() (hub.KeyType, error) {
	for {
		ans, err := a.ask(keyTypeQuestion)
		if err != nil {
			return 0, err
		}
		switch strings.ToLower(ans) {
		case "account", "1":
			return hub.AccountKey, nil
		case "user", "user group", "2":
			return hub.UserKey, nil
		}
		fmt.Fprintf(a.stderr, "%q is not a key type; answer account or user.\n", ans)
	}
}

func (a *app) keysCreateCommand() *cobra.Command {
	var (
		typ    string
		secure bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an API key",
		Long: `Create an API key for your account, or for the org given with -o
(or HUB_ORG).

An account key acts as the account itself; a user key lets an app's users,
each with their own identity, use the hub on the account's behalf. Requests
with a secure key must be signed with its secret; insecure keys are for
development.

On a terminal, without --type, hub asks which kind of key to make; scripts
(stdin not a terminal) get --type's default, an account key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := parseKeyType(typ)
			if err != nil {
				return err
			}
			// Asked before dialing, so a person answers first and a
			// refused session is reported after.
			prompted := a.interactive()
			if prompted && !cmd.Flags().Changed("type") {
				if t, err = a.askKeyType(); err != nil {
					return err
				}
			}
			return a.sessionCall(cmd.Context(), true, func(ctx context.Context, c *hubclient.Client) error {
				k, err := c.CreateKey(ctx, t, secure)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, toKeyJSON(k))
				}
				if err := writeTable(a.stdout, []string{"KEY", "SECRET", "TYPE", "SECURE"},
					[][]string{{k.Key, k.Secret, k.Type.String(), yesNo(k.Secure)}}); err != nil {
					return err
				}
				if prompted {
					fmt.Fprintf(a.stderr, "Success! Created a new %s key and its secret; keep the secret out of public code.\n", k.Type)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&typ, "type", "account", "key type: account or user (asked on a terminal when not given)")
	cmd.Flags().BoolVar(&secure, "secure", true, "require requests to be signed with the secret")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) keysListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List API keys",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.sessionCall(cmd.Context(), true, func(ctx context.Context, c *hubclient.Client) error {
				keys, err := c.ListKeys(ctx)
				if err != nil {
					return err
				}
				return printKeys(a, keys, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printKeys prints keys as a table, or a JSON array of keyListJSON.
func printKeys(a *app, keys []hub.APIKey, asJSON bool) error {
	if asJSON {
		out := make([]keyListJSON, 0, len(keys))
		for _, k := range keys {
			out = append(out, keyListJSON{keyJSON: toKeyJSON(k), Valid: k.Valid})
		}
		return writeJSON(a.stdout, out)
	}
	if len(keys) == 0 {
		fmt.Fprintln(a.stderr, "No API keys; create one with hub keys create.")
		return nil
	}
	rows := make([][]string, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, []string{k.Key, k.Secret, k.Type.String(), yesNo(k.Secure), yesNo(k.Valid)})
	}
	return writeTable(a.stdout, []string{"KEY", "SECRET", "TYPE", "SECURE", "VALID"}, rows)
}

func (a *app) keysInvalidateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "invalidate KEY",
		Short: "Invalidate an API key; the hub refuses it from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.sessionCall(cmd.Context(), true, func(ctx context.Context, c *hubclient.Client) error {
				if err := c.InvalidateKey(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Invalidated key %s.\n", args[0])
				return nil
			})
		},
	}
}
