package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	bucketsclient "github.com/selfhub/hub/client/buckets"
)

// itemJSON is a file or directory as hub buck ls --json prints it. The
// field names are a scripting interface; change them only by adding.
type itemJSON struct {
	Name  string `json:"name"`
	Path  string `json:"path"` // from the bucket's top
	Cid   string `json:"cid"`
	Size  int64  `json:"size"`
	IsDir bool   `json:"is_dir"`
	Items int    `json:"items,omitempty"` // a directory's entries
}

func (a *app) buckListCommand(f *buckFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls [PATH]",
		Aliases: []string{"list"},
		Short:   "List a directory of the bucket (its top by default)",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := optionalArg(args, 0)
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				it, _, err := s.c.ListPath(s.ctx, fd.cfg.Key, path)
				if err != nil {
					return err
				}
				items := it.Items
				if !it.IsDir {
					items = []bucketsclient.Item{it}
				}
				out := make([]itemJSON, 0, len(items))
				for _, sub := range items {
					rel := path // a file lists itself
					if it.IsDir {
						rel = strings.TrimPrefix(path+"/"+sub.Name, "/")
					}
					out = append(out, itemJSON{Name: sub.Name, Path: rel, Cid: sub.Cid, Size: sub.Size, IsDir: sub.IsDir, Items: sub.ItemsCount})
				}
				if asJSON {
					return writeJSON(a.stdout, out)
				}
				rows := make([][]string, 0, len(out))
				for _, o := range out {
					name := o.Name
					if o.IsDir {
						name += "/"
					}
					rows = append(rows, []string{name, strconv.FormatInt(o.Size, 10), o.Cid})
				}
				return writeTable(a.stdout, []string{"NAME", "SIZE", "CID"}, rows)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) buckCatCommand(f *buckFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "cat PATH",
		Short: "Write a file of the bucket to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				_, err := s.c.PullPath(s.ctx, fd.cfg.Key, args[0], a.stdout)
				return err
			})
		},
	}
}

func (a *app) buckLinksCommand(f *buckFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "links [PATH]",
		Short: "Print the addresses at which the bucket (or PATH in it) can be read",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := optionalArg(args, 0)
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				l, err := s.c.Links(s.ctx, fd.cfg.Key, path)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, map[string]string{"url": l.URL, "www": l.WWW, "ipns": l.IPNS})
				}
				rows := [][]string{{"url", l.URL}, {"ipns", l.IPNS}}
				if l.WWW != "" {
					rows = append(rows, []string{"www", l.WWW})
				}
				return writeTable(a.stdout, nil, rows)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) buckRootCommand(f *buckFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "root",
		Short: "Print the bucket's key, name, DB and current root",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				r, err := s.c.Root(s.ctx, fd.cfg.Key)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, bucketJSON{Key: r.Key, Name: r.Name, Thread: fd.cfg.Thread, Root: r.Path, Owner: string(r.Owner)})
				}
				fmt.Fprintf(a.stdout, "key     %s\nname    %s\nthread  %s\nroot    %s\nowner   %s\n", r.Key, r.Name, fd.cfg.Thread, r.Path, r.Owner)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
