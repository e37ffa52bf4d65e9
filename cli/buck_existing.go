package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub/client"
)

func (a *app) buckExistingCommand(f *buckFlags) *cobra.Command {
	var (
		thread string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "existing",
		Short: "List the buckets a folder can be linked to (with hub buck init --existing)",
		Long: `List the buckets you can link a folder to: those in each of your DBs (or
the org's with -o, or the app user's with --key), or only in the DB
--thread. Link one with hub buck init --existing KEY --thread DB.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.buckCall(cmd.Context(), f, "", "", func(s *buckSession) error {
				dbs := []string{thread}
				if thread == "" {
					infos, err := s.threads.ListDBs(s.ctx)
					if err != nil {
						return err
					}
					dbs = dbs[:0]
					for _, d := range infos {
						dbs = append(dbs, d.ID.String())
					}
				}
				out := []bucketJSON{}
				for _, db := range dbs {
					roots, err := s.c.List(client.WithThread(s.ctx, db))
					if err != nil {
						return err
					}
					for _, r := range roots {
						out = append(out, bucketJSON{Key: r.Key, Name: r.Name, Thread: db, Root: r.Path, Owner: string(r.Owner)})
					}
				}
				sort.Slice(out, func(i, j int) bool {
					if out[i].Name != out[j].Name {
						return out[i].Name < out[j].Name
					}
					return out[i].Key < out[j].Key
				})
				if asJSON {
					return writeJSON(a.stdout, out)
				}
				if len(out) == 0 {
					fmt.Fprintln(a.stderr, "No buckets; make one with hub buck init --name NAME.")
					return nil
				}
				rows := make([][]string, 0, len(out))
				for _, b := range out {
					rows = append(rows, []string{b.Name, b.Key, b.Thread, b.Root})
				}
				return writeTable(a.stdout, []string{"NAME", "KEY", "THREAD", "PATH"}, rows)
			})
		},
	}
	cmd.Flags().StringVar(&thread, "thread", "", "list only the buckets in this DB")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
