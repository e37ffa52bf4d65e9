package cli

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// keyJSON is an API key as hub keys create --json prints it. The field
// names are a scripting interface; change them only by adding.
type keyJSON struct {
	Key    string `json:"key"`
	Secret string `json:"secret"`
	Type   string `json:"type"` // "account" or "user"
	Secure bool   `json:"secure"`
}

// keyListJSON is an API key as hub keys ls --json prints it.
type keyListJSON struct {
	keyJSON
	Valid bool `json:"valid"`
}

// memberJSON is an org member as hub orgs members --json prints it.
type memberJSON struct {
	Key      string `json:"key"`
	Username string `json:"username"`
	Role     string `json:"role"`
}

// orgJSON is an org as hub orgs ls --json prints it.
type orgJSON struct {
	Key       string       `json:"key"`
	Name      string       `json:"name"`
	Slug      string       `json:"slug"`
	Members   []memberJSON `json:"members"`
	CreatedAt string       `json:"created_at,omitempty"` // RFC 3339
}

func toKeyJSON(k hub.APIKey) keyJSON {
	return keyJSON{Key: k.Key, Secret: k.Secret, Type: k.Type.String(), Secure: k.Secure}
}

func toMembersJSON(ms []hub.Member) []memberJSON {
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberJSON{Key: string(m.Key), Username: m.Username, Role: string(m.Role)})
	}
	return out
}

func toOrgJSON(o hub.Account) orgJSON {
	j := orgJSON{Key: string(o.Key), Name: o.Name, Slug: o.Slug, Members: toMembersJSON(o.Members)}
	if !o.CreatedAt.IsZero() {
		j.CreatedAt = o.CreatedAt.UTC().Format(time.RFC3339)
	}
	return j
}

// writeJSON prints v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	const op errors.Op = "cli.writeJSON"
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeTable prints rows under a header (none if nil), in columns aligned
// for people.
func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	if header != nil {
		io.WriteString(tw, strings.Join(header, "\t")+"\n")
	}
	for _, r := range rows {
		io.WriteString(tw, strings.Join(r, "\t")+"\n")
	}
	return tw.Flush()
}

// date formats a creation time for a table; zero is "-".
func date(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02")
}

// yesNo formats a flag for a table.
func yesNo(b bool) string { return strconv.FormatBool(b) }
